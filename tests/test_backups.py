"""Backups and restore: the three kinds, checksums, progress, restore under a connected client,
refusals, scheduler housekeeping (expiry, automatic backups) and the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from ops_support import FakeClock, log_rows, utc
from support import REPO, call, call_confirmed, call_error, confirmation, server_env, snapshot

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
from sanctum_mcp.domain.jobs.scheduler import Scheduler
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.errors import Forbidden
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.server.app import build_server

# logs_fts and its shadow tables are the text index of logs: they follow the rows of logs.
LOGS_FTS = ("logs_fts", "logs_fts_data", "logs_fts_idx", "logs_fts_docsize", "logs_fts_config")
# changes: the change feed goes on across a restore (its numbering never goes backwards), as logs do.
KEPT_ACROSS_RESTORE = ("logs", *LOGS_FTS, "backups", "users", "api_tokens", "sqlite_sequence", "changes")


def content(db_path: Path, *, skip: tuple[str, ...] = KEPT_ACROSS_RESTORE) -> dict[str, list[tuple]]:
    """Every row of every table except those restore deliberately carries over."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables if t not in skip}


def flip_a_byte(path: Path, offset: int = 5000) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


async def names(client: Client) -> list[str]:
    return [a["name"] for a in (await call(client, "list_agents"))["agents"]]


