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

from sanctum_mcp.domain.jobs.scheduler import Scheduler
from sanctum_mcp.domain.logs import DatabaseLogHandler
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller
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
    schema = without_text_index(schema)
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
    assert migrated["version"] == new["version"] == SCHEMA_VERSION == 6
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


@pytest.mark.parametrize("filters", [{}, {"level": "ERROR"}, {"source": "job", "before": ("2026-01-05T00:00:00.000Z", 100)}])
def test_a_rare_text_is_read_from_the_text_index(tmp_path, filters):
    """A text few rows hold is looked up in logs_fts and its rows fetched by id: no walk over logs."""
    with contextlib.closing(sqlite3.connect(tmp_path / "plan.db")) as conn:
        run_script(conn, schema_text())
        sql, params = log_sql.page_sql(**filters, text="zebra", text_index=True, limit=51)
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert plan[0].startswith("SCAN logs_fts VIRTUAL TABLE"), plan
    assert plan[1] == "SEARCH logs USING INTEGER PRIMARY KEY (rowid=?)", plan


async def test_audit_rows_in_logs_can_be_read_back(client):
    await call(client, "create_agent", {"name": "Athena"})
    page = await call(client, "query_logs", {"source": "agent", "text": "agent.create"})
    entry = page["entries"][0]
    assert entry["action"] == "agent.create" and entry["details"]["after"]["name"] == "Athena"
    assert entry["details"]["actor"] == "operator"



# --- text search: the logs_fts index (schema version 4) ---------------------------------------------


def fill_logs(path: Path, rows: int) -> None:
    """A registry database with `rows` log rows: one every minute, a message naming its number, every
    11th with ' needle' (9 %), and the three OLDEST with 'rare-marker'."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executemany(
            "INSERT INTO logs (level, source, source_id, action, message, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (("INFO", "job", str(i % 7), "job.run",
              f"job.run number {i}" + (" needle" if i % 11 == 0 else "") + (" rare-marker" if i < 3 else ""),
              iso_minute(i)) for i in range(rows)),
        )
        conn.commit()


def iso_minute(i: int) -> str:
    from datetime import timedelta

    return (utc(2025, 1, 1) + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def vm_steps(registry: Registry, **filters) -> tuple[int, list[str]]:
    """SQLite virtual-machine steps (in hundreds) one query_logs page costs, and its messages: a
    count of the rows SQL walks that does not depend on the machine's speed."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    await registry.db.read(lambda conn: conn.set_progress_handler(count, 100))
    try:
        page = await registry.logs.query(limit=20, **filters)
    finally:
        await registry.db.read(lambda conn: conn.set_progress_handler(None, 100))
    return steps[0], [e.message for e in page.entries]


async def test_text_search_reads_an_index_not_every_row(tmp_path):
    """query_logs(text=...) alone used to walk every row for a text that matches nothing (or only old
    rows): its cost grew with the table. At 20x the rows it may cost at most twice as much."""
    registries = {}
    try:
        for label, rows in (("small", 1_000), ("large", 20_000)):
            path = tmp_path / f"{label}.db"
            registries[label] = await Registry.open(path)
            fill_logs(path, rows)
        for text, expected in (("absent-word", []),
                               ("RARE-marker", [f"job.run number {i} rare-marker" for i in (2, 1)] +
                                ["job.run number 0 needle rare-marker"]),
                               ("needle", None)):
            small, small_found = await vm_steps(registries["small"], text=text)
            large, large_found = await vm_steps(registries["large"], text=text)
            if expected is not None:
                assert small_found == large_found == expected, text
            else:
                assert len(large_found) == 20 and all("needle" in m for m in large_found)
            assert large <= 2 * small + 10, (text, small, large)
    finally:
        for registry in registries.values():
            await registry.close()


def like_matches(text: str, value: str | None) -> bool:
    """What `value LIKE '%text%'` answers in SQLite: a substring, ignoring the case of ASCII letters only."""
    def fold(s: str) -> str:
        return "".join(c.lower() if "A" <= c <= "Z" else c for c in s)

    return value is not None and fold(text) in fold(value)


TEXTS = ["port", "PORT", "ett", "Letta port", "100%", "%", "_", "d_sk", "disk_f", "_full", '"hi"', 'said "',
         "école", "ÉCOLE", "Éco", "naïve", "NAÏVE", "a", "ab", "t p", "config.set", "FIG.S", "log.event", "needle",
         "number 1", "needle needle", "e n", "été", "ÉTÉ", "été only", "''", "*", "NEAR", "AND", "ne*", "-", "(", "🙂x", "x🙂"]


