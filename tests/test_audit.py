"""The audit trail covers every mutating tool: one row per successful call, secrets masked.

The test enumerates the tool catalogue. A mutating tool without an entry in SETUPS fails the test:
whoever adds one adds its harmless arguments here (a setup that prepares what it needs and returns
the arguments of one successful call).
"""

from __future__ import annotations

import json
import re
import tempfile
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fake_letta import FakeLetta
from mcp import Client
from support import call, call_through_preview

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.domain.registry import Registry

Setup = Callable[[Client, Registry], Awaitable[dict[str, Any]]]
PLANTED = "sk-planted-audit-secret-5678"
CIPHERTEXT = re.compile(r"fernet:[A-Za-z0-9_=-]{20,}")  # a stored secret, as opposed to the word in a note


def fixed(arguments: dict[str, Any]) -> Setup:
    async def setup(_client: Client, _registry: Registry) -> dict[str, Any]:
        return arguments

    return setup


def after(prepare: list[tuple[str, dict[str, Any]]], arguments: dict[str, Any]) -> Setup:
    """Call the tools in `prepare` first, then use `arguments`."""

    async def setup(client: Client, _registry: Registry) -> dict[str, Any]:
        for name, args in prepare:
            await call(client, name, args)
        return arguments

    return setup


def with_backup(make: Callable[[int], dict[str, Any]]) -> Setup:
    async def setup(client: Client, _registry: Registry) -> dict[str, Any]:
        backup = await call(client, "create_backup", {"type": "full"})
        return make(backup["id"])

    return setup


LETTA: list[FakeLetta] = []  # the fake Letta server the current test runs (see the test)


async def fake_letta_sync(client: Client, _registry: Registry) -> dict[str, Any]:
    """The test's fake Letta server (tests/fake_letta.py), made the active connection."""
    letta = LETTA[-1]
    letta.agents = [{"id": "agent-1", "name": "Athena"}]
    added = await call(client, "add_letta_server", {"address": "127.0.0.1", "port": letta.port})
    await call(client, "activate_letta_server", {"server": added["id"]})
    return {}


async def empty_plugins_dir(_client: Client, _registry: Registry) -> dict[str, Any]:
    return {"plugins_dir": tempfile.mkdtemp(prefix="audit-plugins-")}


TOOL = ("create_tool", {"name": "audit-tool", "category": "master"})
INSTANCE = ("create_tool_instance", {"tool": "audit-tool", "name": "audit-instance"})
PLUGIN = ("register_plugin", {"name": "audit-plugin", "type": "extension", "version": "1.0.0"})
JOB = {"name": "audited-job", "cron_expression": "@daily", "agent": "Audit"}
AGENT = ("create_agent", {"name": "Audit"})

SETUPS: dict[str, Setup] = {
    "create_agent": fixed({"name": "Audit"}),
    "update_agent": after([AGENT], {"agent": "Audit", "description": "changed"}),
    "set_agent_status": after([AGENT], {"agent": "Audit", "status": "Healthy"}),
    "delete_agent": after([AGENT], {"agent": "Audit"}),
    "create_job": after([AGENT], JOB),
    "update_job": after([AGENT, ("create_job", JOB)], {"job": "audited-job", "description": "changed"}),
    "pause_job": after([AGENT, ("create_job", JOB)], {"job": "audited-job"}),
    "resume_job": after([AGENT, ("create_job", JOB), ("pause_job", {"job": "audited-job"})], {"job": "audited-job"}),
    "delete_job": after([AGENT, ("create_job", JOB)], {"job": "audited-job"}),
    "log_event": fixed({"message": "a note", "details": {"k": "v"}}),
    "create_backup": fixed({"type": "config_only"}),
    "delete_backup": with_backup(lambda backup_id: {"backup_id": backup_id}),
    "restore_backup": with_backup(lambda backup_id: {"backup_id": backup_id}),
    "add_letta_server": fixed({"address": "letta.local", "port": 8283, "password": PLANTED}),
    "update_letta_server": fixed({"server": 1, "port": 8284, "password": PLANTED}),
    "remove_letta_server": after([("add_letta_server", {"address": "other.local", "port": 8283})], {"server": 2}),
    "activate_letta_server": after([("add_letta_server", {"address": "other.local", "port": 8283})], {"server": 2}),
    "sync_letta_agents": fake_letta_sync,
    "create_user": fixed({"username": "audit-user", "role": "user"}),
    "update_user": after([("create_user", {"username": "audit-user"})], {"user": "audit-user", "role": "user"}),
    "deactivate_user": after([("create_user", {"username": "audit-user"})], {"user": "audit-user"}),
    "create_api_token": after([("create_user", {"username": "audit-user"})], {"user": "audit-user", "name": "t"}),
    "revoke_api_token": after([("create_user", {"username": "audit-user"}),
                               ("create_api_token", {"user": "audit-user"})], {"token_id": 1}),
    "create_tool": fixed({"name": "audit-tool", "category": "master"}),
    "update_tool": after([TOOL], {"tool": "audit-tool", "description": "changed"}),
    "delete_tool": after([TOOL], {"tool": "audit-tool"}),
    "create_tool_instance": after([TOOL], INSTANCE[1]),
    "update_tool_instance": after([TOOL, INSTANCE], {"instance": 1, "status": "Healthy"}),
    "delete_tool_instance": after([TOOL, INSTANCE], {"instance": 1}),
    "register_plugin": fixed(PLUGIN[1]),
    "unregister_plugin": after([PLUGIN], {"plugin": "audit-plugin"}),
    "enable_plugin": after([PLUGIN, ("disable_plugin", {"plugin": "audit-plugin"})], {"plugin": "audit-plugin"}),
    "disable_plugin": after([PLUGIN], {"plugin": "audit-plugin"}),
    "link_plugin": after([PLUGIN, AGENT], {"plugin": "audit-plugin", "agents": ["Audit"]}),
    "unlink_plugin": after([PLUGIN, AGENT, ("link_plugin", {"plugin": "audit-plugin", "agents": ["Audit"]})],
                           {"plugin": "audit-plugin", "agents": ["Audit"]}),
    "sync_smcp_plugins": empty_plugins_dir,
    "set_config": fixed({"key": "openai_api_key", "value": PLANTED + "-v2", "scope": "system"}),  # a new secret
    "delete_config": after([("set_config", {"key": "audit_key", "value": "v", "scope": "system"})],
                           {"key": "audit_key", "scope": "system"}),
    "reset_config": after([("set_config", {"key": "debug_mode", "value": "false", "scope": "system"})],
                          {"key": "debug_mode"}),
    "rollback_config": after([("set_config", {"key": "debug_mode", "value": "false", "scope": "system"})],
                             {"key": "debug_mode", "scope": "system", "version": 1}),
    "switch_environment": after([("set_config", {"key": "debug_mode", "value": "false", "environment": "staging"})],
                                {"environment": "staging", "confirm": True}),
    "import_config": fixed({"document": '{"entries": [{"key": "debug_mode", "value": "false", "version": 1}]}'}),
}


