"""Issue 12, point 14 (names): a name must not hold control or invisible characters, so that two
agents (tools, jobs, users, ...) cannot look alike: NUL, line breaks, bidi overrides and isolates,
zero-width characters, other spaces than the plain one, and text that is not in composed (NFC)
form. Every kind of user-chosen name goes through the same check, whose message names the
character by its code point and says what to do; a refused name changes nothing."""

from __future__ import annotations

import contextlib
import sqlite3
import textwrap
from pathlib import Path

import pytest
from fake_letta import FakeLetta
from mcp import Client
from support import call, call_error, snapshot, stdio_params

from sanctum_mcp.domain.registry import Registry

# (the character's code point as the message must name it, a name holding it)
BAD = [
    ("U+0000", "Ath\x00ena"),
    ("U+000A", "Athena\n"),  # a trailing newline passed the `$` of the plugin and backup name patterns
    ("U+000D", "Ath\rena"),
    ("U+202E", "Ath\u202eena"),  # RIGHT-TO-LEFT OVERRIDE
    ("U+2066", "Ath\u2066ena"),  # LEFT-TO-RIGHT ISOLATE
    ("U+200B", "Ath\u200bena"),  # ZERO WIDTH SPACE
    ("U+200D", "Ath\u200dena"),  # ZERO WIDTH JOINER
    ("U+FEFF", "\ufeffAthena"),  # BYTE ORDER MARK / zero-width no-break space
    ("U+2028", "Ath\u2028ena"),  # LINE SEPARATOR
    ("U+00A0", "Ath\u00a0ena"),  # NO-BREAK SPACE, looks like a space
    ("U+3164", "Ath\u3164ena"),  # HANGUL FILLER, a blank letter
    ("U+034F", "Ath\u034fena"),  # COMBINING GRAPHEME JOINER, invisible
    ("NFC", "Athe\u0301na"),  # e + combining acute: looks exactly like the composed "Athéna"
]

# Every tool argument that chooses a name: (tool, arguments with NAME where the name goes).
NAMED = [
    ("create_agent", {"name": "NAME"}),
    ("update_agent", {"agent": "Athena", "name": "NAME"}),
    ("create_tool", {"name": "NAME"}),
    ("update_tool", {"tool": "mailer", "name": "NAME"}),
    ("create_tool_instance", {"tool": "mailer", "agent": "Athena", "name": "NAME"}),
    ("update_tool_instance", {"instance": 1, "name": "NAME"}),
    ("create_job", {"name": "NAME", "cron_expression": "@daily", "agent": "Athena"}),
    ("update_job", {"job": "nightly", "name": "NAME"}),
    ("register_plugin", {"name": "NAME", "type": "extension", "version": "1.0.0"}),
    ("create_user", {"username": "NAME"}),
    ("create_user", {"username": "narrowed", "permissions": {"agents": ["NAME"]}}),
    ("update_user", {"user": "someone", "permissions": {"agents": ["NAME"]}}),
    ("create_api_token", {"user": "someone", "name": "NAME"}),
    ("create_backup", {"type": "config_only", "name": "NAME"}),
]


def with_name(args: dict, name: str) -> dict:
    def put(value):
        if value == "NAME":
            return name
        if isinstance(value, dict):
            return {k: put(v) for k, v in value.items()}
        if isinstance(value, list):
            return [put(v) for v in value]
        return value

    return put(args)


@pytest.fixture
async def world(registry: Registry) -> Registry:
    op = registry.operator
    await registry.agents.create(op, {"name": "Athena", "config": {}})
    await registry.tools.create_tool(op, {"name": "mailer", "category": "athena", "tool_type": "utility"})
    await registry.tools.create_instance(op, tool="mailer", agent="Athena", name="main", config={})
    await registry.jobs.create(op, {"name": "nightly", "cron_expression": "@daily", "agent": "Athena"})
    await registry.users.create(op, username="someone", role="user", email=None, permissions=None)
    return registry


@pytest.mark.parametrize("code, name", BAD, ids=[code for code, _ in BAD])
async def test_names_refuse_control_and_invisible_characters(world, modern_client, db_path, code, name):
    before = snapshot(db_path)
    for tool_name, args in NAMED:
        error = await call_error(modern_client, tool_name, with_name(args, name))
        assert code in error, (tool_name, error)
        assert "Traceback" not in error and name not in error, (tool_name, error)
    assert snapshot(db_path) == before
    folder = db_path.parent / "backups"
    assert not folder.exists() or not any(folder.iterdir())


async def test_the_names_that_were_always_fine_still_are(world, modern_client):
    for name in ("Athéna", "Zeus 2", "Monday-Bot", "Ωmega", "日本"):
        await call(modern_client, "create_agent", {"name": name})
        await call(modern_client, "create_job", {"name": f"job {name}", "cron_expression": "@daily", "agent": name})


async def test_a_look_alike_agent_over_stdio(db_path):
    await (await Registry.open(db_path)).close()
    async with Client(stdio_params(db_path)) as client:
        await call(client, "create_agent", {"name": "Athena"})
        error = await call_error(client, "create_agent", {"name": "Athena\u200b"})
        assert "U+200B" in error and "ZERO WIDTH SPACE" in error, error
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT name FROM agents").fetchall() == [("Athena",)]


async def test_names_from_letta_and_smcp_get_the_same_check(world, modern_client, db_path, tmp_path):
    """Names the registry takes from elsewhere: Letta's agents, SMCP plugin folders."""
    with FakeLetta() as letta:
        letta.agents = [{"id": "agent-rlo", "name": "Ath\u202eena"}, {"id": "agent-ok", "name": "Monday"}]
        await call(modern_client, "add_letta_server", {"address": "127.0.0.1", "port": letta.port, "activate": True})
        report = await call(modern_client, "sync_letta_agents", {})
    assert [a["name"] for a in report["added"]] == ["Monday"]
    assert [s["letta_id"] for s in report["skipped"]] == ["agent-rlo"] and "U+202E" in report["skipped"][0]["reason"]

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    folder = plugins / "tidy\n"
    folder.mkdir()
    (folder / "cli.py").write_text(textwrap.dedent('''
        import json, sys
        print(json.dumps({"contract_version": "1.0", "plugin": {"name": "tidy", "version": "1.0.0"}, "commands": []}))
    '''))
    scanned = await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins)})
    assert [e["outcome"] for e in scanned["entries"]] == ["skipped"], scanned
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM plugins").fetchone()[0] == 0