async def test_text_search_keeps_the_like_semantics(registry, db_path):
    """Whichever way a text is found (from logs_fts, or walking rows: storage/logs.py), query_logs finds
    exactly what LIKE '%text%' on the message or the action found: substrings, ASCII case ignored, no
    wildcards, no query syntax."""
    messages = ["Changed the Letta port", "job 'a' failed: 100% broken", "job 'b' failed: disk_full",
                'he said "hi"', "ÉCOLE école", "naïve NAÏVE", "AND OR NEAR ne* (x) -y", "smile 🙂x", "it's ''quoted''",
                "ÉTÉ only"]
    rows = [("INFO", "agent", None, "log.event" if i % 2 else "config.set", m, stamp(i)) for i, m in enumerate(messages)]
    # Old and common ('needle': more than TEXT_HITS rows; 'number 1': 1,111 rows), then newer rows.
    rows += [("INFO", "job", None, "job.run", f"job.run number {i} needle", stamp(20 + i // 60))
             for i in range(log_sql.TEXT_HITS + 50)]
    rows += [("WARNING", "server", None, "server.log", f"fresh entry {i}", stamp(200 + i)) for i in range(150)]
    insert_logs(db_path, rows)
    everything = log_rows(db_path)

    async def pages(text: str, limit: int, every: bool) -> list[int]:
        found, cursor = [], None
        while True:
            page = await registry.logs.query(text=text, limit=limit, cursor=cursor)
            found += [e.id for e in page.entries]
            cursor = page.next_cursor
            if not cursor or not every:
                return found

    ways = set()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        for text in TEXTS + ["fresh", "number 1"]:
            expected = [r["id"] for r in sorted(
                (r for r in everything if like_matches(text, r["message"]) or like_matches(text, r["action"])),
                key=lambda r: (r["created_at"], r["id"]), reverse=True)]
            assert await pages(text, 500, every=True) == expected, text
            assert await pages(text, 5, every=False) == expected[:5], text
            ways.add(log_sql.page_and_way(conn, text=text, limit=6)[1])
    assert {"1: logs_fts", "2: newest rows", "3: logs_fts", "4: walk on", "4: walk on (short text or NUL)"} <= ways, ways


def fts_count(db_path: Path, text: str) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("INSERT INTO logs_fts(logs_fts) VALUES ('integrity-check')")  # raises when out of step
        return conn.execute("SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?", (f'"{text}"',)).fetchone()[0]


async def test_text_index_follows_inserts_retention_and_user_deletion(db_path):
    clock = FakeClock(utc(2026, 6, 1, 12))
    registry = await Registry.open(db_path, clock=clock)
    try:
        insert_logs(db_path, [("INFO", "system", None, "x", "old zebra", "2026-04-01T00:00:00.000Z"),
                              ("INFO", "system", None, "x", "recent zebra", "2026-05-20T00:00:00.000Z")])
        ann = await registry.users.create(registry.operator, username="ann", role="user", email=None, permissions=None)
        ann_caller = Caller("ann", "user", ann.id)
        await registry.logs.log_event(ann_caller, level="INFO", message="a zebra note", details=None)
        assert fts_count(db_path, "zebra") == 3
        await Scheduler(registry).tick()  # retention: 30 days
        assert fts_count(db_path, "zebra") == 2
        assert [e.message for e in (await registry.logs.query(text="zebra")).entries] == ["a zebra note", "recent zebra"]
        with contextlib.closing(sqlite3.connect(db_path)) as conn:  # ON DELETE SET NULL updates ann's log rows
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM users WHERE username = 'ann'")
            conn.commit()
            assert conn.execute("SELECT user_id FROM logs WHERE message = 'a zebra note'").fetchone() == (None,)
        assert fts_count(db_path, "zebra") == 2
        assert [e.message for e in (await registry.logs.query(text="zebra")).entries] == ["a zebra note", "recent zebra"]
    finally:
        await registry.close()


def without_text_index(schema: str) -> str:
    """schema.sql without what schema version 4 added (the logs_fts table and its triggers)."""
    start, end = schema.index("-- [v4] logs_fts"), schema.index("-- [/v4]")
    return schema[:start] + schema[end + len("-- [/v4]"):]


async def test_migration_to_version_4_indexes_existing_log_rows(tmp_path):
    path = tmp_path / "v3.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        run_script(conn, without_text_index(schema_text()))
        run_script(conn, seeds_text())
        conn.execute("PRAGMA user_version = 3")
        conn.executemany("INSERT INTO logs (level, source, action, message, created_at) VALUES (?, ?, ?, ?, ?)",
                         [("INFO", "system", "x", f"before the upgrade {i}", stamp(i)) for i in range(5)])
    registry = await Registry.open(path)
    try:
        found = await registry.logs.query(text="UPGRADE 3")
        assert [e.message for e in found.entries] == ["before the upgrade 3"]
    finally:
        await registry.close()
    assert fts_count(path, "before the upgrade") == 5


async def test_text_holding_nul_is_searched_as_like_searched_it(registry, db_path):
    """SQLite's LIKE and FTS5's query parser both stop at NUL: a text holding one is answered as the
    LIKE answered it (not with an FTS5 syntax error)."""
    await registry.logs.log_event(registry.operator, level="INFO", message="ab\x00cd hello", details=None)
    for text in ("ab\x00cd", "b\x00c", "\x00", "hello\x00"):
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            expected = [r[0] for r in conn.execute(
                "SELECT id FROM logs WHERE message LIKE ? ESCAPE '\\' OR action LIKE ? ESCAPE '\\' "
                "ORDER BY created_at DESC, id DESC", (pattern, pattern))]
        assert [e.id for e in (await registry.logs.query(text=text)).entries] == expected, repr(text)