def audit_rows(db_path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM logs ORDER BY id").fetchall()
    finally:
        conn.close()


async def plant_secrets(registry: Registry) -> None:
    """Sensitive values as the config area stores them (encrypted), so any leak would show."""
    encrypted = registry.secrets.encrypt(PLANTED)

    def tx(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE system_config SET config_value = ? WHERE config_key = 'openai_api_key'", (encrypted,))
        conn.execute("UPDATE letta_server_config SET server_password = ?", (encrypted,))
        conn.execute(
            "INSERT INTO configurations (scope, target, key, value, is_sensitive) VALUES ('agent', 'Audit', 'token', ?, 1)",
            (encrypted,),
        )

    await registry.db.write(tx)


def test_every_mutating_tool_has_a_setup():
    mutating = [name for name, spec in all_tools().items() if spec.mutates]
    missing = [name for name in mutating if name not in SETUPS]
    assert not missing, f"mutating tools without an audit test setup in tests/test_audit.py SETUPS: {missing}"
    stale = [name for name in SETUPS if name not in mutating]
    assert not stale, f"SETUPS names tools that are not mutating tools: {stale}"


async def test_every_mutating_tool_writes_exactly_one_audit_row(tmp_path: Path):
    """Each tool on a fresh database holding encrypted secrets (so setups cannot disturb one another):
    one new row, with action, source, actor, and no secret material (plaintext or ciphertext)."""
    failures = []
    with FakeLetta() as letta:
        LETTA.append(letta)
        try:
            await _each_tool(tmp_path, failures)
        finally:
            LETTA.remove(letta)
    assert not failures, "\n".join(failures)


async def _each_tool(tmp_path: Path, failures: list[str]) -> None:
    for name, spec in all_tools().items():
        if not spec.mutates or name not in SETUPS:
            continue
        (tmp_path / name).mkdir()  # a database's folder must exist (only ~/.sanctum is created on its own)
        db_path = tmp_path / name / "registry.db"
        registry = await Registry.open(db_path)
        try:
            from sanctum_mcp.server.app import build_server

            async with Client(build_server(registry)) as client:
                await plant_secrets(registry)
                arguments = await SETUPS[name](client, registry)
                before = audit_rows(db_path)
                await call_through_preview(client, name, arguments)  # a preview writes no audit row
                rows = audit_rows(db_path)
        finally:
            await registry.close()
        leaks = [r["id"] for r in rows if PLANTED in f"{r['message']} {r['details']}"
                 or CIPHERTEXT.search(f"{r['message']} {r['details']}")]
        if leaks:
            failures.append(f"{name}: secret material in log rows {leaks}")
        known = {(r["id"], r["created_at"]) for r in before}
        new = [r for r in rows if (r["id"], r["created_at"]) not in known]
        if len(rows) != len(before) + 1 or len(new) != 1:
            failures.append(f"{name}: {len(rows) - len(before)} new row(s) ({[r['action'] for r in new]})")
            continue
        row = new[0]
        details = json.loads(row["details"])
        problems = []
        if not row["action"] or not row["source"] or not row["message"]:
            problems.append("action, source and message must be set")
        if details.get("actor") != "operator":
            problems.append(f"details.actor is {details.get('actor')!r}")
        if row["action"].split(".")[0] not in (row["source"], "log"):
            problems.append(f"action {row['action']!r} does not match source {row['source']!r}")
        if problems:
            failures.append(f"{name}: " + "; ".join(problems))

