"""The log and audit trail: query_logs, log_event, the Python logging handler, retention, and the
schema-version-2 migration that brought the retention settings."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path

import anyio
import pytest
from ops_support import FakeClock, log_rows, utc
from support import call, call_error, snapshot

from sanctum_mcp.domain.logs import DatabaseLogHandler
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.scheduler import Scheduler
from sanctum_mcp.storage import logs as log_sql
from sanctum_mcp.storage.migrations import SCHEMA_VERSION, run_script, schema_text, seeds_text


def insert_logs(db_path: Path, rows: list[tuple]) -> None:
    """Rows of (level, source, source_id, action, message, created_at)."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.executemany(
            "INSERT INTO logs (level, source, source_id, action, message, created_at) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        conn.commit()


def stamp(i: int) -> str:
    return f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00.000Z"


async def test_query_logs_newest_first_to_the_end(client, db_path):
    insert_logs(db_path, [("INFO", "system", None, "x.y", f"row {i}", stamp(i)) for i in range(23)])
    insert_logs(db_path, [("INFO", "system", None, "x.y", "same instant", stamp(30)) for _ in range(3)])
    seen, cursor, pages = [], None, 0
    while True:
        page = await call(client, "query_logs", {"limit": 5} | ({"cursor": cursor} if cursor else {}))
        seen += [(e["created_at"], e["id"]) for e in page["entries"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert pages == 6 and len(seen) == 26 and len(set(seen)) == 26
    assert seen == sorted(seen, reverse=True)  # newest first, ties broken by id


async def test_query_logs_filters(client, db_path):
    insert_logs(db_path, [
        ("INFO", "job", "7", "job.due", "job 'a' is due", "2026-01-01T10:00:00.000Z"),
        ("ERROR", "job", "7", "job.failed", "job 'a' failed: 100% broken", "2026-01-01T11:00:00.000Z"),
        ("ERROR", "job", "8", "job.failed", "job 'b' failed: disk_full", "2026-01-01T12:00:00.000Z"),
        ("WARNING", "server", "uvicorn", "server.log", "slow request", "2026-01-02T10:00:00.000Z"),
        ("INFO", "agent", "Athena", "log.event", "Changed the Letta port", "2026-01-03T10:00:00.000Z"),
    ])

    async def messages(**filters) -> list[str]:
        return [e["message"] for e in (await call(client, "query_logs", filters))["entries"]]

    assert await messages(level="ERROR") == ["job 'b' failed: disk_full", "job 'a' failed: 100% broken"]
    assert await messages(source="job", source_id="7") == ["job 'a' failed: 100% broken", "job 'a' is due"]
    assert await messages(source="server") == ["slow request"]
    assert await messages(since="2026-01-01T11:00:00Z", until="2026-01-02T10:00:00Z") == [
        "job 'b' failed: disk_full", "job 'a' failed: 100% broken"]
    assert await messages(since="2026-01-01T12:00:00+01:00", until="2026-01-01T12:00:00+00:00") == [
        "job 'a' failed: 100% broken"]  # offsets are honoured: 11:00Z <= t < 12:00Z
    assert await messages(text="LETTA") == ["Changed the Letta port"]
    assert await messages(text="100%") == ["job 'a' failed: 100% broken"]  # % is literal, not a wildcard
    assert await messages(text="d_sk") == []  # _ is literal too (as a wildcard it would match "disk")
    assert await messages(text="disk_f") == ["job 'b' failed: disk_full"]
    assert await messages(text="log.event") == ["Changed the Letta port"]  # action matches too
    assert await messages(source="job", level="INFO", text="due") == ["job 'a' is due"]


async def test_query_logs_refuses_bad_input(client, db_path):
    before = snapshot(db_path)
    assert "no time zone" in await call_error(client, "query_logs", {"since": "2026-01-01T00:00:00"})
    assert "not an ISO-8601" in await call_error(client, "query_logs", {"until": "yesterday"})
    assert "earlier than" in await call_error(client, "query_logs", {"since": "2026-01-02T00:00:00Z",
                                                                     "until": "2026-01-01T00:00:00Z"})
    assert "without a cursor" in await call_error(client, "query_logs", {"cursor": "bogus"})
    assert "level" in await call_error(client, "query_logs", {"level": "LOUD"})
    assert snapshot(db_path) == before


async def test_log_event_leaves_a_note(client, db_path):
    entry = await call(client, "log_event", {"level": "WARNING", "message": "Timbre looks stuck",
                                             "details": {"agent": "Timbre", "minutes": 12}})
    assert entry["source"] == "agent" and entry["source_id"] == "operator" and entry["action"] == "log.event"
    assert entry["level"] == "WARNING" and entry["details"]["note"] == {"agent": "Timbre", "minutes": 12}
    page = await call(client, "query_logs", {"source": "agent"})
    assert page["entries"] == [entry]
    assert "blank" in await call_error(client, "log_event", {"message": "   "})
    assert "limit" in await call_error(client, "log_event", {"message": "x", "details": {"blob": "y" * 20_000}})


async def test_python_logging_goes_to_the_table_without_deadlock(registry, db_path):
    handler = DatabaseLogHandler()
    logger = logging.getLogger("sanctum_mcp.test.dblog")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(handler.run, registry)
            await anyio.sleep(0)
            logger.info("not copied: below WARNING")
            logger.warning("from the event loop")

            def inside_a_transaction(conn: sqlite3.Connection) -> None:
                # On the database thread, in the middle of a write transaction that then fails:
                # the record must be queued, not written here (and not rolled back with it).
                conn.execute("INSERT INTO agents (name) VALUES ('Ghost')")
                try:
                    raise ValueError("boom")
                except ValueError:
                    logger.exception("from inside a transaction")
                raise RuntimeError("roll back")

            with pytest.raises(RuntimeError):
                await registry.db.write(inside_a_transaction)
            with anyio.fail_after(10):
                while len(log_rows(db_path, "source = 'server'")) < 2:
                    await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
    finally:
        logger.removeHandler(handler)
    rows = log_rows(db_path, "source = 'server'")
    assert [(r["level"], r["message"]) for r in rows] == [
        ("WARNING", "from the event loop"), ("ERROR", "from inside a transaction")]
    assert rows[1]["source_id"] == "sanctum_mcp.test.dblog" and rows[1]["action"] == "server.log"
    details = json.loads(rows[1]["details"])
    assert details["exception"] == "ValueError" and "Traceback" not in rows[1]["details"] and "boom" not in rows[1]["details"]
    assert await registry.db.read(lambda c: c.execute("SELECT COUNT(*) FROM agents").fetchone()[0]) == 0


async def test_retention_is_applied_by_the_scheduler(db_path):
    clock = FakeClock(utc(2026, 6, 1, 12))
    registry = await Registry.open(db_path, clock=clock)
    try:
        insert_logs(db_path, [
            ("INFO", "system", None, "x", "old", "2026-04-01T00:00:00.000Z"),
            ("INFO", "system", None, "x", "recent", "2026-05-20T00:00:00.000Z"),
        ])
        await Scheduler(registry).tick()
        messages = [r["message"] for r in log_rows(db_path)]
        assert "old" not in messages and "recent" in messages
        purge = log_rows(db_path, "action = 'logs.purge'")
        assert len(purge) == 1 and "removed 1 row(s)" in purge[0]["message"]
        # 0 keeps everything.
        await registry.db.write(lambda c: c.execute(
            "UPDATE system_config SET config_value = '0' WHERE config_key = 'log_retention_days'"))
        insert_logs(db_path, [("INFO", "system", None, "x", "ancient", "2020-01-01T00:00:00.000Z")])
        clock.advance(hours=2)
        await Scheduler(registry).tick()
        assert "ancient" in [r["message"] for r in log_rows(db_path)]
    finally:
        await registry.close()


def version_1_scripts() -> tuple[str, str]:
    """schema.sql and seeds.sql as schema version 1 had them (today's, minus what version 2 added)."""
    schema = schema_text()
    for added in ("CREATE INDEX IF NOT EXISTS idx_logs_source_created_at ON logs(source, created_at);",
                  "CREATE INDEX IF NOT EXISTS idx_configurations_key ON configurations(key);",
                  "CREATE INDEX IF NOT EXISTS idx_logs_unattributed ON logs(created_at) WHERE user_id IS NULL;"):
        assert added in schema
        schema = schema.replace(added, "")
    seeds = seeds_text().split("-- [v2]")[0]
    history = seeds.index("INSERT INTO config_history")
    seeds = seeds[:history] + seeds[seeds.index("-- The default Letta connection"):]
    seeds = seeds.replace("""'{"type":"string","format":"uri"}'""", "NULL")
    return schema, seeds


async def test_migration_from_a_version_1_database(tmp_path):
    """A database made by schema version 1 ends up like a new one, and keeps its data."""
    path = tmp_path / "old.db"
    v1_schema, v1_seeds = version_1_scripts()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        run_script(conn, v1_schema)
        run_script(conn, v1_seeds)
        conn.execute("INSERT INTO agents (name) VALUES ('Athena')")
        conn.execute("PRAGMA user_version = 1")
        assert conn.execute("SELECT COUNT(*) FROM system_config WHERE config_key = 'log_retention_days'").fetchone()[0] == 0
    registry = await Registry.open(path)
    await registry.close()
    fresh = tmp_path / "fresh.db"
    registry = await Registry.open(fresh)
    await registry.close()

    def state(p: Path) -> dict:
        with contextlib.closing(sqlite3.connect(p)) as conn:
            return {
                "version": conn.execute("PRAGMA user_version").fetchone()[0],
                "schema": sorted(conn.execute(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")),
                "settings": sorted(conn.execute(
                    "SELECT config_key, config_value, config_type, is_sensitive, category, constraint_json, "
                    "default_value, version FROM system_config")),
                "history": sorted(conn.execute(
                    "SELECT scope, target, key, version, value, changed_by, change FROM config_history")),
            }

    migrated, new = state(path), state(fresh)
    assert migrated["version"] == new["version"] == SCHEMA_VERSION == 3
    assert migrated["schema"] == new["schema"]
    assert migrated["settings"] == new["settings"]
    assert migrated["history"] == new["history"]
    settings = {row[0]: row[1] for row in migrated["settings"]}
    assert (settings["log_retention_days"], settings["backup_schedule"], settings["backup_retention_days"]) == (
        "30", "0 3 * * *", "14")
    assert ("system", "", "backup_schedule", 1, "0 3 * * *", "seed", "set") in migrated["history"]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT name FROM agents").fetchall() == [("Athena",)]


@pytest.mark.parametrize(
    "filters",
    [
        {"level": "ERROR"},
        {"source": "job"},
        {"source": "job", "source_id": "7"},
        {"since": "2026-01-01T00:00:00.000Z", "until": "2026-02-01T00:00:00.000Z"},
        {"level": "WARNING", "since": "2026-01-01T00:00:00.000Z"},
        {"source": "job", "before": ("2026-01-05T00:00:00.000Z", 100)},
        {},
    ],
)
def test_every_filter_shape_reads_an_index_in_order(tmp_path, filters):
    """No filter shape may sort the matching rows (a TEMP B-TREE): each one walks an index in order."""
    path = tmp_path / "plan.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        run_script(conn, schema_text())
        sql, params = log_sql.page_sql(**filters, limit=51)
        plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan


async def test_audit_rows_in_logs_can_be_read_back(client):
    await call(client, "create_agent", {"name": "Athena"})
    page = await call(client, "query_logs", {"source": "agent", "text": "agent.create"})
    entry = page["entries"][0]
    assert entry["action"] == "agent.create" and entry["details"]["after"]["name"] == "Athena"
    assert entry["details"]["actor"] == "operator"

