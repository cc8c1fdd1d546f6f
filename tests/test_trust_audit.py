"""Issue 12, point 12: a plain user must not be able to erase the audit trail or fill the disk.

- The settings that govern the audit trail, log retention and automatic backups need the admin role,
  at every scope and for every way of changing a setting (set, delete, reset, rollback).
- Audit rows (what users did: rows that name a user) are kept at least AUDIT_FLOOR_DAYS whatever
  log_retention_days says; ordinary rows (the server's own log records, job runs) follow the setting.
- Backups have a quota (backup_max_count, backup_max_bytes): a backup past it is refused with a
  message saying what to do, and automatic backups skip (and say so in the log) instead.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mcp import Client
from ops_support import FakeClock, log_rows, utc
from support import call, call_confirmed, call_error, snapshot, stdio_params

from sanctum_mcp.domain.jobs.scheduler import Scheduler
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.clock import iso
from sanctum_mcp.server.app import build_server
from sanctum_mcp.storage.logs import PURGE_UNATTRIBUTED

GOVERNING = {
    "log_retention_days": "1",
    "backup_schedule": "* * * * *",
    "backup_retention_days": "1",
    "backup_max_count": "100000",
    "backup_max_bytes": "0",
}


def objects(db_path: Path) -> list[str]:
    """The database minus log rows and login bookkeeping."""
    return [line for line in snapshot(db_path) if not any(t in line for t in ('"logs"', "'logs'", '"users"'))]


def denied(db_path: Path) -> list[str]:
    return [r["source_id"] for r in log_rows(db_path, "action = 'access.denied'")]


async def test_settings_governing_audit_and_backups_need_admin(db_path):
    """The reported attack: `set_config log_retention_days 1` as role user, here over a real stdio
    server acting as that user; and every other way to change those settings, at every scope."""
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        await registry.users.create(op, username="ursula", role="user", email=None, permissions=None)
        await registry.agents.create(op, {"name": "Athena", "config": {}})
        # Versions to roll back to and an agent-scope override to delete, made by the admin.
        await registry.config.set(op, "log_retention_days", "60", scope="system")
        await registry.config.set(op, "backup_schedule", "0 4 * * *", scope="agent", target="Athena")
    finally:
        await registry.close()

    refused: list[tuple[str, dict]] = []
    for key, value in GOVERNING.items():
        refused.append(("set_config", {"key": key, "value": value, "scope": "system"}))
    refused += [
        ("set_config", {"key": "log_retention_days", "value": "1", "scope": "agent", "target": "Athena"}),
        ("delete_config", {"key": "backup_schedule", "scope": "agent", "target": "Athena"}),
        ("reset_config", {"key": "log_retention_days"}),
        ("rollback_config", {"key": "log_retention_days", "scope": "system", "version": 1}),
    ]
    before = objects(db_path)
    async with Client(stdio_params(db_path, "--user", "ursula")) as client:
        for tool_name, args in refused:
            error = await call_error(client, tool_name, args)
            assert "needs the 'admin' role" in error and "'ursula' has 'user'" in error, (tool_name, args, error)
        assert objects(db_path) == before
        assert denied(db_path) == [name for name, _ in refused]
        # Other settings stay the user's to change.
        await call(client, "set_config", {"key": "smcp_port", "value": "9100", "scope": "system"})

    async with Client(stdio_params(db_path)) as admin:  # the oldest admin, the operator
        change = await call(admin, "set_config", {"key": "log_retention_days", "value": "1", "scope": "system"})
        assert change["change"] == "set"
        quota = await call(admin, "get_config", {"key": "backup_max_count"})
        assert quota["type"] == "integer" and quota["scope"] == "system"


async def test_audit_rows_outlive_any_retention_setting(db_path):
    """With log_retention_days = 1, the next scheduler pass used to delete every audit row older than
    a day. Audit rows (naming a user) now stay AUDIT_FLOOR_DAYS; ordinary rows follow the setting."""
    from sanctum_mcp.domain.logs import AUDIT_FLOOR_DAYS

    now = datetime.now(UTC)
    clock = FakeClock(now + timedelta(days=3))  # the pass runs three days after the changes below
    registry = await Registry.open(db_path, clock=clock)
    try:
        async with Client(build_server(registry)) as client:
            await call(client, "create_agent", {"name": "Athena"})
            await call(client, "log_event", {"message": "a note"})
            await call(client, "set_config", {"key": "log_retention_days", "value": "1", "scope": "system"})
        operator_id = registry.operator.user_id
        old, ancient = iso(now - timedelta(days=2)), iso(now - timedelta(days=AUDIT_FLOOR_DAYS + 5))
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            conn.executemany(
                "INSERT INTO logs (level, source, source_id, user_id, action, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [("WARNING", "server", "sanctum_mcp.x", None, "server.log", "ordinary server record", old),
                 ("INFO", "job", "1", None, "job.due", "ordinary job run", old),
                 ("INFO", "agent", "1", operator_id, "agent.update", "ancient audit row", ancient)],
            )
            conn.commit()
        audit_before = [r["id"] for r in log_rows(db_path, "user_id IS NOT NULL AND message <> 'ancient audit row'")]
        assert len(audit_before) == 3

        await Scheduler(registry).tick()

        kept = {r["message"] for r in log_rows(db_path)}
        assert [r["id"] for r in log_rows(db_path, "user_id IS NOT NULL")] == audit_before
        assert "ordinary server record" not in kept and "ordinary job run" not in kept
        assert "ancient audit row" not in kept  # past the floor too
        purge = log_rows(db_path, "action = 'logs.purge'")
        assert len(purge) == 1 and "removed 3 row(s)" in purge[0]["message"]
        assert f"{AUDIT_FLOOR_DAYS} days" in purge[0]["message"]
    finally:
        await registry.close()


async def quota(registry: Registry, **settings: str) -> None:
    for key, value in settings.items():
        await registry.config.set(registry.operator, key, value, scope="system")


def backup_files(db_path: Path) -> list[str]:
    folder = db_path.parent / "backups"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_backup_quota_refuses_new_backups_when_reached(registry, db_path):
    await quota(registry, backup_max_count="2")
    await registry.users.create(registry.operator, username="ursula", role="user", email=None, permissions=None)
    ursula = await registry.users.local_caller("ursula", default_name="operator")
    async with Client(build_server(registry, identify=lambda _ctx: ursula)) as client:
        await call(client, "create_backup", {"type": "config_only"})
        await call(client, "create_backup", {"type": "full"})
        before, files = objects(db_path), backup_files(db_path)
        error = await call_error(client, "create_backup", {"type": "config_only"})
        assert "backup quota reached" in error and "2 backups" in error, error
        assert "delete_backup" in error and "backup_max_count" in error and "Nothing was created" in error
        assert objects(db_path) == before and backup_files(db_path) == files

    # The byte quota: what the completed backups hold, against backup_max_bytes.
    await quota(registry, backup_max_count="0", backup_max_bytes="1000")
    before = objects(db_path)
    async with Client(build_server(registry, identify=lambda _ctx: ursula)) as client:
        error = await call_error(client, "create_backup", {"type": "config_only"})
        assert "backup quota reached" in error and "backup_max_bytes" in error, error
        assert objects(db_path) == before and backup_files(db_path) == files
    # 0 turns a limit off.
    await quota(registry, backup_max_bytes="0")
    async with Client(build_server(registry, identify=lambda _ctx: ursula)) as client:
        await call(client, "create_backup", {"type": "config_only"})


async def test_automatic_backups_respect_the_quota_and_say_so(db_path):
    clock = FakeClock(utc(2026, 5, 1, 1, 0))
    registry = await Registry.open(db_path, clock=clock)
    try:
        await quota(registry, backup_max_count="1")
        await registry.backups.create(registry.operator, type="config_only", name="manual")
        scheduler = Scheduler(registry)
        await scheduler.tick()
        clock.set(utc(2026, 5, 1, 3, 0, 30))  # the 03:00 automatic backup is due
        await scheduler.tick()
        await scheduler.tick()
        assert [b.name for b in (await registry.backups.list()).backups] == ["manual"]
        skipped = log_rows(db_path, "action = 'backup.skipped'")
        assert len(skipped) == 1 and skipped[0]["level"] == "WARNING", [dict(r) for r in skipped]
        assert "auto-20260501T0300Z" in skipped[0]["message"] and "backup_max_count" in skipped[0]["message"]
        # Room again (the admin raised the quota): the next occurrence is taken.
        await quota(registry, backup_max_count="5")
        clock.set(utc(2026, 5, 2, 3, 0, 30))
        await scheduler.tick()
        assert [b.name for b in (await registry.backups.list()).backups] == ["auto-20260502T0300Z", "manual"]
    finally:
        await registry.close()


async def test_the_safety_copy_of_a_restore_is_never_refused(registry, db_path):
    """Restoring is how an admin recovers: the quota must not stand in its way."""
    await quota(registry, backup_max_count="1")
    taken = await registry.backups.create(registry.operator, type="full", name="only")
    async with Client(build_server(registry)) as admin:
        result = await call_confirmed(admin, "restore_backup", {"backup_id": taken.id})
    assert result["safety_backup"]["status"] == "Completed"


async def test_a_version_2_database_gains_the_floor_index_and_the_quota(tmp_path):
    """Schema version 3 (this point's migration): a version-2 database ends up like a new one."""
    from sanctum_mcp.storage.migrations import (
        NEW_LOG_RETENTION_TEXT,
        OLD_LOG_RETENTION_TEXT,
        SCHEMA_VERSION,
        run_script,
        schema_text,
        seeds_text,
    )

    index = "CREATE INDEX IF NOT EXISTS idx_logs_unattributed ON logs(created_at) WHERE user_id IS NULL;"
    assert index in schema_text() and NEW_LOG_RETENTION_TEXT in seeds_text()
    v2_schema = schema_text().replace(index, "")
    v2_schema = v2_schema[:v2_schema.index("-- [v4]")] + v2_schema[v2_schema.index("-- [/v4]") + len("-- [/v4]"):]
    v2_seeds = seeds_text().split("-- [v3]")[0].replace(NEW_LOG_RETENTION_TEXT, OLD_LOG_RETENTION_TEXT)
    old, fresh = tmp_path / "v2.db", tmp_path / "fresh.db"
    with contextlib.closing(sqlite3.connect(old, isolation_level=None)) as conn:
        run_script(conn, v2_schema)
        run_script(conn, v2_seeds)
        conn.execute("INSERT INTO logs (message, created_at) VALUES ('kept', '2026-01-01T00:00:00.000Z')")
        conn.execute("PRAGMA user_version = 2")
    for path in (old, fresh):
        await (await Registry.open(path)).close()

    def state(path: Path) -> tuple:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return (conn.execute("PRAGMA user_version").fetchone()[0],
                    sorted(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")),
                    sorted(conn.execute("SELECT config_key, config_value, config_type, description, constraint_json, "
                                        "default_value, version FROM system_config")),
                    sorted(conn.execute("SELECT scope, target, key, version, value, changed_by FROM config_history")))

    assert state(old) == state(fresh)
    assert state(old)[0] == SCHEMA_VERSION == 6
    assert [r["message"] for r in log_rows(old)] == ["kept"]
    with contextlib.closing(sqlite3.connect(old)) as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN " + PURGE_UNATTRIBUTED, ("2026-01-01",)).fetchall()
    assert "idx_logs_unattributed" in str(plan)
