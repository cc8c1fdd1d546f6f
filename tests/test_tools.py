"""Tools and tool instances through the in-memory client (both protocol eras)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from support import athena_monday_and_instances, call, call_confirmed, call_error, snapshot

from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR

MAILER_SCHEMA = {
    "type": "object",
    "required": ["smtp"],
    "properties": {
        "smtp": {
            "type": "object",
            "required": ["host", "port"],
            "properties": {
                "host": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "password": {"type": "string", "writeOnly": True},
            },
            "additionalProperties": False,
        },
        "recipients": {"type": "array", "items": {"type": "string", "format": "email"}},
    },
}
GOOD_CONFIG = {"smtp": {"host": "mail.example.org", "port": 587}, "recipients": ["ops@example.org"]}


async def _mailer(client, **extra):
    return await call(client, "create_tool", {"name": "mailer", "config_schema": MAILER_SCHEMA, **extra})


# --- the catalog ---------------------------------------------------------------------------------


async def test_create_get_list_and_filter(client):
    created = await _mailer(client, description="Sends mail", emoji="📧")
    assert created["category"] == "master" and created["tool_type"] == "utility" and created["is_enabled"] is True
    assert created["config_schema"] == MAILER_SCHEMA
    assert await call(client, "get_tool", {"tool": "MAILER"}) == created
    assert await call(client, "get_tool", {"tool": str(created["id"])}) == created
    await call(client, "create_tool", {"name": "athena-notes", "category": "athena", "tool_type": "service"})
    await call(client, "create_tool", {"name": "tempo", "category": "timbre", "enabled": False, "status": "Off"})
    names = lambda page: [t["name"] for t in page["tools"]]  # noqa: E731
    assert names(await call(client, "list_tools")) == ["athena-notes", "mailer", "tempo"]
    assert names(await call(client, "list_tools", {"category": "athena"})) == ["athena-notes"]
    assert names(await call(client, "list_tools", {"tool_type": "service"})) == ["athena-notes"]
    assert names(await call(client, "list_tools", {"enabled": False})) == ["tempo"]
    assert names(await call(client, "list_tools", {"status": "Off"})) == ["tempo"]
    first = await call(client, "list_tools", {"limit": 2})
    assert names(first) == ["athena-notes", "mailer"] and first["next_cursor"]
    second = await call(client, "list_tools", {"limit": 2, "cursor": first["next_cursor"]})
    assert names(second) == ["tempo"] and second.get("next_cursor") is None


async def test_unknown_category_is_refused_naming_the_allowed_ones(client, registry, db_path):
    before = snapshot(db_path)
    error = await call_error(client, "create_tool", {"name": "x", "category": "zeus"})
    assert "category" in error and "'master'" in error and "'smcp'" in error
    # The domain refuses it too, for callers that do not pass through the input model.
    with pytest.raises(InvalidInput) as refused:
        await registry.tools.create_tool(LOCAL_OPERATOR, {"name": "x", "category": "zeus", "tool_type": "utility"})
    assert "master, athena, monday, timbre, smcp" in str(refused.value)
    assert snapshot(db_path) == before


async def test_config_schema_must_be_a_valid_json_schema(client, db_path):
    before = snapshot(db_path)
    error = await call_error(client, "create_tool", {
        "name": "bad", "config_schema": {"type": "object", "properties": {"port": {"type": "integr"}}},
    })
    assert "not a valid JSON Schema" in error and "$.properties.port.type" in error
    error = await call_error(client, "create_tool", {"name": "bad", "config_schema": {"minimum": "ten"}})
    assert "$.minimum" in error
    error = await call_error(client, "create_tool", {"name": "bad", "config_schema": {"type": "string"}})
    assert "must describe a JSON object" in error
    assert snapshot(db_path) == before
    await call(client, "create_tool", {"name": "anything", "config_schema": {}})


async def test_names_are_unique_ignoring_case(client, db_path):
    await _mailer(client)
    before = snapshot(db_path)
    error = await call_error(client, "create_tool", {"name": "MAILER"})
    assert "already exists" in error and "update_tool" in error
    error = await call_error(client, "create_tool", {"name": "42"})
    assert "digits" in error
    assert snapshot(db_path) == before


# --- instances: config validated against the schema, errors name the JSON path -----------------------


async def test_instance_config_errors_name_the_json_path(client, db_path):
    await _mailer(client)
    before = snapshot(db_path)
    error = await call_error(client, "create_tool_instance", {
        "tool": "mailer", "name": "main",
        "config": {"smtp": {"port": 70000, "password": "hunter2-is-secret", "tls": True}, "recipients": ["nope"]},
    })
    assert "$.smtp.port: must be <= 65535" in error
    assert "$.smtp.host: required property is missing" in error
    assert "$.smtp.tls: property is not allowed" in error
    assert "$.recipients[0]: must be a valid email" in error
    assert "hunter2" not in error and "70000" not in error  # the rule, never the rejected value
    error = await call_error(client, "create_tool_instance", {"tool": "mailer", "name": "main"})
    assert "$.smtp: required property is missing" in error
    assert snapshot(db_path) == before
    created = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": GOOD_CONFIG})
    assert created["config"] == GOOD_CONFIG and created["agent"] is None and created["tool"] == "mailer"
    error = await call_error(client, "update_tool_instance", {"instance": created["id"], "config": {"smtp": {"host": "h", "port": "25"}}})
    assert "$.smtp.port: must be of type integer" in error


async def test_master_tools_have_no_agent_and_agent_tools_need_one(client):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "create_tool", {"name": "shared"})
    await call(client, "create_tool", {"name": "notes", "category": "athena"})
    await call(client, "create_tool", {"name": "smcp-cmd", "category": "smcp"})
    error = await call_error(client, "create_tool_instance", {"tool": "shared", "name": "i", "agent": "Athena"})
    assert "master tool" in error and "Leave agent out" in error
    error = await call_error(client, "create_tool_instance", {"tool": "notes", "name": "i"})
    assert "belong to an agent" in error
    error = await call_error(client, "create_tool_instance", {"tool": "notes", "name": "i", "agent": "Nobody"})
    assert "list_agents" in error
    host = await call(client, "create_tool_instance", {"tool": "shared", "name": "i"})
    mine = await call(client, "create_tool_instance", {"tool": "notes", "name": "i", "agent": "athena"})
    assert host["agent"] is None and mine["agent"] == "Athena"
    await call(client, "create_tool_instance", {"tool": "smcp-cmd", "name": "i"})
    await call(client, "create_tool_instance", {"tool": "smcp-cmd", "name": "i", "agent": "Athena"})
    error = await call_error(client, "create_tool_instance", {"tool": "notes", "name": "I", "agent": "Athena"})
    assert "already has an instance named 'i'" in error
    # A category change that existing instances would break is refused.
    error = await call_error(client, "update_tool", {"tool": "notes", "category": "master"})
    assert "'i'" in error and "have an agent" in error
    page = await call(client, "list_tool_instances", {"agent": "Athena"})
    assert sorted(i["tool"] for i in page["instances"]) == ["notes", "smcp-cmd"]
    page = await call(client, "list_tool_instances", {"tool": "smcp-cmd"})
    assert [i["agent"] for i in page["instances"]] == [None, "Athena"]


async def test_an_instance_of_a_disabled_tool_cannot_be_activated(client, db_path):
    await _mailer(client, enabled=False)
    before = snapshot(db_path)
    error = await call_error(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": GOOD_CONFIG})
    assert "disabled" in error and "enabled=true" in error and "active=false" in error
    assert snapshot(db_path) == before
    inst = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": GOOD_CONFIG, "active": False})
    assert inst["is_active"] is False and inst["tool_enabled"] is False
    error = await call_error(client, "update_tool_instance", {"instance": inst["id"], "active": True})
    assert "disabled" in error
    await call(client, "update_tool", {"tool": "mailer", "enabled": True})
    activated = await call(client, "update_tool_instance", {"instance": inst["id"], "active": True})
    assert activated["is_active"] is True and activated["tool_enabled"] is True


async def test_schema_change_must_fit_existing_instances(client, db_path):
    await _mailer(client)
    inst = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": GOOD_CONFIG})
    stricter = json.loads(json.dumps(MAILER_SCHEMA))
    stricter["properties"]["smtp"]["properties"]["port"]["maximum"] = 100
    before = snapshot(db_path)
    error = await call_error(client, "update_tool", {"tool": "mailer", "config_schema": stricter})
    assert "'main'" in error and f"id {inst['id']}" in error and "$.smtp.port: must be <= 100" in error
    assert snapshot(db_path) == before
    looser = json.loads(json.dumps(MAILER_SCHEMA))
    looser["properties"]["smtp"]["properties"]["port"]["maximum"] = 1000
    assert (await call(client, "update_tool", {"tool": "mailer", "config_schema": looser}))["config_schema"] == looser


async def test_write_only_properties_are_encrypted_and_masked(client, registry, db_path):
    await _mailer(client)
    secret = "correct-horse-battery-staple"
    config = {"smtp": {"host": "mail", "port": 25, "password": secret}}
    inst = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": config})
    assert inst["config"]["smtp"]["password"] == "********aple"
    shown = await call(client, "get_tool_instance", {"instance": inst["id"]})
    assert shown["config"]["smtp"]["password"] == "********aple"
    # Sending the mask back keeps the secret; other fields change.
    masked = json.loads(json.dumps(shown["config"]))
    masked["smtp"]["port"] = 26
    updated = await call(client, "update_tool_instance", {"instance": inst["id"], "config": masked})
    assert updated["config"]["smtp"] == {"host": "mail", "port": 26, "password": "********aple"}
    with sqlite3.connect(db_path) as conn:
        dump = "\n".join(conn.iterdump())
    assert secret not in dump and "fernet:" in dump  # encrypted at rest, and never in an audit row
    from sanctum_mcp.domain.tools.instance_config import InstanceConfig
    from sanctum_mcp.domain.tools.models import Tool

    tool = await registry.tools.get_tool("mailer")
    assert isinstance(tool, Tool)

    def stored(conn):
        return json.loads(conn.execute("SELECT config FROM tool_instances WHERE id = ?", (inst["id"],)).fetchone()[0])

    plain = InstanceConfig(registry.secrets, tool.config_schema).plaintext(await registry.db.read(stored))
    assert plain["smtp"]["password"] == secret
    # A new value replaces it.
    masked["smtp"]["password"] = "another-long-password"
    updated = await call(client, "update_tool_instance", {"instance": inst["id"], "config": masked})
    assert updated["config"]["smtp"]["password"] == "********word"
    # A schema change cannot turn a stored secret into plain text.
    exposing = json.loads(json.dumps(MAILER_SCHEMA))
    del exposing["properties"]["smtp"]["properties"]["password"]["writeOnly"]
    before = snapshot(db_path)
    error = await call_error(client, "update_tool", {"tool": "mailer", "config_schema": exposing})
    assert "$.smtp.password" in error and "writeOnly" in error and "another-long-password" not in error
    assert snapshot(db_path) == before


# --- deleting -------------------------------------------------------------------------------------------


def _add_job(db_path, instance_id: int, name: str = "digest") -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("INSERT INTO scheduled_jobs (name, cron_expression, tool_instance_id) VALUES (?, '0 8 * * *', ?)",
                     (name, instance_id))


async def test_delete_tool_refuses_while_instances_exist_then_cascades(client, db_path):
    await _mailer(client)
    inst = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": GOOD_CONFIG})
    _add_job(db_path, inst["id"])
    before = snapshot(db_path)
    error = await call_error(client, "delete_tool", {"tool": "mailer"})
    assert "'main'" in error and "'digest'" in error and "cascade=true" in error
    assert snapshot(db_path) == before
    result = await call_confirmed(client, "delete_tool", {"tool": "mailer", "cascade": True})
    assert result["removed_tool_instances"] == ["main"] and result["removed_scheduled_jobs"] == ["digest"]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM tool_instances").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM scheduled_jobs").fetchone()[0] == 0
    await call_error(client, "get_tool", {"tool": "mailer"})


async def test_delete_instance_refuses_while_jobs_run_it(client, db_path):
    await _mailer(client)
    inst = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": GOOD_CONFIG})
    _add_job(db_path, inst["id"])
    before = snapshot(db_path)
    error = await call_error(client, "delete_tool_instance", {"instance": inst["id"]})
    assert "'digest'" in error and "cascade=true" in error
    assert snapshot(db_path) == before
    result = await call_confirmed(client, "delete_tool_instance", {"instance": inst["id"], "cascade": True})
    assert result["removed_scheduled_jobs"] == ["digest"] and result["deleted"]["name"] == "main"
    error = await call_error(client, "get_tool_instance", {"instance": inst["id"]})
    assert "list_tool_instances" in error


async def test_every_mutation_is_audited_once(client, db_path):
    await _mailer(client)
    inst = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main", "config": GOOD_CONFIG})
    await call(client, "update_tool_instance", {"instance": inst["id"], "status": "Healthy"})
    await call(client, "update_tool", {"tool": "mailer", "emoji": "✉"})
    await call(client, "delete_tool_instance", {"instance": inst["id"]})
    await call(client, "delete_tool", {"tool": "mailer"})
    with sqlite3.connect(db_path) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM logs ORDER BY id")]
    assert actions == ["tool.create", "tool_instance.create", "tool_instance.update", "tool.update",
                       "tool_instance.delete", "tool.delete"]


async def test_agent_limited_users_reach_only_their_agents_instances(registry, db_path):
    from mcp import Client

    from sanctum_mcp.domain.users.models import PermissionSet
    from sanctum_mcp.server.app import build_server

    op = registry.operator
    mine, theirs, host = await athena_monday_and_instances(registry)
    await registry.users.create(op, username="limited", role="user", email=None,
                                permissions=PermissionSet(agents=["Athena"]))
    caller = await registry.users.local_caller("limited", default_name="operator")
    async with Client(build_server(registry, identify=lambda _ctx: caller)) as limited:
        assert (await call(limited, "get_tool_instance", {"instance": mine.id}))["agent"] == "Athena"
        await call(limited, "update_tool_instance", {"instance": mine.id, "status": "Healthy"})
        assert (await call(limited, "get_tool_instance", {"instance": host.id}))["agent"] is None
        before = snapshot(db_path)
        for tool_name, args in [
            ("get_tool_instance", {"instance": theirs.id}),
            ("update_tool_instance", {"instance": theirs.id, "status": "Off"}),
            ("delete_tool_instance", {"instance": theirs.id}),
            ("create_tool_instance", {"tool": "notes", "agent": "Monday", "name": "x"}),
        ]:
            error = await call_error(limited, tool_name, args)
            assert "'Monday'" in error and "Athena" in error, (tool_name, error)
        error = await call_error(limited, "update_tool_instance", {"instance": host.id, "status": "Off"})
        assert "host-wide" in error
        assert [line for line in snapshot(db_path) if "logs" not in line] == [line for line in before if "logs" not in line]
    with sqlite3.connect(db_path) as conn:
        denied = [r[0] for r in conn.execute("SELECT source_id FROM logs WHERE action = 'access.denied' ORDER BY id")]
    assert denied == ["get_tool_instance", "update_tool_instance", "delete_tool_instance", "create_tool_instance",
                      "update_tool_instance"]
