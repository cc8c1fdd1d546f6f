"""Configuration tools through the in-memory client: inheritance, types, constraints, check-and-set,
history, rollback, listing, roles, resources, the prompt and the operator CLI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.errors import Conflict
from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR, Caller
from sanctum_mcp.server.app import build_server
from support import REPO, call, call_confirmed, call_error, server_env, snapshot

# System settings seeds.sql creates: the design's nine, plus the scheduler's three of schema version 2
# (log_retention_days, backup_schedule, backup_retention_days) and the backup quota's two of schema
# version 3 (backup_max_count, backup_max_bytes).
SEEDED = 14


def config_state(db_path: Path) -> list[str]:
    """The whole database but the audit log (a refused call may be audited, but changes nothing else)."""
    return [line for line in snapshot(db_path) if '"logs"' not in line and "'logs'" not in line]


def add_tool_and_instance(db_path: Path, agent_id: int | None, tool: str = "mailer", instance: str = "athena-mailer") -> tuple[int, int]:
    """Tools and instances have no tools of their own yet: create them with plain SQL."""
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT id FROM tools WHERE name = ?", (tool,)).fetchone()
        tool_id = row[0] if row else conn.execute("INSERT INTO tools (name) VALUES (?)", (tool,)).lastrowid
        instance_id = conn.execute(
            "INSERT INTO tool_instances (tool_id, agent_id, name) VALUES (?, ?, ?)", (tool_id, agent_id, instance)
        ).lastrowid
    return tool_id, instance_id


def add_user(db_path: Path, username: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("INSERT INTO users (username, role) VALUES (?, 'user')", (username,)).lastrowid


async def setup_athena(client, db_path) -> dict:
    athena = await call(client, "create_agent", {"name": "Athena"})
    tool_id, instance_id = add_tool_and_instance(db_path, athena["id"])
    return {"agent": athena["id"], "tool": tool_id, "instance": instance_id}


# --- inheritance ----------------------------------------------------------------------------


async def test_four_level_inheritance(client, db_path):
    ids = await setup_athena(client, db_path)
    await call(client, "create_agent", {"name": "Monday"})
    inst = str(ids["instance"])

    got = await call(client, "get_config", {"key": "smcp_port", "instance": inst})
    assert (got["value"], got["scope"], got["overrides"]) == ("9000", "system", [])
    assert "instance 'athena-mailer'" in got["explanation"] and "do not set it" in got["explanation"]

    await call(client, "set_config", {"key": "smcp_port", "value": "9001", "scope": "agent", "target": "Athena"})
    got = await call(client, "get_config", {"key": "smcp_port", "agent": "athena"})
    assert (got["value"], got["scope"], got["target"]) == ("9001", "agent", "Athena")

    await call(client, "set_config", {"key": "smcp_port", "value": 9002, "scope": "tool", "target": "mailer"})
    got = await call(client, "get_config", {"key": "smcp_port", "agent": "Athena", "tool": "mailer"})
    assert (got["value"], got["scope"]) == ("9002", "tool")

    await call(client, "set_config", {"key": "smcp_port", "value": "9003", "scope": "instance", "target": inst})
    got = await call(client, "get_config", {"key": "smcp_port", "instance": inst})
    assert (got["value"], got["scope"], got["target"], got["target_id"]) == ("9003", "instance", "athena-mailer", ids["instance"])
    assert [(o["scope"], o["target"], o["value"]) for o in got["overrides"]] == [
        ("tool", "mailer", "9002"), ("agent", "Athena", "9001"), ("system", "", "9000")
    ]
    assert got["explanation"] == (
        "smcp_port = 9003 (integer) comes from instance 'athena-mailer' (id %s); it overrides tool 'mailer' (9002), "
        "agent 'Athena' (9001), the system level (9000)." % inst
    )

    # Another agent, and the bare system value, are untouched.
    assert (await call(client, "get_config", {"key": "smcp_port", "agent": "Monday"}))["value"] == "9000"
    assert (await call(client, "get_config", {"key": "smcp_port"}))["value"] == "9000"

    # Removing the instance's override falls back to the tool's, then the agent's.
    await call(client, "delete_config", {"key": "smcp_port", "scope": "instance", "target": inst})
    assert (await call(client, "get_config", {"key": "smcp_port", "instance": inst}))["scope"] == "tool"
    await call(client, "delete_config", {"key": "smcp_port", "scope": "tool", "target": str(ids["tool"])})
    assert (await call(client, "get_config", {"key": "smcp_port", "instance": inst}))["value"] == "9001"


async def test_user_preferences_come_first(client, db_path):
    ids = await setup_athena(client, db_path)
    add_user(db_path, "ana")
    await call(client, "set_config", {"key": "theme", "value": "light", "scope": "system"})
    await call(client, "set_config", {"key": "theme", "value": "sepia", "scope": "instance", "target": str(ids["instance"])})
    await call(client, "set_config", {"key": "theme", "value": "dark", "scope": "user", "target": "ana"})
    got = await call(client, "get_config", {"key": "theme", "user": "ana", "instance": ids["instance"]})
    assert (got["value"], got["scope"], got["target"]) == ("dark", "user", "ana")
    assert [o["value"] for o in got["overrides"]] == ["sepia", "light"]
    assert (await call(client, "get_config", {"key": "theme", "instance": ids["instance"]}))["value"] == "sepia"


async def test_instance_brings_its_own_tool_and_agent(client, db_path):
    ids = await setup_athena(client, db_path)
    await call(client, "create_agent", {"name": "Monday"})
    error = await call_error(client, "get_config", {"key": "smcp_port", "instance": str(ids["instance"]), "agent": "Monday"})
    assert "belongs to agent 'Athena'" in error and "leave agent out" in error
    add_tool_and_instance(db_path, None, tool="other", instance="x")
    error = await call_error(client, "get_config", {"key": "smcp_port", "instance": str(ids["instance"]), "tool": "other"})
    assert "instance of tool 'mailer'" in error
    error = await call_error(client, "get_config", {"key": "smcp_port", "instance": "athena-mailer"})
    assert "numeric id" in error
    error = await call_error(client, "get_config", {"key": "smcp_port", "agent": "Nobody"})
    assert "no agent named 'Nobody'" in error and "list_agents" in error


async def test_unknown_key_names_the_closest_keys(client):
    error = await call_error(client, "get_config", {"key": "flask_prot"})
    assert "unknown configuration key 'flask_prot'" in error and "flask_port" in error and "list_config" in error


async def test_key_set_only_elsewhere_says_where(client):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "create_agent", {"name": "Monday"})
    await call(client, "set_config", {"key": "persona", "value": "calm", "scope": "agent", "target": "Monday"})
    error = await call_error(client, "get_config", {"key": "persona", "agent": "Athena"})
    assert "agent 'Monday'" in error and "set_config" in error


# --- types and constraints ---------------------------------------------------------------------

GOOD = {
    "integer": [("8080", "8080"), (8080, "8080"), ("-3", "-3"), ("007", "7")],
    "number": [("0.5", "0.5"), (1.5, "1.5"), ("1e3", "1000.0"), ("12", "12"), (7, "7")],
    "boolean": [("true", "true"), ("YES", "true"), ("0", "false"), (False, "false"), ("No", "false")],
    "json": [('{"a": 1}', '{"a": 1}'), ('{"b":[1,2]}', '{"b":[1,2]}'), ("[1, 2]", "[1, 2]"), ('"x"', '"x"'), ("3", "3"), (3, "3")],
    "string": [("~/sanctum", "~/sanctum"), ("", ""), (" spaced ", " spaced "), (42, "42")],
}
BAD = {
    "integer": ["8080.0", "8080.5", " 8080", "abc", "", "1e3", True, 80.0, "+5"],
    "number": ["abc", "NaN", "inf", "1,5", "", " 1", True, "1e999"],
    "boolean": ["maybe", "2", "", "on", 2, "tru", " true"],
    "json": ["{a: 1}", "NaN", "", "[1,", "{'a': 1}"],
}


@pytest.mark.parametrize("value_type", list(GOOD))
async def test_accepted_values_are_coerced_as_documented(modern_client, value_type):
    for i, (given, stored) in enumerate(GOOD[value_type]):
        key = f"typed_{value_type}_{i}"
        # typed_integer_0, typed_integer_1, ...: similar keys on purpose, each new.
        result = await call(modern_client, "set_config", {"key": key, "value": given, "scope": "system", "type": value_type,
                                                          "create": True})
        assert result["entry"]["value"] == stored, (given, result["entry"]["value"])
        assert result["entry"]["type"] == value_type


@pytest.mark.parametrize("value_type", list(BAD))
async def test_refused_values_change_nothing(modern_client, db_path, value_type):
    await call(modern_client, "set_config", {"key": "k", "value": GOOD[value_type][0][0], "scope": "system", "type": value_type})
    before = snapshot(db_path)
    for given in BAD[value_type]:
        error = await call_error(modern_client, "set_config", {"key": "k", "value": given, "scope": "system"})
        assert f"k is a{'n' if value_type == 'integer' else ''} {value_type}" in error or "JSON" in error, error
        # also refused for a brand-new key of that type
        await call_error(modern_client, "set_config", {"key": "fresh", "value": given, "scope": "system", "type": value_type})
    assert snapshot(db_path) == before


async def test_constraints_of_the_seeded_keys(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    before = snapshot(db_path)
    # The environment changes only through switch_environment (tests/test_environments.py), which
    # accepts the three names only.
    error = await call_error(client, "set_config", {"key": "environment", "value": "prod", "scope": "system"})
    assert "switch_environment" in error
    error = await call_error(client, "switch_environment", {"environment": "prod", "confirm": True})
    assert "'development', 'staging' or 'production'" in error
    for port in ("0", "65536", "-1"):
        error = await call_error(client, "set_config", {"key": "flask_port", "value": port, "scope": "system"})
        assert ">= 1" in error or "<= 65535" in error
    # A system constraint binds overrides at every scope.
    error = await call_error(client, "set_config", {"key": "smcp_port", "value": "70000", "scope": "agent", "target": "Athena"})
    assert "<= 65535" in error
    for url in ("not a url", "localhost:11434", "http://", "http://host:99999", "http://exa mple.com"):
        error = await call_error(client, "set_config", {"key": "ollama_base_url", "value": url, "scope": "system"})
        assert "a URL with a scheme and a host" in error, url
    assert snapshot(db_path) == before
    for env in ("staging", "production", "development"):
        assert (await call(client, "switch_environment", {"environment": env, "confirm": True}))["applied"]
    await call(client, "set_config", {"key": "flask_port", "value": "65535", "scope": "system"})
    await call(client, "set_config", {"key": "ollama_base_url", "value": "https://ollama.example:11434/v1", "scope": "system"})


async def test_values_are_stored_as_written(client, db_path):
    await call(client, "set_config", {"key": "letta_data_path", "value": "~/letta-data", "scope": "system"})
    with sqlite3.connect(db_path) as conn:
        values = dict(conn.execute("SELECT config_key, config_value FROM system_config"))
    assert values["sanctum_base_path"] == "~/sanctum" and values["letta_data_path"] == "~/letta-data"


async def test_a_key_has_one_type_and_sensitivity_everywhere(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    before = snapshot(db_path)
    error = await call_error(client, "set_config", {"key": "flask_port", "value": "x", "scope": "agent", "target": "Athena", "type": "string"})
    assert "integer key" in error and "type='integer'" in error
    error = await call_error(client, "set_config", {"key": "openai_api_key", "value": "x", "scope": "system", "sensitive": False})
    assert "stays sensitive" in error
    assert snapshot(db_path) == before
    # An override of a sensitive key is sensitive too, without saying so.
    result = await call(client, "set_config", {"key": "openai_api_key", "value": "sk-athena-000000000", "scope": "agent", "target": "Athena"})
    assert result["entry"]["sensitive"] is True and result["entry"]["value"] == "********0000"


async def test_bad_keys_scopes_and_targets_are_refused(client, db_path):
    before = snapshot(db_path)
    for value in ([1, 2], {"a": 1}, None):  # objects and arrays go as JSON text
        error = await call_error(client, "set_config", {"key": "a", "value": value, "scope": "system", "type": "json"})
        assert "value" in error
    for key in ("Flask_Port", "has space", "1st", "x" * 129):
        error = await call_error(client, "set_config", {"key": key, "value": "1", "scope": "system"})
        assert "key" in error
    error = await call_error(client, "set_config", {"key": "a", "value": "1", "scope": "agent"})
    assert "needs a target" in error
    error = await call_error(client, "set_config", {"key": "a", "value": "1", "scope": "system", "target": "Athena"})
    assert "no target" in error
    error = await call_error(client, "set_config", {"key": "a", "value": "1", "scope": "galaxy"})
    assert "scope" in error
    error = await call_error(client, "set_config", {"key": "a", "value": "1", "scope": "system", "category": "misc"})
    assert "api_keys, paths, ports, general" in error
    error = await call_error(client, "set_config", {"key": "a", "value": "1", "scope": "system", "colour": "red"})
    assert "colour" in error
    assert snapshot(db_path) == before


# --- versions, check-and-set, history, rollback ---------------------------------------------------


async def test_check_and_set(client, db_path):
    got = await call(client, "get_config", {"key": "flask_port"})
    first = await call(client, "set_config", {"key": "flask_port", "value": "5001", "scope": "system",
                                              "expected_version": got["version"]})
    assert (first["version"], first["previous_version"], first["change"]) == (2, 1, "set")
    before = snapshot(db_path)
    error = await call_error(client, "set_config", {"key": "flask_port", "value": "5002", "scope": "system",
                                                    "expected_version": 1})
    assert "now version 2, not version 1" in error and "expected_version=2" in error
    assert snapshot(db_path) == before
    # expected_version=0: create only.
    await call(client, "set_config", {"key": "fresh", "value": "a", "scope": "system", "expected_version": 0})
    error = await call_error(client, "set_config", {"key": "fresh", "value": "b", "scope": "system", "expected_version": 0})
    assert "now version 1" in error


async def test_setting_the_same_value_is_a_no_op(client):
    result = await call(client, "set_config", {"key": "debug_mode", "value": "YES", "scope": "system"})
    assert (result["change"], result["version"]) == ("unchanged", 1)


async def test_two_concurrent_writers_one_wins(db_path):
    """Two servers on one database file, each with its own connection: check-and-set lets exactly
    one of two writers that read the same version win; the other is told the current version."""
    first, second = await Registry.open(db_path), await Registry.open(db_path)
    try:
        async with Client(build_server(first)) as a, Client(build_server(second)) as b:
            version = (await call(a, "get_config", {"key": "smcp_port"}))["version"]
            results = await asyncio.gather(
                a.call_tool("set_config", {"key": "smcp_port", "value": "9101", "scope": "system", "expected_version": version}),
                b.call_tool("set_config", {"key": "smcp_port", "value": "9202", "scope": "system", "expected_version": version}),
            )
            winners = [r for r in results if not r.is_error]
            losers = [r for r in results if r.is_error]
            assert len(winners) == 1 and len(losers) == 1
            assert f"now version {version + 1}, not version {version}" in losers[0].content[0].text
            final = await call(b, "get_config", {"key": "smcp_port"})
            assert final["value"] == winners[0].structured_content["entry"]["value"]
            assert final["version"] == version + 1
    finally:
        await first.close()
        await second.close()


async def test_no_lost_update_under_contention(db_path):
    """Two writers each add 1 to a counter 15 times with read / check-and-set / retry: all 30 land."""
    registries = [await Registry.open(db_path) for _ in range(2)]
    await registries[0].config.set(LOCAL_OPERATOR, "counter", "0", scope="system", value_type="integer")

    async def incrementer(registry: Registry) -> int:
        conflicts = 0
        for _ in range(15):
            while True:
                current = await registry.config.get(LOCAL_OPERATOR, "counter")
                try:
                    await registry.config.set(LOCAL_OPERATOR, "counter", str(int(current.value) + 1), scope="system",
                                              expected_version=current.version)
                    break
                except Conflict as exc:
                    assert "now version" in str(exc)
                    conflicts += 1
        return conflicts

    try:
        await asyncio.gather(*(incrementer(r) for r in registries))
        final = await registries[0].config.get(LOCAL_OPERATOR, "counter")
        assert final.value == "30" and final.version == 31
    finally:
        for r in registries:
            await r.close()


async def test_history_and_rollback(client):
    for port in ("5001", "5002", "5003"):
        await call(client, "set_config", {"key": "flask_port", "value": port, "scope": "system"})
    history = await call(client, "config_history", {"key": "flask_port", "scope": "system"})
    assert [(e["version"], e["value"], e["change"], e["changed_by"]) for e in history["entries"]] == [
        (4, "5003", "set", "operator"), (3, "5002", "set", "operator"), (2, "5001", "set", "operator"), (1, "5000", "set", "seed")
    ]
    back = await call_confirmed(client, "rollback_config", {"key": "flask_port", "scope": "system", "version": 2, "expected_version": 4})
    assert (back["change"], back["version"], back["entry"]["value"]) == ("rollback", 5, "5001")
    again = await call(client, "rollback_config", {"key": "flask_port", "scope": "system", "version": 2})
    assert again["change"] == "unchanged" and again["version"] == 5
    assert (await call(client, "get_config", {"key": "flask_port"}))["value"] == "5001"
    # Back to the seeded default through history too.
    await call_confirmed(client, "rollback_config", {"key": "flask_port", "scope": "system", "version": 1})
    assert (await call(client, "get_config", {"key": "flask_port"}))["value"] == "5000"
    error = await call_error(client, "rollback_config", {"key": "flask_port", "scope": "system", "version": 42})
    assert "no version 42" in error and "config_history" in error
    error = await call_error(client, "rollback_config", {"key": "flask_port", "scope": "system", "version": 2, "expected_version": 3})
    assert "now version 6" in error


async def test_history_pages_and_survives_delete(client):
    await call(client, "create_agent", {"name": "Athena"})
    for i in range(7):
        await call(client, "set_config", {"key": "mood", "value": f"v{i}", "scope": "agent", "target": "Athena"})
    deleted = await call(client, "delete_config", {"key": "mood", "scope": "agent", "target": "Athena"})
    assert deleted["change"] == "delete" and deleted["entry"] is None and deleted["version"] == 8
    seen, cursor = [], None
    while True:
        page = await call(client, "config_history", {"key": "mood", "scope": "agent", "target": "Athena", "limit": 3}
                          | ({"cursor": cursor} if cursor else {}))
        seen += [(e["version"], e["change"]) for e in page["entries"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == [(8, "delete")] + [(v, "set") for v in range(7, 0, -1)]
    error = await call_error(client, "rollback_config", {"key": "mood", "scope": "agent", "target": "Athena", "version": 8})
    assert "records a deletion" in error
    # Rolling back after a delete brings the value back as a new version (never reusing numbers).
    back = await call_confirmed(client, "rollback_config", {"key": "mood", "scope": "agent", "target": "Athena", "version": 3})
    assert (back["version"], back["previous_version"], back["entry"]["value"]) == (9, 0, "v2")


async def test_delete_and_reset_rules(client, db_path):
    before = snapshot(db_path)
    error = await call_error(client, "delete_config", {"key": "flask_port", "scope": "system"})
    assert "seeded system default" in error and "reset_config" in error
    error = await call_error(client, "delete_config", {"key": "nothing_here", "scope": "system"})
    assert "unknown configuration key" in error
    assert (await call(client, "reset_config", {"key": "flask_port"}))["change"] == "unchanged"
    assert snapshot(db_path) == before
    await call(client, "set_config", {"key": "debug_mode", "value": "false", "scope": "system"})
    reset = await call(client, "reset_config", {"key": "debug_mode"})
    assert (reset["change"], reset["entry"]["value"], reset["version"]) == ("reset", "true", 3)
    assert (await call(client, "reset_config", {"key": "debug_mode"}))["change"] == "unchanged"
    await call(client, "set_config", {"key": "mine", "value": "x", "scope": "system"})
    error = await call_error(client, "reset_config", {"key": "mine"})
    assert "not a seeded default" in error
    await call(client, "delete_config", {"key": "mine", "scope": "system", "expected_version": 1})
    error = await call_error(client, "get_config", {"key": "mine"})
    assert "unknown configuration key" in error


async def test_every_config_mutation_is_audited_once(client, db_path):
    await call(client, "set_config", {"key": "flask_port", "value": "5001", "scope": "system"})
    await call_confirmed(client, "rollback_config", {"key": "flask_port", "scope": "system", "version": 1})
    await call(client, "set_config", {"key": "flask_port", "value": "5002", "scope": "system"})
    await call(client, "reset_config", {"key": "flask_port"})
    await call(client, "set_config", {"key": "scratch", "value": "1", "scope": "system"})
    await call(client, "delete_config", {"key": "scratch", "scope": "system"})
    await call_error(client, "set_config", {"key": "flask_port", "value": "0", "scope": "system"})
    await call(client, "set_config", {"key": "flask_port", "value": "5000", "scope": "system"})  # unchanged
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT action, details FROM logs WHERE action LIKE 'config.%' ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["config.set", "config.rollback", "config.set", "config.reset", "config.set", "config.delete"]
    details = json.loads(rows[0][1])
    assert details["before"]["value"] == "5000" and details["after"]["value"] == "5001"


# --- listing ---------------------------------------------------------------------------------------


async def test_list_config_pages_to_the_end(modern_client):
    client = modern_client
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "create_agent", {"name": "Monday"})
    for i in range(12):
        await call(client, "set_config", {"key": f"k{i:02d}", "value": str(i), "scope": "agent", "target": "Athena" if i % 2 else "Monday",
                                          "create": True})
    seen, cursor, pages = [], None, 0
    while True:
        page = await call(client, "list_config", {"limit": 4} | ({"cursor": cursor} if cursor else {}))
        seen += [(e["scope"], e["target"], e["key"]) for e in page["entries"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(seen) == SEEDED + 12 == len(set(seen)) and pages == -(-(SEEDED + 12) // 4)  # pages of 4
    assert [s for s in seen if s[0] == "system"] == sorted(s for s in seen if s[0] == "system") == seen[:SEEDED]
    # filters
    athena = await call(client, "list_config", {"scope": "agent", "target": "athena"})
    assert {e["key"] for e in athena["entries"]} == {f"k{i:02d}" for i in range(1, 12, 2)}
    ports = await call(client, "list_config", {"category": "ports"})
    assert {e["key"] for e in ports["entries"]} == {"flask_port", "smcp_port"}
    prefixed = await call(client, "list_config", {"prefix": "k1"})
    assert {e["key"] for e in prefixed["entries"]} == {"k10", "k11"}
    system = await call(client, "list_config", {"scope": "system", "prefix": "o"})
    assert [e["key"] for e in system["entries"]] == ["ollama_base_url", "openai_api_key"]
    assert system["entries"][1]["value"] == "********" and system["entries"][1]["has_value"] is False
    error = await call_error(client, "list_config", {"target": "Athena"})
    assert "needs scope" in error
    error = await call_error(client, "list_config", {"cursor": "bogus"})
    assert "without a cursor" in error


async def test_an_exact_last_page_has_no_cursor(modern_client):
    page = await call(modern_client, "list_config", {"limit": SEEDED})
    assert len(page["entries"]) == SEEDED and page.get("next_cursor") is None


# --- objects going away ---------------------------------------------------------------------------


async def test_deleting_an_agent_removes_its_settings(client, db_path):
    ids = await setup_athena(client, db_path)
    await call(client, "set_config", {"key": "smcp_port", "value": "9001", "scope": "agent", "target": "Athena"})
    await call(client, "set_config", {"key": "smcp_port", "value": "9003", "scope": "instance", "target": str(ids["instance"])})
    await call(client, "set_config", {"key": "smcp_port", "value": "9002", "scope": "tool", "target": "mailer"})
    result = await call_confirmed(client, "delete_agent", {"agent": "Athena", "cascade": True})
    assert sorted(result["removed_configurations"]) == [f"agent:{ids['agent']}:smcp_port", f"instance:{ids['instance']}:smcp_port"]
    with sqlite3.connect(db_path) as conn:
        left = conn.execute("SELECT scope, target FROM configurations").fetchall()
        deletions = conn.execute("SELECT scope FROM config_history WHERE change = 'delete' ORDER BY scope").fetchall()
    assert left == [("tool", str(ids["tool"]))]
    assert deletions == [("agent",), ("instance",)]
    # A new agent never inherits the old one's settings (ids are never reused).
    new = await call(client, "create_agent", {"name": "Athena"})
    assert new["id"] != ids["agent"]
    assert (await call(client, "get_config", {"key": "smcp_port", "agent": "Athena"}))["value"] == "9000"
    # The deleted agent's history is still readable by id.
    history = await call(client, "config_history", {"key": "smcp_port", "scope": "agent", "target": str(ids["agent"])})
    assert [e["change"] for e in history["entries"]] == ["delete", "set"]


async def test_renaming_an_agent_keeps_its_settings(client):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "set_config", {"key": "smcp_port", "value": "9001", "scope": "agent", "target": "Athena"})
    await call(client, "update_agent", {"agent": "Athena", "name": "Pallas"})
    got = await call(client, "get_config", {"key": "smcp_port", "agent": "Pallas"})
    assert (got["value"], got["target"]) == ("9001", "Pallas")


# --- roles -------------------------------------------------------------------------------------------


@pytest.fixture
def as_role(registry):
    def make(role: str) -> Client:
        caller = Caller(username=f"a-{role}", role=role)
        return Client(build_server(registry, identify=lambda _ctx: caller))
    return make


async def test_roles(as_role, db_path):
    before = config_state(db_path)
    async with as_role("viewer") as viewer:
        assert (await call(viewer, "get_config", {"key": "flask_port"}))["value"] == "5000"
        await call(viewer, "list_config")
        error = await call_error(viewer, "set_config", {"key": "flask_port", "value": "5001", "scope": "system"})
        assert "needs the 'user' role" in error
    async with as_role("user") as user:
        for args in (
            {"key": "openai_api_key", "value": "sk-0000000000000", "scope": "system"},
            {"key": "new_secret", "value": "s3cret-value-here", "scope": "system", "sensitive": True},
        ):
            error = await call_error(user, "set_config", args)
            assert "'admin' role" in error
        error = await call_error(user, "get_config", {"key": "openai_api_key", "reveal": True})
        assert "'admin' role" in error
        error = await call_error(user, "reset_config", {"key": "openai_api_key"})
        assert "'admin' role" in error
        assert config_state(db_path) == before
        await call(user, "set_config", {"key": "flask_port", "value": "5001", "scope": "system"})
    async with as_role("admin") as admin:
        await call(admin, "set_config", {"key": "openai_api_key", "value": "sk-0000000000000", "scope": "system"})
    async with as_role("user") as user:
        error = await call_error(user, "rollback_config", {"key": "openai_api_key", "scope": "system", "version": 1})
        assert "'admin' role" in error
        error = await call_error(user, "reset_config", {"key": "openai_api_key"})
        assert "'admin' role" in error


# --- surfaces ----------------------------------------------------------------------------------------


async def test_config_resources(client, db_path):
    ids = await setup_athena(client, db_path)
    await call(client, "set_config", {"key": "openai_api_key", "value": "sk-resource-secret-1234", "scope": "system"})
    await call(client, "set_config", {"key": "smcp_port", "value": "9001", "scope": "agent", "target": "Athena"})
    await call(client, "set_config", {"key": "smcp_port", "value": "9003", "scope": "instance", "target": str(ids["instance"])})
    system = json.loads((await client.read_resource("sanctum://config/system")).contents[0].text)
    values = {e["key"]: e["value"] for e in system["entries"]}
    assert values["openai_api_key"] == "********1234" and values["sanctum_base_path"] == "~/sanctum" and len(values) == SEEDED
    athena = json.loads((await client.read_resource("sanctum://config/agent/Athena")).contents[0].text)
    assert [(e["key"], e["value"]) for e in athena["entries"]] == [("smcp_port", "9001")]
    instance = json.loads((await client.read_resource(f"sanctum://config/instance/{ids['instance']}")).contents[0].text)
    assert instance["entries"][0]["target"] == "athena-mailer"
    for uri in ("sanctum://config/agent/Nobody", "sanctum://config/system/x", "sanctum://config/planet/x"):
        with pytest.raises(Exception) as failure:
            await client.read_resource(uri)
        assert "Traceback" not in str(failure.value)


async def test_configure_sanctum_prompt(client):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "set_config", {"key": "openai_api_key", "value": "sk-prompt-secret-9876", "scope": "system"})
    await call(client, "set_config", {"key": "smcp_port", "value": "9001", "scope": "agent", "target": "Athena"})
    prompts = await client.list_prompts()
    assert "configure_sanctum" in [p.name for p in prompts.prompts]
    text = (await client.get_prompt("configure_sanctum", {"agent": "Athena"})).messages[0].content.text
    assert "openai_api_key = ********9876" in text and "sk-prompt-secret" not in text
    assert "smcp_port = 9001" in text and "expected_version" in text and "config_history" in text
    plain = (await client.get_prompt("configure_sanctum", {})).messages[0].content.text
    assert "1 agent-level" in plain and "Settings of agent" not in plain
    with pytest.raises(Exception) as failure:
        await client.get_prompt("configure_sanctum", {"agent": "Nobody"})
    assert "no agent named 'Nobody'" in str(failure.value) and "list_agents" in str(failure.value)


def test_config_tool_schemas_are_letta_safe():
    from sanctum_mcp.catalogue import all_tools

    for spec in all_tools().values():
        if spec.group != "Configuration":
            continue
        assert len(spec.name) <= 48
        for name, prop in spec.input_schema["properties"].items():
            assert "type" in prop, (spec.name, name)  # descriptions: test_tool_contract's rule


# --- the operator CLI ------------------------------------------------------------------------------


def cli(db_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sanctum_mcp", *args, "--db", str(db_path)],
        input=stdin, capture_output=True, text=True, env=server_env(db_path), cwd=str(REPO.parent), timeout=60,
    )


def test_cli_config_commands(db_path):
    done = cli(db_path, "config", "get", "flask_port")
    assert done.returncode == 0 and "flask_port = 5000" in done.stdout and "system level" in done.stdout
    done = cli(db_path, "config", "set", "flask_port", "5001", "--expected-version", "1")
    assert done.returncode == 0 and "now 5001 (version 2; was 5000)" in done.stdout
    done = cli(db_path, "config", "set", "flask_port", "5002", "--expected-version", "1")
    assert done.returncode == 1 and "now version 2, not version 1" in done.stderr and "Traceback" not in done.stderr
    done = cli(db_path, "config", "set", "flask_port", "80.5")
    assert done.returncode == 1 and "is an integer" in done.stderr
    done = cli(db_path, "config", "set", "anthropic_api_key", "-", stdin="sk-ant-from-stdin-4321\n")
    assert done.returncode == 0 and "********4321" in done.stdout and "from-stdin" not in done.stdout
    done = cli(db_path, "config", "list", "--category", "api_keys")
    assert done.returncode == 0 and "********4321" in done.stdout and "from-stdin" not in done.stdout
    listed = json.loads(cli(db_path, "config", "list", "--json").stdout)
    assert len(listed) == SEEDED
    done = cli(db_path, "config", "history", "flask_port")
    assert done.returncode == 0 and [line.split()[0] for line in done.stdout.splitlines()] == ["VERSION", "2", "1"]
    done = cli(db_path, "config", "rollback", "flask_port", "1", "--yes")
    assert done.returncode == 0 and "now 5000 (version 3" in done.stdout
    done = cli(db_path, "config", "get", "anthropic_api_key", "--reveal")
    assert "revealed: sk-ant-from-stdin-4321" in done.stdout
    done = cli(db_path, "config", "get", "flask_prot")
    assert done.returncode == 1 and "flask_port" in done.stderr
    done = cli(db_path, "config", "reset", "flask_port")
    assert done.returncode == 0 and "already has its default" in done.stdout
    done = cli(db_path, "config", "delete", "flask_port")
    # The CLI names its own command, not the MCP tool (commands/wording.py).
    assert done.returncode == 1 and "call sanctum-mcp config reset" in done.stderr and "reset_config" not in done.stderr
    got = json.loads(cli(db_path, "config", "get", "anthropic_api_key", "--json").stdout)
    assert got["value"] == "********4321" and got["revealed_value"] is None
    with sqlite3.connect(db_path) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM logs WHERE action LIKE 'config.%' ORDER BY id")]
    assert actions == ["config.set", "config.set", "config.rollback", "config.reveal"]


async def test_get_config_reads_inline_while_another_process_writes(client, db_path):
    """get_config reads on the event loop's thread (no thread hop): it must neither block on, nor
    see, another connection's uncommitted write, and must see it once committed."""
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE system_config SET config_value = '5999', version = 2 WHERE config_key = 'flask_port'")
        assert (await call(client, "get_config", {"key": "flask_port"}))["value"] == "5000"
        other.execute("COMMIT")
        assert (await call(client, "get_config", {"key": "flask_port"}))["value"] == "5999"
    finally:
        other.close()


