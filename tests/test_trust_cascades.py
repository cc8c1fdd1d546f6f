"""Issue 12, point 11: a user narrowed by permissions.agents must not reach other agents' objects
through a cascade or a change to something shared.

The gate (catalogue/base.py authorize) checks what a call NAMES; these tests are about what a call
would TOUCH besides: the instances and jobs a tool, an instance or an agent takes with it, and the
instances and jobs that a tool's or a plugin's switch, schema or links change for. Each refusal must
name the other agent, be audited (access.denied) and leave the database as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import athena_monday_and_instances, call, call_confirmed, call_error, snapshot, start_http_server, stop

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.users.models import PermissionSet
from sanctum_mcp.server.app import build_server

DAILY = "0 3 * * *"


def denied(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT source_id FROM logs WHERE action = 'access.denied' ORDER BY id")]


def without_logs(db_path: Path) -> list[str]:
    """The database minus the log rows and the bookkeeping of token use (last_used_at, last_login)."""
    bookkeeping = ('"logs"', "'logs'", '"api_tokens"', '"users"')
    return [line for line in snapshot(db_path) if not any(table in line for table in bookkeeping)]


async def world(registry: Registry) -> dict[str, int]:
    """Athena and Monday; tool 'notes' (athena category) with Athena's instance 'a' and Monday's 'm';
    master tool 'shared' with host-wide instance 'h'; tool 'solo' whose only instance is Athena's;
    jobs 'monday-job' (runs 'm') and 'athena-job' (runs 'a'); plugin 'base' linked to Athena only
    and plugin 'ext' (needs base) linked to Monday; plugin 'tooly' linked to tool 'notes'; plugin
    'soloplug' linked to Athena and tool 'solo'; users
    'limited' (role user) and 'boss' (role admin), both limited to Athena."""
    op = registry.operator
    mine, theirs, host = await athena_monday_and_instances(registry)
    await registry.tools.create_tool(op, {"name": "solo", "category": "athena", "tool_type": "utility"})
    solo = await registry.tools.create_instance(op, tool="solo", agent="Athena", name="s", config={})
    await registry.jobs.create(op, {"name": "monday-job", "cron_expression": DAILY, "tool_instance": str(theirs.id)})
    await registry.jobs.create(op, {"name": "athena-job", "cron_expression": DAILY, "tool_instance": str(mine.id)})
    await registry.jobs.create(op, {"name": "solo-job", "cron_expression": DAILY, "tool_instance": str(solo.id)})
    await registry.plugins.register(op, name="base", type="extension", version="1.0.0", config=None, dependencies=[],
                                    agents=["Athena"], tools=[], enabled=None)
    await registry.plugins.register(op, name="ext", type="extension", version="1.0.0", config=None,
                                    dependencies=["base>=1"], agents=["Monday"], tools=[], enabled=None)
    await registry.plugins.register(op, name="tooly", type="mcp", version="1.0.0", config=None, dependencies=[],
                                    agents=[], tools=["notes"], enabled=None)
    await registry.plugins.register(op, name="soloplug", type="mcp", version="1.0.0", config=None, dependencies=[],
                                    agents=["Athena"], tools=["solo"], enabled=None)
    for name, role in (("limited", "user"), ("boss", "admin")):
        await registry.users.create(op, username=name, role=role, email=None, permissions=PermissionSet(agents=["Athena"]))
    return {"mine": mine.id, "theirs": theirs.id, "host": host.id, "solo": solo.id}


@asynccontextmanager
async def as_user(registry: Registry, username: str) -> AsyncIterator[Client]:
    caller = await registry.users.local_caller(username, default_name="operator")
    async with Client(build_server(registry, identify=lambda _ctx: caller)) as client:
        yield client


async def test_cascade_delete_of_a_tool_is_refused_over_http(db_path):
    """The reported attack, through a real HTTP server and the limited user's own token:
    delete_tool(cascade=true) on a tool with Monday's instance and job deletes them."""
    registry = await Registry.open(db_path)
    try:
        await world(registry)
        token = (await registry.users.create_token(registry.operator, "limited", "test")).token
    finally:
        await registry.close()
    server = start_http_server(db_path)
    try:
        before = without_logs(db_path)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            async with Client(streamable_http_client(server.mcp_url, http_client=http)) as client:
                error = await call_error(client, "delete_tool", {"tool": "notes", "cascade": True})
                assert "may only act on the agents Athena" in error and "'Monday'" in error, error
                assert "Nothing was changed" in error
                error = await call_error(client, "update_tool", {"tool": "notes", "enabled": False})
                assert "'Monday'" in error, error
        assert without_logs(db_path) == before
        assert denied(db_path) == ["delete_tool", "update_tool"]
    finally:
        stop(server.process)
        server.log.close()


