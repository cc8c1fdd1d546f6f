"""The role table, generated from the tool catalogue: every role against every tool.

Each tool needs an entry in HARMLESS (arguments that succeed on the small world `world()` builds).
A tool without one fails this file, so a tool added later must add its row here too.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest
from fake_letta import FakeLetta
from mcp import Client
from support import call, call_error, call_through_preview, snapshot

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import ROLE_RANK, ROLES
from sanctum_mcp.server.app import build_server

# A plugins folder with nothing in it, for sync_smcp_plugins.
EMPTY_PLUGINS_DIR = tempfile.mkdtemp(prefix="sanctum-no-plugins-")

# Arguments that succeed for a caller allowed to run the tool, in the world built below.
HARMLESS: dict[str, dict] = {
    "list_agents": {},
    "get_agent": {"agent": "Athena"},
    "create_agent": {"name": "Zeus"},
    "update_agent": {"agent": "Athena", "description": "updated"},
    "set_agent_status": {"agent": "Athena", "status": "Off"},
    "delete_agent": {"agent": "Athena", "cascade": True},
    "get_config": {"key": "smcp_port", "agent": "Athena"},
    "set_config": {"key": "smcp_port", "value": "9001", "scope": "agent", "target": "Athena"},
    "list_config": {},
    "delete_config": {"key": "scratch", "scope": "system"},
    "reset_config": {"key": "flask_port"},
    "config_history": {"key": "scratch", "scope": "system"},
    "rollback_config": {"key": "scratch", "scope": "system", "version": 1},
    "switch_environment": {"environment": "staging", "confirm": True},
    "export_config": {"format": "env"},
    "import_config": {"document": '{"entries": [{"key": "smcp_port", "scope": "agent", "target": "Athena", '
                                  '"value": "9002", "version": 0}]}'},
    "list_letta_servers": {},
    "add_letta_server": {"address": "letta.lan", "port": 8283},
    "update_letta_server": {"server": 1, "timeout": 9},
    "remove_letta_server": {"server": 1},
    "activate_letta_server": {"server": 1},
    "letta_status": {},
    "sync_letta_agents": {"dry_run": True},
    "list_users": {},
    "create_user": {"username": "newbie"},
    "update_user": {"user": "target", "email": "target@example.org"},
    "deactivate_user": {"user": "target"},
    "create_api_token": {"user": "target"},
    "revoke_api_token": {"token_id": 1},
    "list_tools": {},
    "get_tool": {"tool": "mailer"},
    "create_tool": {"name": "newtool", "category": "athena"},
    "update_tool": {"tool": "mailer", "description": "updated"},
    "delete_tool": {"tool": "spare"},
    "list_tool_instances": {"agent": "Athena"},
    "get_tool_instance": {"instance": 1},
    "create_tool_instance": {"tool": "mailer", "agent": "Athena", "name": "second", "config": {"port": 25}},
    "update_tool_instance": {"instance": 1, "status": "Healthy"},
    "delete_tool_instance": {"instance": 1},
    "list_plugins": {},
    "get_plugin": {"plugin": "core"},
    "register_plugin": {"name": "newplugin", "type": "extension", "version": "1.0.0", "dependencies": ["core>=1"],
                        "agents": ["Athena"]},
    "unregister_plugin": {"plugin": "core"},
    "enable_plugin": {"plugin": "core"},
    "disable_plugin": {"plugin": "core"},
    "link_plugin": {"plugin": "core", "agents": ["Athena"], "tools": ["mailer"]},
    "unlink_plugin": {"plugin": "core", "agents": ["Athena"]},
    "sync_smcp_plugins": {"plugins_dir": EMPTY_PLUGINS_DIR},
    "list_jobs": {},
    "get_job": {"job": "nightly"},
    "create_job": {"name": "hourly", "cron_expression": "@hourly", "agent": "Cron"},
    "update_job": {"job": "nightly", "description": "updated"},
    "pause_job": {"job": "nightly"},
    "resume_job": {"job": "nightly"},
    "delete_job": {"job": "nightly"},
    "preview_job_runs": {"cron_expression": "0 3 * * *", "timezone": "Europe/Paris"},
    "query_logs": {},
    "changes_since": {"revision": 0},
    "log_event": {"message": "a note"},
    "create_backup": {"type": "config_only"},
    "list_backups": {},
    "verify_backup": {"backup_id": 1},
    "delete_backup": {"backup_id": 1},
    "restore_backup": {"backup_id": 1},
}
AGENT_FIELD_NAMES = {"agent", "agents", "agent_name", "agent_names", "agent_id", "agent_ids"}


@pytest.fixture(scope="module")
def letta() -> Iterator[FakeLetta]:
    with FakeLetta() as fake:
        fake.agents = [{"id": "agent-a", "name": "Athena"}]
        yield fake


async def world(registry: Registry, letta: FakeLetta) -> None:
    """Athena; users viewer/user/admin and 'target' (token 1); Letta connection 2 (the fake) active;
    tools 'mailer' (athena, instance 1 'main' for Athena) and 'spare'; plugin 'core' 1.0.0;
    agent Cron with job 'nightly'; full backup 1 (taken last, so restoring it changes little)."""
    op = registry.operator
    await registry.agents.create(op, {"name": "Athena", "config": {}})
    await registry.config.set(op, "scratch", "1", scope="system")
    for name in ("viewer", "user", "admin", "target"):
        role = name if name in ROLES else "viewer"
        await registry.users.create(op, username=name, role=role, email=None, permissions=None)
    await registry.users.create_token(op, "target", "harmless")
    await registry.letta.add(op, address="127.0.0.1", port=letta.port, scheme="http", password=None, token=None,
                             timeout=5, activate=True)
    await registry.tools.create_tool(op, {"name": "mailer", "category": "athena", "tool_type": "service",
                                          "config_schema": {"type": "object", "properties": {"port": {"type": "integer"}}}})
    await registry.tools.create_tool(op, {"name": "spare", "category": "master", "tool_type": "utility"})
    await registry.tools.create_instance(op, tool="mailer", agent="Athena", name="main", config={"port": 587})
    await registry.plugins.register(op, name="core", type="mcp", version="1.0.0", config=None, dependencies=[],
                                    agents=[], tools=[], enabled=None)
    # Scheduled jobs and backups: agent Cron with job 'nightly' (Athena stays deletable); full backup 1.
    await registry.agents.create(op, {"name": "Cron", "config": {}})
    await registry.jobs.create(op, {"name": "nightly", "cron_expression": "@daily", "agent": "Cron"})
    await registry.backups.create(op, type="full", name="world")


def without_logs(db_path) -> list[str]:
    return [line for line in snapshot(db_path) if '"logs"' not in line and "'logs'" not in line]


def refusals(db_path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT source_id, user_id, level FROM logs WHERE action = 'access.denied'").fetchall()


@pytest.fixture
async def prepared(registry: Registry, letta: FakeLetta) -> AsyncIterator[Registry]:
    await world(registry, letta)
    yield registry


def test_every_tool_has_harmless_arguments():
    missing = sorted(set(all_tools()) - set(HARMLESS))
    assert not missing, f"add HARMLESS arguments in tests/test_roles.py for: {missing}"
    assert not set(HARMLESS) - set(all_tools()), "HARMLESS names tools that do not exist"


def test_a_viewer_only_reads():
    for spec in all_tools().values():
        if spec.role == "viewer":
            assert spec.read_only, f"{spec.name} is open to viewers but is not read-only"
        if not spec.read_only:
            assert ROLE_RANK[spec.role] >= ROLE_RANK["user"], f"{spec.name} mutates but needs only {spec.role!r}"


def test_agent_arguments_are_declared_for_permissions():
    """A field naming an agent must be declared in the tool's agents=, or permissions.agents misses it."""
    for spec in all_tools().values():
        fields = set(spec.input.model_fields) & AGENT_FIELD_NAMES
        declared = set() if spec.agents == "*" else set(spec.agents)
        assert fields <= declared or spec.agents == "*", f"{spec.name}: declare agents={tuple(sorted(fields))}"