async def test_user_scope_settings_are_their_owners_to_change(registry, db_path):
    op = registry.operator
    for name in ("ana", "bob"):
        await registry.users.create(op, username=name, role="user", email=None, permissions=None)
    ana = await registry.users.local_caller("ana", default_name="operator")
    async with Client(build_server(registry, identify=lambda _ctx: ana)) as client:
        await call(client, "set_config", {"key": "theme", "value": "dark", "scope": "user", "target": "ana"})
        before = snapshot(db_path)
        for tool, args in (
            ("set_config", {"key": "theme", "value": "light", "scope": "user", "target": "bob"}),
            ("delete_config", {"key": "theme", "scope": "user", "target": "bob"}),
            ("rollback_config", {"key": "theme", "scope": "user", "target": "bob", "version": 1}),
        ):
            error = await call_error(client, tool, args)
            assert "'bob'" in error and "only their own" in error, (tool, error)
        # Nothing changed but the audit rows of the three refusals (run_tool audits every refusal).
        assert [line for line in snapshot(db_path) if "logs" not in line] == [line for line in before if "logs" not in line]
        with sqlite3.connect(db_path) as conn:
            refused = conn.execute("SELECT source_id, user_id FROM logs WHERE action = 'access.denied' ORDER BY id").fetchall()
        assert refused == [(tool, ana.user_id) for tool in ("set_config", "delete_config", "rollback_config")]
        await call(client, "delete_config", {"key": "theme", "scope": "user", "target": "ana"})
    async with Client(build_server(registry)) as admin:  # the operator is an admin: anyone's preferences
        await call(admin, "set_config", {"key": "theme", "value": "light", "scope": "user", "target": "bob"})
    assert (await registry.config.get(op, "theme", user="bob")).value == "light"


@pytest.mark.parametrize("scope", ["agent", "tool", "user", "instance"])
@pytest.mark.parametrize("ref", ["\u00b9", "\u0663", "99999999999999999999"])
async def test_unicode_digits_and_huge_numbers_as_targets_are_a_clear_not_found(client, db_path, scope, ref):
    """'¹' and '٣' are digits to Python's isdigit() and int() but no id; 2**66 is beyond SQLite's
    integers. Each is a reference to nothing: a clear error naming the listing, never an internal one."""
    before = snapshot(db_path)
    for tool, args in (("delete_config", {"key": "smcp_port", "scope": scope, "target": ref}),
                       ("list_config", {"scope": scope, "target": ref})):
        error = await call_error(client, tool, args)
        assert "unexpectedly" not in error and ("no " in error or "numeric id" in error), error
    assert snapshot(db_path) == before
