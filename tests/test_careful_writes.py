"""Issue 16, "writes that catch mistakes": set_config refuses a new key that is a near miss of an
existing one unless the caller says it is new (create=true, --create), and the destructive tools
(restore_backup, delete_backup, delete_agent / delete_tool / delete_tool_instance with cascade=true,
rollback_config) answer first with a preview and a confirmation the second call must carry, or ask
through elicitation where the client supports it.

Real parts only: the SDK's clients (in memory, both protocol eras, with and without an elicitation
callback), real `sanctum-mcp` subprocesses and the SMCP plugin contract, real database files
compared before and after."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import REPO, call, call_error, server_env, snapshot, start_http_server, stdio_params, stop

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.users.models import PermissionSet
from sanctum_mcp.server.app import build_server

DAILY = "0 3 * * *"
CONFIRM = re.compile(r"confirm='([0-9a-f]+)'")


def cli(db_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", *args, "--db", str(db_path)], input=stdin,
                          capture_output=True, text=True, env=server_env(db_path), cwd=str(REPO.parent),
                          timeout=120, stdin=None if stdin is not None else subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def token_in(text: str) -> str:
    found = CONFIRM.search(text)
    assert found, f"no confirmation in: {text}"
    return found.group(1)


async def athena_with_instance_and_job(registry: Registry) -> int:
    op = registry.operator
    await registry.agents.create(op, {"name": "Athena", "config": {}})
    await registry.tools.create_tool(op, {"name": "notes", "category": "athena", "tool_type": "utility"})
    instance = await registry.tools.create_instance(op, tool="notes", agent="Athena", name="a", config={})
    await registry.jobs.create(op, {"name": "nightly", "cron_expression": DAILY, "tool_instance": str(instance.id)})
    return instance.id


# --- set_config: a near miss of an existing key ---------------------------------------------------------


async def test_set_config_of_a_near_miss_is_refused_naming_the_key(client, db_path):
    before = snapshot(db_path)
    error = await call_error(client, "set_config", {"key": "flask_prot", "value": "9000"})
    assert "did you mean flask_port?" in error, error
    assert "create=true" in error and "nothing was changed" in error.lower(), error
    assert snapshot(db_path) == before
    # The caller says it is a new key: it is created, and the real one is untouched.
    created = await call(client, "set_config", {"key": "flask_prot", "value": "9000", "create": True})
    assert created["change"] == "set" and created["version"] == 1
    assert (await call(client, "get_config", {"key": "flask_port"}))["value"] != "9000"
    # Once it exists it is an existing key: no create needed to change it again.
    await call(client, "set_config", {"key": "flask_prot", "value": "9001"})


async def test_set_config_of_a_new_key_far_from_every_key_needs_no_create(client):
    done = await call(client, "set_config", {"key": "athena_greeting", "value": "hello"})
    assert done["change"] == "set"


async def test_set_config_near_misses_by_edit_kind(client, db_path):
    """A transposition, a missing, an extra and a wrong character are each one slip."""
    for typo in ("flask_prot", "flask_pot", "flask_portt", "flask_pert", "flaskport"):
        error = await call_error(client, "set_config", {"key": typo, "value": "1"})
        assert "did you mean flask_port?" in error, (typo, error)
    # Keys that differ by more than a slip are different keys (smcp_port is close to no seeded key).
    await call(client, "set_config", {"key": "athena_port", "value": "8123"})


async def test_set_config_create_is_refused_for_an_existing_key(client):
    """create=true says "this key is new": for a key that exists it is a mistake, not a no-op."""
    error = await call_error(client, "set_config", {"key": "flask_port", "value": "5001", "create": True})
    assert "flask_port already exists" in error, error


async def test_near_miss_does_not_reveal_keys_of_agents_outside_permissions(registry, db_path):
    op = registry.operator
    for name in ("Athena", "Monday"):
        await registry.agents.create(op, {"name": name, "config": {}})
    await registry.config.set(op, "monday_secret_knob", "1", scope="agent", target="Monday")
    await registry.users.create(op, username="limited", role="user", email=None,
                                permissions=PermissionSet(agents=["Athena"]))
    caller = await registry.users.local_caller("limited", default_name="operator")
    async with Client(build_server(registry, identify=lambda _ctx: caller)) as client:
        done = await call(client, "set_config", {"key": "monday_secret_knb", "value": "2", "scope": "agent",
                                                 "target": "Athena"})
        assert done["change"] == "set"
    # The operator sees Monday's key and is stopped by it.
    async with Client(build_server(registry)) as client:
        error = await call_error(client, "set_config", {"key": "monday_secret_kno", "value": "2", "scope": "agent",
                                                        "target": "Monday"})
        assert "did you mean monday_secret_knb or monday_secret_knob?" in error, error


async def test_near_miss_over_many_keys_answers(registry, db_path):
    """100,000 keys a benchmark might make (bench_counter_NNNNN): a new key is still checked
    against all of them, and a near miss among them is found."""
    def many(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO system_config (config_key, config_value, config_type, category) VALUES (?, '1', 'integer', 'general')",
            ((f"bench_counter_{n:05d}",) for n in range(100_000)),
        )

    await registry.db.write(many)
    async with Client(build_server(registry)) as client:
        error = await call_error(client, "set_config", {"key": "bench_counter_1o000", "value": "1"})
        assert "did you mean bench_counter_10000, bench_counter_11000," in error, error
        await call(client, "set_config", {"key": "weather_station_url", "value": "x"})


def test_cli_config_set_near_miss_and_create(db_path):
    assert cli(db_path, "init").returncode == 0
    before = snapshot(db_path)
    done = cli(db_path, "config", "set", "flask_prot", "9000")
    assert done.returncode == 1
    assert "did you mean flask_port?" in done.stderr and "--create" in done.stderr, done.stderr
    assert "create=true" not in done.stderr
    assert snapshot(db_path) == before
    done = cli(db_path, "config", "set", "flask_prot", "9000", "--create")
    assert done.returncode == 0, done.stderr


# --- destructive tools: preview, then the confirmation ------------------------------------------------------


async def test_cascade_delete_previews_first_and_changes_nothing(client, registry, db_path):
    await athena_with_instance_and_job(registry)
    before = snapshot(db_path)
    preview = await call_error(client, "delete_agent", {"agent": "Athena", "cascade": True})
    assert "Nothing was changed" in preview, preview
    assert "'a'" in preview and "'nightly'" in preview and "Athena" in preview, preview
    assert snapshot(db_path) == before
    removed = await call(client, "delete_agent", {"agent": "Athena", "cascade": True, "confirm": token_in(preview)})
    assert removed["removed_tool_instances"] == ["a"] and removed["removed_scheduled_jobs"] == ["nightly"]


async def test_a_stale_confirmation_is_refused_with_a_new_preview(client, registry, db_path):
    instance = await athena_with_instance_and_job(registry)
    preview = await call_error(client, "delete_tool", {"tool": "notes", "cascade": True})
    token = token_in(preview)
    # Someone adds an instance after the preview: what the call would delete is not what was shown.
    await registry.tools.create_instance(registry.operator, tool="notes", agent="Athena", name="late", config={})
    before = snapshot(db_path)
    stale = await call_error(client, "delete_tool", {"tool": "notes", "cascade": True, "confirm": token})
    assert "changed since the preview" in stale and "'late'" in stale, stale
    assert snapshot(db_path) == before
    # The same confirmation for other arguments is refused too.
    other = await call_error(client, "delete_tool_instance", {"instance": instance, "cascade": True, "confirm": token})
    assert "changed since the preview" in other, other
    assert snapshot(db_path) == before
    await call(client, "delete_tool", {"tool": "notes", "cascade": True, "confirm": token_in(stale)})


async def test_delete_tool_instance_with_cascade_previews(client, registry, db_path):
    instance = await athena_with_instance_and_job(registry)
    before = snapshot(db_path)
    preview = await call_error(client, "delete_tool_instance", {"instance": instance, "cascade": True})
    assert "'nightly'" in preview, preview
    assert snapshot(db_path) == before
    done = await call(client, "delete_tool_instance", {"instance": instance, "cascade": True,
                                                       "confirm": token_in(preview)})
    assert done["removed_scheduled_jobs"] == ["nightly"]


async def test_rollback_config_previews_the_value_it_would_restore(client, registry, db_path):
    await call(client, "set_config", {"key": "flask_port", "value": "5001"})
    current = await call(client, "set_config", {"key": "flask_port", "value": "5002"})
    before = snapshot(db_path)
    preview = await call_error(client, "rollback_config", {"key": "flask_port", "version": current["version"] - 1})
    assert "5002" in preview and "5001" in preview, preview
    assert snapshot(db_path) == before
    done = await call(client, "rollback_config", {"key": "flask_port", "version": current["version"] - 1,
                                                  "confirm": token_in(preview)})
    assert done["entry"]["value"] == "5001"


async def test_rollback_preview_masks_secrets(client, db_path):
    await call(client, "set_config", {"key": "letta_api_key", "value": "sk-first-secret-0001", "sensitive": True,
                                      "create": True})
    await call(client, "set_config", {"key": "letta_api_key", "value": "sk-second-secret-0002"})
    preview = await call_error(client, "rollback_config", {"key": "letta_api_key", "version": 1})
    assert "sk-first" not in preview and "sk-second" not in preview, preview


async def test_restore_backup_previews_then_restores(client, registry, db_path):
    backup = await registry.backups.create(registry.operator, type="full", name="before")
    await registry.agents.create(registry.operator, {"name": "Later", "config": {}})
    before = snapshot(db_path)
    preview = await call_error(client, "restore_backup", {"backup_id": backup.id})
    assert "'before'" in preview and "Nothing was changed" in preview, preview
    assert snapshot(db_path) == before
    # The former confirm=true is refused, saying what confirm takes now.
    old = await call_error(client, "restore_backup", {"backup_id": backup.id, "confirm": True})
    assert "without confirm first" in old and "restore_backup" in old, old
    done = await call(client, "restore_backup", {"backup_id": backup.id, "confirm": token_in(preview)})
    assert done["restored"]["id"] == backup.id
    names = [a["name"] for a in (await call(client, "list_agents", {}))["agents"]]
    assert "Later" not in names


async def test_no_preview_without_cascade(client, registry):
    await registry.agents.create(registry.operator, {"name": "Lonely", "config": {}})
    done = await call(client, "delete_agent", {"agent": "Lonely"})
    assert done["deleted"]["name"] == "Lonely"


async def test_delete_backup_previews_the_backup_then_deletes_it(client, registry, db_path):
    backup = await registry.backups.create(registry.operator, type="config_only", name="weekly",
                                           description="before the upgrade")
    file = Path(backup.file_path)
    before = snapshot(db_path)
    preview = await call_error(client, "delete_backup", {"backup_id": backup.id})
    assert "Nothing was changed" in preview, preview
    for shown in (f"backup {backup.id} 'weekly'", "config_only", file.name, f"{backup.size_bytes:,} bytes",
                  backup.created_at, "'before the upgrade'"):
        assert shown in preview, (shown, preview)
    assert snapshot(db_path) == before and file.is_file()
    done = await call(client, "delete_backup", {"backup_id": backup.id, "confirm": token_in(preview)})
    assert done["deleted"]["id"] == backup.id and done["file_removed"] is True and not file.exists()


async def test_delete_backup_refuses_a_confirmation_of_another_backup_or_a_wrong_one(client, registry, db_path):
    first = await registry.backups.create(registry.operator, type="full", name="first")
    second = await registry.backups.create(registry.operator, type="full", name="second")
    token = token_in(await call_error(client, "delete_backup", {"backup_id": first.id}))
    before = snapshot(db_path)
    other = await call_error(client, "delete_backup", {"backup_id": second.id, "confirm": token})
    assert "changed since the preview" in other and "'second'" in other, other
    wrong = await call_error(client, "delete_backup", {"backup_id": first.id, "confirm": "0123456789abcdef"})
    assert "changed since the preview" in wrong and "'first'" in wrong, wrong
    # restore_backup's confirmation of the same backup is not delete_backup's.
    restore = token_in(await call_error(client, "restore_backup", {"backup_id": first.id}))
    crossed = await call_error(client, "delete_backup", {"backup_id": first.id, "confirm": restore})
    assert "changed since the preview" in crossed, crossed
    assert snapshot(db_path) == before
    assert Path(first.file_path).is_file() and Path(second.file_path).is_file()
    await call(client, "delete_backup", {"backup_id": first.id, "confirm": token})
    # Once deleted, the same confirmation finds nothing to delete.
    gone = await call_error(client, "delete_backup", {"backup_id": first.id, "confirm": token})
    assert "no backup with id" in gone and "list_backups" in gone, gone


# --- elicitation ---------------------------------------------------------------------------------------------


@asynccontextmanager
async def eliciting(registry: Registry, action: str, mode: str) -> AsyncIterator[tuple[Client, list[str]]]:
    asked: list[str] = []

    async def answer(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=action, content={} if action == "accept" else None)

    options = {"mode": "legacy"} if mode == "legacy" else {}
    async with Client(build_server(registry), elicitation_callback=answer, **options) as client:
        yield client, asked


def only_the_decline_was_recorded(db_path: Path, before: list[str], tool: str, answer: str) -> dict:
    """A declined question changed nothing but the audit trail: exactly one row, `confirm.declined`
    of `tool` with that answer (the logs' id counter moves with it). Returns its details."""
    after = snapshot(db_path)
    logs_counter = "INSERT INTO \"sqlite_sequence\" VALUES('logs',"
    assert [line for line in before if line not in after and not line.startswith(logs_counter)] == []
    added = [line for line in after if line not in before and not line.startswith(logs_counter)]
    assert len(added) == 1 and added[0].startswith('INSERT INTO "logs"'), added
    with sqlite3.connect(db_path) as conn:
        action, source_id, details = conn.execute(
            "SELECT action, source_id, details FROM logs ORDER BY id DESC LIMIT 1").fetchone()
    details = json.loads(details)
    assert (action, source_id, details["tool"], details["answer"]) == ("confirm.declined", tool, tool, answer)
    return details


@pytest.mark.parametrize("mode", ["modern", "legacy"])
async def test_elicitation_accepted_does_it_in_one_call(registry, db_path, mode):
    await athena_with_instance_and_job(registry)
    async with eliciting(registry, "accept", mode) as (client, asked):
        removed = await call(client, "delete_agent", {"agent": "Athena", "cascade": True})
    assert removed["removed_scheduled_jobs"] == ["nightly"]
    assert len(asked) == 1 and "'nightly'" in asked[0] and "confirm=" not in asked[0], asked


@pytest.mark.parametrize("mode", ["modern", "legacy"])
@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_elicitation_declined_changes_nothing(registry, db_path, mode, action):
    await athena_with_instance_and_job(registry)
    before = snapshot(db_path)
    async with eliciting(registry, action, mode) as (client, asked):
        error = await call_error(client, "delete_agent", {"agent": "Athena", "cascade": True})
    assert "not confirmed" in error and "Nothing was changed" in error, error
    assert len(asked) == 1
    # Nothing changed but the audit trail: one row saying who attempted what and what was answered.
    details = only_the_decline_was_recorded(db_path, before, "delete_agent", action)
    assert details == {"actor": "operator", "tool": "delete_agent", "answer": action,
                       "arguments": {"agent": "Athena", "cascade": True}}


async def test_a_replayed_decline_from_a_caller_who_may_not_call_the_tool_is_refused_not_recorded(registry, db_path):
    """2026-07-28: the person's answer comes back on a retry of the call, with the question's sealed
    request_state. The SDK binds that state to the call and to an authenticated principal; where there
    is none (one process, callers told apart by our own identify), a viewer replaying the operator's
    question with a "decline" meets the gate, not the audit of a person's decline."""
    await athena_with_instance_and_job(registry)
    await registry.users.create(registry.operator, username="vic", role="viewer", email=None, permissions=None)
    who = {"caller": registry.operator}
    arguments = {"agent": "Athena", "cascade": True}
    async with Client(build_server(registry, identify=lambda _ctx: who["caller"]),
                      elicitation_callback=lambda *_: None) as client:
        asked = await client.session.call_tool("delete_agent", arguments, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult), asked
        who["caller"] = await registry.users.local_caller("vic", default_name="operator")
        result = await client.session.call_tool("delete_agent", arguments, request_state=asked.request_state,
                                                input_responses={"confirm": types.ElicitResult(action="decline")})
    assert result.is_error and "needs the 'user' role" in result.content[0].text, result
    with sqlite3.connect(db_path) as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM logs ORDER BY id")]
    assert "confirm.declined" not in actions and actions[-1] == "access.denied", actions


async def test_elicitation_capable_client_may_still_confirm_in_two_steps(registry, db_path):
    await athena_with_instance_and_job(registry)
    async with Client(build_server(registry)) as plain:
        preview = await call_error(plain, "delete_agent", {"agent": "Athena", "cascade": True})
    async with eliciting(registry, "decline", "modern") as (client, asked):
        await call(client, "delete_agent", {"agent": "Athena", "cascade": True, "confirm": token_in(preview)})
    assert asked == []


@pytest.mark.parametrize("mode", ["modern", "legacy"])
async def test_delete_backup_asks_an_eliciting_client(registry, db_path, mode):
    kept = await registry.backups.create(registry.operator, type="full", name="kept")
    gone = await registry.backups.create(registry.operator, type="full", name="gone")
    before = snapshot(db_path)
    async with eliciting(registry, "decline", mode) as (client, asked):
        error = await call_error(client, "delete_backup", {"backup_id": kept.id})
    assert "not confirmed" in error and "Nothing was changed" in error, error
    assert len(asked) == 1 and "'kept'" in asked[0] and "confirm=" not in asked[0], asked
    only_the_decline_was_recorded(db_path, before, "delete_backup", "decline")
    assert Path(kept.file_path).is_file()
    async with eliciting(registry, "accept", mode) as (client, asked):
        done = await call(client, "delete_backup", {"backup_id": gone.id})
    assert done["deleted"]["name"] == "gone" and not Path(gone.file_path).exists()
    assert len(asked) == 1 and "'gone'" in asked[0], asked


@pytest.mark.parametrize(("mode", "stream", "asks"), [("modern", False, True), ("legacy", True, True),
                                                    ("legacy", False, False)])
async def test_elicitation_over_streamable_http(db_path, mode, stream, asks):
    """A real server process. A stale two-step confirmation is refused; an eliciting client is asked
    and one accept does it, except on a 2025 session answered in JSON bodies (no back-channel to
    ask on: serve's default without --stream-responses), which gets the two-step answer."""
    asked: list[str] = []

    async def answer(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={})

    server = start_http_server(db_path, "--trust-loopback", *(["--stream-responses"] if stream else []))
    options = {"mode": "legacy"} if mode == "legacy" else {}
    try:
        async with httpx2.AsyncClient(timeout=60) as http:
            async with Client(streamable_http_client(server.mcp_url, http_client=http), **options) as plain:
                await call(plain, "create_agent", {"name": "Athena"})
                await call(plain, "create_tool", {"name": "notes", "category": "athena", "tool_type": "utility"})
                await call(plain, "create_tool_instance", {"tool": "notes", "agent": "Athena", "name": "a"})
                token = token_in(await call_error(plain, "delete_agent", {"agent": "Athena", "cascade": True}))
                await call(plain, "create_tool_instance", {"tool": "notes", "agent": "Athena", "name": "b"})
                before = snapshot(db_path)
                stale = await call_error(plain, "delete_agent", {"agent": "Athena", "cascade": True, "confirm": token})
                assert "changed since the preview" in stale and "'b'" in stale, stale
                assert snapshot(db_path) == before
            async with Client(streamable_http_client(server.mcp_url, http_client=http), elicitation_callback=answer,
                              **options) as client:
                if asks:
                    removed = await call(client, "delete_agent", {"agent": "Athena", "cascade": True})
                else:
                    preview = await call_error(client, "delete_agent", {"agent": "Athena", "cascade": True})
                    removed = await call(client, "delete_agent", {"agent": "Athena", "cascade": True,
                                                                  "confirm": token_in(preview)})
    finally:
        stop(server.process)
        server.log.close()
    assert removed["removed_tool_instances"] == ["a", "b"]
    if asks:
        assert len(asked) == 1 and "'a'" in asked[0] and "'b'" in asked[0], asked
    else:
        assert asked == []


@pytest.mark.parametrize("mode", ["modern", "legacy"])
async def test_elicitation_over_stdio(db_path, mode):
    """A real `sanctum-mcp serve` over stdio, asked and declined, then asked and accepted."""
    answers = ["decline", "accept"]
    asked: list[str] = []

    async def answer(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        action = answers.pop(0)
        return types.ElicitResult(action=action, content={} if action == "accept" else None)

    options = {"mode": "legacy"} if mode == "legacy" else {}
    async with Client(stdio_params(db_path), elicitation_callback=answer, **options) as client:
        await call(client, "set_config", {"key": "flask_port", "value": "5001"})
        before = snapshot(db_path)
        error = await call_error(client, "rollback_config", {"key": "flask_port", "version": 1})
        assert "not confirmed" in error and "decline" in error, error
        only_the_decline_was_recorded(db_path, before, "rollback_config", "decline")
        done = await call(client, "rollback_config", {"key": "flask_port", "version": 1})
    assert done["entry"]["value"] == "5000"
    assert len(asked) == 2 and "5001" in asked[0] and "5000" in asked[0], asked


# --- the CLI says --yes ---------------------------------------------------------------------------------------


def test_cli_cascade_delete_needs_yes(db_path):
    assert cli(db_path, "init").returncode == 0
    assert cli(db_path, "agents", "create", "Athena").returncode == 0
    assert cli(db_path, "tools", "create", "notes", "--category", "athena", "--tool-type", "utility").returncode == 0
    assert cli(db_path, "tools", "instances", "create", "--tool", "notes", "--agent", "Athena", "--name", "a").returncode == 0
    before = snapshot(db_path)
    done = cli(db_path, "agents", "delete", "Athena", "--cascade")
    assert done.returncode == 1 and "--yes" in done.stderr and "'a'" in done.stderr, done.stderr
    assert "confirm=" not in done.stderr
    assert snapshot(db_path) == before
    done = cli(db_path, "agents", "delete", "Athena", "--cascade", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed_tool_instances"] == ["a"]


def test_cli_rollback_and_restore_need_yes(db_path):
    assert cli(db_path, "init").returncode == 0
    assert cli(db_path, "config", "set", "flask_port", "5001").returncode == 0
    before = snapshot(db_path)
    done = cli(db_path, "config", "rollback", "flask_port", "1")
    assert done.returncode == 1 and "--yes" in done.stderr, done.stderr
    assert snapshot(db_path) == before
    assert cli(db_path, "config", "rollback", "flask_port", "1", "--yes").returncode == 0
    backup = json.loads(cli(db_path, "backup").stdout)
    before = snapshot(db_path)
    done = cli(db_path, "restore", str(backup["id"]))
    assert done.returncode == 1 and "--yes" in done.stderr, done.stderr
    assert snapshot(db_path) == before
    assert cli(db_path, "restore", str(backup["id"]), "--yes").returncode == 0


def test_cli_backups_delete_needs_yes(db_path):
    assert cli(db_path, "init").returncode == 0
    backup = json.loads(cli(db_path, "backup", "--name", "old").stdout)
    before = snapshot(db_path)
    done = cli(db_path, "backups", "delete", str(backup["id"]))
    assert done.returncode == 1 and "--yes" in done.stderr and "'old'" in done.stderr, done.stderr
    assert "confirm=" not in done.stderr
    assert snapshot(db_path) == before and Path(backup["file_path"]).is_file()
    done = cli(db_path, "backups", "delete", str(backup["id"]), "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"]["name"] == "old" and not Path(backup["file_path"]).exists()


# --- SMCP (no elicitation) completes the two steps ---------------------------------------------------------------


def test_smcp_plugin_completes_the_two_step_flow(db_path):
    assert cli(db_path, "init").returncode == 0
    assert cli(db_path, "agents", "create", "Athena").returncode == 0
    assert cli(db_path, "tools", "create", "notes", "--category", "athena", "--tool-type", "utility").returncode == 0
    assert cli(db_path, "tools", "instances", "create", "--tool", "notes", "--agent", "Athena", "--name", "a").returncode == 0

    def plugin(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sanctum_mcp.smcp", "--user", "operator",
                               "--", *argv], capture_output=True, text=True, env=server_env(db_path),
                              cwd=str(REPO.parent), timeout=120, stdin=subprocess.DEVNULL)

    before = snapshot(db_path)
    first = plugin("delete_agent", "--agent", "Athena", "--cascade", "true")
    assert "Traceback" not in first.stdout + first.stderr
    assert snapshot(db_path) == before
    token = token_in(first.stdout + first.stderr)
    second = plugin("delete_agent", "--agent", "Athena", "--cascade", "true", "--confirm", token)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "removed_tool_instances" in second.stdout


def test_smcp_plugin_deletes_a_backup_in_two_steps(db_path):
    assert cli(db_path, "init").returncode == 0
    backup = json.loads(cli(db_path, "backup", "--name", "old").stdout)

    def plugin(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sanctum_mcp.smcp", "--user", "operator",
                               "--", *argv], capture_output=True, text=True, env=server_env(db_path),
                              cwd=str(REPO.parent), timeout=120, stdin=subprocess.DEVNULL)

    before = snapshot(db_path)
    first = plugin("delete_backup", "--backup-id", str(backup["id"]))
    assert "Traceback" not in first.stdout + first.stderr
    assert "'old'" in first.stdout + first.stderr, first.stdout + first.stderr
    assert snapshot(db_path) == before and Path(backup["file_path"]).is_file()
    token = token_in(first.stdout + first.stderr)
    second = plugin("delete_backup", "--backup-id", str(backup["id"]), "--confirm", token)
    assert second.returncode == 0, second.stdout + second.stderr
    assert not Path(backup["file_path"]).exists()