# Fields that name something an agent may own: a tool instance, a job, a configuration target.
OWNED_FIELD_NAMES = {"instance", "tool_instance", "job", "target"}


def test_owned_arguments_are_declared_for_permissions():
    """A field naming an instance, a job or a config target must be covered by the tool's owned=,
    or a user narrowed by permissions.agents reaches other agents' things through it."""
    for spec in all_tools().values():
        fields = set(spec.input.model_fields) & OWNED_FIELD_NAMES
        assert not fields or spec.owned is not None, f"{spec.name}: declare owned= for {sorted(fields)}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("tool_name", list(all_tools()))
async def test_role_against_tool(tool_name, role, prepared, db_path):
    if tool_name not in HARMLESS:
        pytest.fail(f"{tool_name} has no HARMLESS arguments in tests/test_roles.py")
    spec = all_tools()[tool_name]
    caller = await prepared.users.local_caller(role, default_name="operator")
    assert caller.role == role
    async with Client(build_server(prepared, identify=lambda _ctx: caller)) as client:
        if caller.has_role(spec.role):
            await call_through_preview(client, tool_name, HARMLESS[tool_name])
            assert refusals(db_path) == []
        else:
            before = without_logs(db_path)
            error = await call_error(client, tool_name, HARMLESS[tool_name])
            assert f"needs the {spec.role!r} role" in error and f"has {role!r}" in error
            assert without_logs(db_path) == before
            assert refusals(db_path) == [(tool_name, caller.user_id, "WARNING")]