async def test_changes_reaching_other_agents_objects_are_refused(registry, db_path):
    ids = await world(registry)
    refused = [
        ("delete_tool", {"tool": "notes", "cascade": True}, "'Monday'"),
        ("update_tool", {"tool": "notes", "enabled": False}, "'Monday'"),
        ("update_tool", {"tool": "notes", "category": "smcp"}, "'Monday'"),
        ("update_tool", {"tool": "notes", "config_schema": {"type": "object", "maxProperties": 3}}, "'Monday'"),
        # A master tool's instances are host-wide: a limited user may read them, not delete them.
        ("delete_tool", {"tool": "shared", "cascade": True}, "host-wide"),
        # A plugin switched off or removed stops what the agents linked to it (or to its tools) run.
        ("disable_plugin", {"plugin": "ext"}, "'Monday'"),
        ("disable_plugin", {"plugin": "base", "cascade": True}, "'Monday'"),
        ("disable_plugin", {"plugin": "tooly"}, "'Monday'"),
        ("unlink_plugin", {"plugin": "tooly", "tools": ["notes"]}, "'Monday'"),
        ("link_plugin", {"plugin": "base", "tools": ["notes"]}, "'Monday'"),
    ]
    async with as_user(registry, "limited") as client:
        before = without_logs(db_path)
        for tool_name, args, named in refused:
            error = await call_error(client, tool_name, args)
            assert "may only act on the agents Athena" in error and named in error, (tool_name, args, error)
            assert "Traceback" not in error
        assert without_logs(db_path) == before
        assert denied(db_path) == [name for name, _, _ in refused]

        # What stays within Athena's, or only touches the shared object itself, still works.
        await call(client, "update_tool", {"tool": "notes", "description": "still editable", "status": "Healthy"})
        await call(client, "disable_plugin", {"plugin": "soloplug"})
        await call(client, "enable_plugin", {"plugin": "soloplug"})
        await call(client, "unlink_plugin", {"plugin": "soloplug", "tools": ["solo"]})
    assert len(denied(db_path)) == len(refused)


async def test_a_cascade_within_the_callers_agents_still_works(registry, db_path):
    await world(registry)
    async with as_user(registry, "limited") as client:
        removed = await call_confirmed(client, "delete_tool", {"tool": "solo", "cascade": True})
        assert removed["removed_tool_instances"] == ["s"] and removed["removed_scheduled_jobs"] == ["solo-job"]
        await call(client, "update_tool", {"tool": "notes", "description": "a shared tool's own text"})
        await call_confirmed(client, "delete_agent", {"agent": "Athena", "cascade": True})
    assert denied(db_path) == []


async def test_a_narrowed_admin_cannot_reach_every_agent(registry, db_path):
    """Tools that act for every agent at once (restore, plugin scan, users and tokens: a narrowed
    admin could otherwise lift their own narrowing) and cascades over other agents' objects."""
    await world(registry)
    backup = await registry.backups.create(registry.operator, type="full", name="before")
    refused = [
        ("update_user", {"user": "boss", "permissions": {}}, "every agent"),
        ("create_user", {"username": "free", "role": "admin"}, "every agent"),
        ("create_api_token", {"user": "operator"}, "every agent"),
        ("deactivate_user", {"user": "limited"}, "every agent"),
        ("restore_backup", {"backup_id": backup.id}, "every agent"),
        ("unregister_plugin", {"plugin": "tooly"}, "'Monday'"),
        ("delete_agent", {"agent": "Monday", "cascade": True}, "'Monday'"),
        ("sync_smcp_plugins", {"plugins_dir": str(db_path.parent)}, "every agent"),
    ]
    async with as_user(registry, "boss") as client:
        before = without_logs(db_path)
        for tool_name, args, named in refused:
            error = await call_error(client, tool_name, args)
            assert named in error, (tool_name, error)
        assert without_logs(db_path) == before
    assert denied(db_path) == [name for name, _, _ in refused]


async def test_cascades_reach_jobs_that_also_act_for_someone_else(registry, db_path):
    """A job may act for an agent and run a host-wide (master) instance; deleting Athena with
    cascade=true deletes it, which reaches a host-wide object. And a job left pointing at another
    agent (a state a hand edit or an old version can leave) is found through the cascade too."""
    ids = await world(registry)
    op = registry.operator
    await registry.jobs.create(op, {"name": "athena-on-host", "cron_expression": DAILY, "agent": "Athena",
                                    "tool_instance": str(ids["host"])})
    async with as_user(registry, "limited") as client:
        before = without_logs(db_path)
        error = await call_error(client, "delete_agent", {"agent": "Athena", "cascade": True})
        assert "host-wide" in error and "athena-on-host" in error, error
        assert without_logs(db_path) == before
    await registry.jobs.delete(op, "athena-on-host")

    def stray(conn: sqlite3.Connection) -> None:
        monday = conn.execute("SELECT id FROM agents WHERE name = 'Monday'").fetchone()[0]
        conn.execute("INSERT INTO scheduled_jobs (name, cron_expression, tool_instance_id, agent_id) VALUES (?, ?, ?, ?)",
                     ("stray", DAILY, ids["mine"], monday))

    await registry.db.write(stray)
    async with as_user(registry, "limited") as client:
        before = without_logs(db_path)
        for tool_name, args in (("delete_tool_instance", {"instance": ids["mine"], "cascade": True}),
                                ("delete_agent", {"agent": "Athena", "cascade": True})):
            error = await call_error(client, tool_name, args)
            assert "'Monday'" in error and "stray" in error, (tool_name, error)
        assert without_logs(db_path) == before
    assert denied(db_path) == ["delete_agent", "delete_tool_instance", "delete_agent"]