async def test_full_backup_records_checksum_and_size(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    backup = await call(client, "create_backup", {"description": "before the change"})
    assert backup["type"] == "full" and backup["status"] == "Completed" and backup["is_auto"] is False
    path = Path(backup["file_path"])
    assert path.parent == db_path.parent / "backups" and path.is_file()
    assert backup["size_bytes"] == path.stat().st_size
    import hashlib

    assert backup["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert "encrypted" in backup["note"]
    with contextlib.closing(sqlite3.connect(path)) as copy:  # a self-contained, valid SQLite file
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT name FROM agents").fetchall() == [("Athena",)]
    verification = await call(client, "verify_backup", {"backup_id": backup["id"]})
    assert verification["ok"] is True and verification["actual_checksum"] == backup["checksum"]
    listed = await call(client, "list_backups")
    assert [b["id"] for b in listed["backups"]] == [backup["id"]]


async def test_backup_round_trip_restores_equal_content(client, db_path):
    await call(client, "create_agent", {"name": "Athena", "config": {"model": "gpt"}})
    await call(client, "create_agent", {"name": "Monday"})
    await call(client, "create_job", {"name": "nightly", "cron_expression": "0 3 * * *", "agent": "Monday"})
    at_backup = content(db_path)
    backup = await call(client, "create_backup", {"name": "before-changes"})
    await call(client, "delete_job", {"job": "nightly"})
    await call(client, "delete_agent", {"agent": "Monday"})
    await call(client, "update_agent", {"agent": "Athena", "description": "changed"})
    await call(client, "create_agent", {"name": "Timbre"})
    assert content(db_path) != at_backup
    result = await call_confirmed(client, "restore_backup", {"backup_id": backup["id"]})
    assert content(db_path) == at_backup
    assert result["restored"]["id"] == backup["id"]
    # The safety backup holds the state just before the restore, and is listed.
    safety = result["safety_backup"]
    with contextlib.closing(sqlite3.connect(safety["file_path"])) as copy:
        assert sorted(r[0] for r in copy.execute("SELECT name FROM agents")) == ["Athena", "Timbre"]
    listed = [b["name"] for b in (await call(client, "list_backups"))["backups"]]
    assert set(listed) == {"before-changes", safety["name"]}
    # The audit trail is not rolled back: the changes after the backup are still in the log.
    actions = [e["action"] for e in (await call(client, "query_logs", {"limit": 500}))["entries"]]
    assert actions[0] == "backup.restore"
    assert {"job.delete", "agent.delete", "agent.update"} <= set(actions)
    assert result["kept_log_rows"] >= 5


async def test_restore_while_clients_are_connected(registry, db_path):
    server = build_server(registry)
    async with Client(server) as modern, Client(server, mode="legacy") as legacy:
        await call(modern, "create_agent", {"name": "Athena"})
        backup = await call(modern, "create_backup", {})
        await call(legacy, "create_agent", {"name": "Monday"})
        assert await names(modern) == await names(legacy) == ["Athena", "Monday"]
        await call_confirmed(modern, "restore_backup", {"backup_id": backup["id"]})
        # The same sessions go on working, and see the restored data.
        assert await names(modern) == await names(legacy) == ["Athena"]
        await call(legacy, "create_agent", {"name": "Timbre"})
        assert await names(modern) == ["Athena", "Timbre"]
    # Another connection to the file (another process) sees it too.
    with contextlib.closing(sqlite3.connect(db_path)) as other:
        assert [r[0] for r in other.execute("SELECT name FROM agents ORDER BY name")] == ["Athena", "Timbre"]
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_restore_never_rolls_back_access_control(client, registry):
    op = registry.operator
    revoked_later = await registry.users.create_token(op, op.username, "revoked after the backup")
    backup = await call(client, "create_backup", {})
    await registry.users.revoke_token(op, revoked_later.token_id)
    made_later = await registry.users.create_token(op, op.username, "made after the backup")
    await call(client, "create_user", {"username": "newcomer", "role": "viewer"})
    await call_confirmed(client, "restore_backup", {"backup_id": backup["id"]})
    assert await registry.users.authenticate(revoked_later.token) is None  # still revoked
    assert await registry.users.authenticate(made_later.token) is not None  # still valid
    assert "newcomer" in [u["username"] for u in (await call(client, "list_users"))["users"]]


async def test_a_corrupted_backup_is_refused(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    backup = await call(client, "create_backup", {})
    await call(client, "create_agent", {"name": "Monday"})
    flip_a_byte(Path(backup["file_path"]))
    verification = await call(client, "verify_backup", {"backup_id": backup["id"]})
    assert verification["ok"] is False and "checksum" in verification["problem"]
    before = snapshot(db_path)
    token = await confirmation(client, "restore_backup", {"backup_id": backup["id"]})
    error = await call_error(client, "restore_backup", {"backup_id": backup["id"], "confirm": token})
    assert "does not match its recorded checksum" in error and "nothing was changed" in error
    assert snapshot(db_path) == before
    assert await names(client) == ["Athena", "Monday"]
    assert sorted(p.name for p in (db_path.parent / "backups").iterdir()) == [Path(backup["file_path"]).name]


async def test_missing_file_is_reported(client):
    backup = await call(client, "create_backup", {})
    Path(backup["file_path"]).unlink()
    verification = await call(client, "verify_backup", {"backup_id": backup["id"]})
    assert verification["ok"] is False and "missing" in verification["problem"]
    token = await confirmation(client, "restore_backup", {"backup_id": backup["id"]})
    assert "missing" in await call_error(client, "restore_backup", {"backup_id": backup["id"], "confirm": token})


async def test_restore_refusals_change_nothing(client, db_path):
    full = await call(client, "create_backup", {})
    config = await call(client, "create_backup", {"type": "config_only"})
    before = snapshot(db_path)
    error = await call_error(client, "restore_backup", {"backup_id": full["id"]})
    assert "shows what it would do first" in error and "confirm='" in error
    error = await call_error(client, "restore_backup", {"backup_id": config["id"]})
    assert "config_only" in error and "Only full backups" in error and "list_backups" in error
    error = await call_error(client, "restore_backup", {"backup_id": 999})
    assert "list_backups" in error
    assert snapshot(db_path) == before


async def test_restore_and_delete_need_admin(registry):
    for tool_name, raw in (("restore_backup", {"backup_id": 1}), ("delete_backup", {"backup_id": 1})):
        spec = all_tools()[tool_name]
        with pytest.raises(Forbidden, match="admin"):
            await run_tool(spec, Call(registry, Caller("athena", "user")), parse_arguments(spec, raw))


async def test_config_only_export_keeps_secrets_encrypted(client, registry, db_path):
    secret = "sk-planted-secret-value-1234"
    stored = registry.secrets.encrypt(secret)

    def plant(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE system_config SET config_value = ? WHERE config_key = 'openai_api_key'", (stored,))
        conn.execute("UPDATE system_config SET config_value = 'plain-text-leak' WHERE config_key = 'anthropic_api_key'")
        conn.execute("UPDATE letta_server_config SET server_password = ?", (registry.secrets.encrypt("hunter2"),))

    await registry.db.write(plant)
    await call(client, "create_agent", {"name": "Athena"})
    backup = await call(client, "create_backup", {"type": "config_only", "name": "cfg"})
    assert "fernet:" in backup["note"] and backup["file_path"].endswith("cfg.config.json")
    text = Path(backup["file_path"]).read_text()
    document = json.loads(text)
    assert document["type"] == "config_only" and document["omitted_plaintext_secrets"] == 1
    assert "fernet:" in document["secrets"]
    rows = {r["config_key"]: r for r in document["tables"]["system_config"]}
    assert rows["openai_api_key"]["config_value"] == stored
    assert rows["anthropic_api_key"]["config_value"] is None
    assert document["tables"]["letta_server_config"][0]["server_password"].startswith("fernet:")
    assert secret not in text and "hunter2" not in text and "plain-text-leak" not in text
    assert [a["name"] for a in document["tables"]["agents"]] == ["Athena"]
    assert {"users", "api_tokens", "logs", "backups"}.isdisjoint(document["tables"])


async def test_incremental_holds_rows_since_the_previous_backup(client):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "create_backup", {"name": "base"})
    await anyio.sleep(0.01)  # distinct millisecond timestamps
    await call(client, "create_agent", {"name": "Monday"})
    await call(client, "log_event", {"message": "after the base backup"})
    first = await call(client, "create_backup", {"type": "incremental", "name": "inc1"})
    await anyio.sleep(0.01)
    await call(client, "create_agent", {"name": "Timbre"})
    second = await call(client, "create_backup", {"type": "incremental", "name": "inc2"})

    def messages(backup: dict) -> list[str]:
        document = json.loads(Path(backup["file_path"]).read_text())
        assert document["type"] == "incremental" and set(document["tables"]) == {"config_history", "logs"}
        return [r["message"] for r in document["tables"]["logs"]]

    one = messages(first)
    assert "agent 'Monday' created" in one and "after the base backup" in one
    assert "agent 'Athena' created" not in one
    assert any("'base' completed" in m for m in one)  # the base backup's own audit row came after it started
    two = messages(second)
    assert "agent 'Timbre' created" in two and "agent 'Monday' created" not in two


async def test_progress_is_reported_and_the_row_is_in_progress_meanwhile(registry, db_path):
    for i in range(300):  # enough pages for several steps
        await registry.db.write(lambda c, i=i: c.execute("INSERT INTO agents (name, description) VALUES (?, ?)",
                                                         (f"agent-{i}", "x" * 2000)))
    seen: list[tuple[float, float | None, str | None, str]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        with contextlib.closing(sqlite3.connect(db_path)) as other:
            status = other.execute("SELECT status FROM backups WHERE name = 'big'").fetchone()[0]
        seen.append((done, total, message, status))

    async with Client(build_server(registry)) as client:
        result = await client.call_tool("create_backup", {"name": "big"}, progress_callback=on_progress)
        assert not result.is_error
    copying = [s for s in seen if s[2] == "copying pages"]
    assert len(copying) >= 3 and copying[-1][0] == copying[-1][1]
    assert all(s[3] == "In Progress" for s in copying)  # committed before the copy started
    assert [d for d, *_ in copying] == sorted(d for d, *_ in copying)


async def test_a_failed_backup_is_recorded_as_failed(client, db_path):
    folder = db_path.parent / "backups"
    folder.mkdir()
    (folder / "doomed.db.part").mkdir()  # the copy cannot be written there
    error = await call_error(client, "create_backup", {"name": "doomed"})
    assert "failed" in error and "status Failed" in error
    failed = (await call(client, "list_backups", {"status": "Failed"}))["backups"]
    assert [b["name"] for b in failed] == ["doomed"] and failed[0]["checksum"] is None
    row = log_rows(db_path, "action = 'backup.create'")[-1]
    assert row["level"] == "ERROR" and "failed" in row["message"]
    assert not (folder / "doomed.db").exists()


async def test_bad_backup_arguments(client, db_path):
    before = snapshot(db_path)
    assert "letters, digits" in await call_error(client, "create_backup", {"name": "../escape"})
    assert "not in the future" in await call_error(client, "create_backup", {"expires_at": "2000-01-01T00:00:00Z"})
    assert snapshot(db_path) == before
    await call(client, "create_backup", {"name": "once"})
    assert "already exists" in await call_error(client, "create_backup", {"name": "once"})


async def test_delete_backup_removes_the_file(client):
    backup = await call(client, "create_backup", {})
    deleted = await call_confirmed(client, "delete_backup", {"backup_id": backup["id"]})
    assert deleted["file_removed"] is True and not Path(backup["file_path"]).exists()
    assert (await call(client, "list_backups"))["backups"] == []
    assert "list_backups" in await call_error(client, "delete_backup", {"backup_id": backup["id"]})


# --- housekeeping by the scheduler ----------------------------------------------------------


async def test_expired_backups_are_removed_by_the_scheduler(db_path):
    clock = FakeClock(utc(2026, 5, 1, 12))
    registry = await Registry.open(db_path, clock=clock)
    try:
        async with Client(build_server(registry)) as client:
            short = await call(client, "create_backup", {"name": "short", "expires_at": "2026-05-02T00:00:00Z"})
            kept = await call(client, "create_backup", {"name": "kept"})
        scheduler = Scheduler(registry)
        await scheduler.tick()
        assert Path(short["file_path"]).exists()
        clock.set(utc(2026, 5, 2, 0, 30))
        await scheduler.tick()
        assert not Path(short["file_path"]).exists() and Path(kept["file_path"]).exists()
        remaining = await registry.backups.list()
        assert [b.name for b in remaining.backups] == ["kept"]
        assert [r["message"] for r in log_rows(db_path, "action = 'backup.expire'")] == [
            "backup 'short' expired at 2026-05-02T00:00:00.000Z and was removed"]
    finally:
        await registry.close()


async def test_automatic_backups_follow_the_schedule(db_path):
    clock = FakeClock(utc(2026, 5, 1, 1, 0))
    first = await Registry.open(db_path, clock=clock)
    second = await Registry.open(db_path, clock=clock)
    try:
        s1, s2 = Scheduler(first), Scheduler(second)
        await s1.tick()
        await s2.tick()
        assert (await first.backups.list()).backups == []  # 03:00 has not come yet
        clock.set(utc(2026, 5, 1, 3, 0, 30))
        async with anyio.create_task_group() as tg:  # two processes at the same occurrence
            tg.start_soon(s1.tick)
            tg.start_soon(s2.tick)
        backups = (await first.backups.list()).backups
        assert [(b.name, b.is_auto, b.type, b.status) for b in backups] == [("auto-20260501T0300Z", True, "full", "Completed")]
        assert backups[0].expires_at == "2026-05-15T03:00:30.000Z"  # backup_retention_days = 14
        await s1.tick()
        assert len((await first.backups.list()).backups) == 1
        # Down for two days: the missed occurrences are coalesced into one backup.
        clock.set(utc(2026, 5, 3, 9, 0))
        await s1.tick()
        assert [b.name for b in (await first.backups.list()).backups] == ["auto-20260503T0300Z", "auto-20260501T0300Z"]
        # Turned off: nothing more.
        await first.db.write(lambda c: c.execute("UPDATE system_config SET config_value = '' WHERE config_key = 'backup_schedule'"))
        clock.set(utc(2026, 5, 4, 9, 0))
        await s1.tick()
        assert len((await first.backups.list()).backups) == 2
        # After expiry they go.
        clock.set(utc(2026, 5, 20, 0, 0))
        await s1.tick()
        assert (await first.backups.list()).backups == []
    finally:
        await first.close()
        await second.close()


async def test_a_new_database_is_not_backed_up_at_once(db_path):
    clock = FakeClock(utc(2026, 5, 1, 12, 0))  # after today's 03:00
    registry = await Registry.open(db_path, clock=clock)
    try:
        await Scheduler(registry).tick()
        assert (await registry.backups.list()).backups == []
    finally:
        await registry.close()


# --- the CLI ----------------------------------------------------------------------------------


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sanctum_mcp", "--db", str(db_path), *args],
        capture_output=True, text=True, env=server_env(db_path.parent / "not-this.db"), cwd=str(REPO.parent), timeout=60,
    )


async def test_cli_backup_verify_restore(db_path, registry):
    await registry.agents.create(Caller("operator", "admin"), {"name": "Athena"})
    done = cli(db_path, "backup", "--name", "cli-1")
    assert done.returncode == 0, done.stderr
    backup = json.loads(done.stdout)
    assert backup["name"] == "cli-1" and backup["status"] == "Completed"
    assert "copying pages" in done.stderr  # progress goes to stderr, JSON to stdout
    assert not (db_path.parent / "not-this.db").exists()  # --db wins over the environment
    config = json.loads(cli(db_path, "backup", "--type", "config_only").stdout)
    assert config["type"] == "config_only"
    verified = cli(db_path, "verify", str(backup["id"]))
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
    await registry.agents.create(Caller("operator", "admin"), {"name": "Monday"})
    refused = cli(db_path, "restore", str(backup["id"]))
    assert refused.returncode == 1 and "with the same arguments and --yes" in refused.stderr and "confirm=" not in refused.stderr
    assert len((await registry.agents.list()).agents) == 2
    restored = cli(db_path, "restore", str(backup["id"]), "--yes")
    assert restored.returncode == 0, restored.stderr
    # This process's open connection sees what the CLI process restored.
    assert [a.name for a in (await registry.agents.list()).agents] == ["Athena"]
    listed = json.loads(cli(db_path, "backups").stdout)
    assert {b["name"] for b in listed["backups"]} >= {"cli-1"} and len(listed["backups"]) == 3
    flip_a_byte(Path(backup["file_path"]))
    bad = cli(db_path, "verify", str(backup["id"]))
    assert bad.returncode == 1 and "checksum" in bad.stderr
    bad = cli(db_path, "restore", str(backup["id"]), "--yes")
    assert bad.returncode == 1 and "does not match its recorded checksum" in bad.stderr
    assert os.path.exists(db_path)


async def test_an_unusable_backup_schedule_is_reported(db_path, caplog):
    clock = FakeClock(utc(2026, 5, 1, 1, 0))
    registry = await Registry.open(db_path, clock=clock)
    try:
        await registry.db.write(lambda c: c.execute(
            "UPDATE system_config SET config_value = '0 3 * *' WHERE config_key = 'backup_schedule'"))
        with caplog.at_level("WARNING", logger="sanctum_mcp.settings"):
            await Scheduler(registry).tick()
            clock.set(utc(2026, 5, 1, 4, 0))
            await Scheduler(registry).tick()
        warnings = [r.getMessage() for r in caplog.records if r.name == "sanctum_mcp.settings"]
        assert len(warnings) == 1 and "backup_schedule='0 3 * *'" in warnings[0] and "ignored" in warnings[0]
        assert (await registry.backups.list()).backups == []
    finally:
        await registry.close()
