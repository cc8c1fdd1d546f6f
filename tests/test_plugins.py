"""Plugins: registration and upgrades, the dependency graph, enable/disable, links."""

from __future__ import annotations

import sqlite3

import pytest
from mcp import Client
from support import call, call_error, snapshot

from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.server.app import build_server


async def register(client, name, version="1.0.0", deps=(), **extra):
    args = {"name": name, "type": "extension", "version": version, **extra}
    if deps:
        args["dependencies"] = list(deps)
    return await call(client, "register_plugin", args)


def plugin_state(db_path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(db_path) as conn:
        return {name: (enabled, status) for name, enabled, status in conn.execute("SELECT name, is_enabled, status FROM plugins")}


# --- registering ----------------------------------------------------------------------------------


async def test_register_then_same_version_changes_nothing(client, db_path):
    first = await register(client, "core", config={"mode": "fast"})
    assert first["outcome"] == "registered"
    plugin = first["plugin"]
    assert (plugin["name"], plugin["type"], plugin["version"], plugin["status"], plugin["is_enabled"]) == (
        "core", "extension", "1.0.0", "Active", True)
    before = snapshot(db_path)
    again = await register(client, "CORE", config={"mode": "fast"})
    assert again["outcome"] == "unchanged" and again["plugin"] == plugin
    assert snapshot(db_path) == before
    error = await call_error(client, "register_plugin", {"name": "core", "type": "extension", "version": "1.0.0",
                                                          "config": {"mode": "slow"}})
    assert "already registered with a different config" in error and "newer version" in error
    error = await call_error(client, "register_plugin", {"name": "core", "type": "mcp", "version": "1.0.0"})
    assert "type (extension registered, mcp given)" in error
    assert snapshot(db_path) == before


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "1!1.2.3", "1.2.3.post1", "1.2.3.dev0", "1.2.3.4", "latest"])
async def test_versions_must_be_semantic(modern_client, db_path, version):
    before = snapshot(db_path)
    error = await call_error(modern_client, "register_plugin", {"name": "p", "type": "mcp", "version": version})
    assert "semantic version" in error or "not a version" in error
    assert snapshot(db_path) == before


@pytest.mark.parametrize("version", ["0.0.1", "1.2.3-beta.1", "1.2.3rc1", "1.2.3+build.5"])
async def test_semantic_versions_with_tags_are_accepted(modern_client, version):
    assert (await register(modern_client, "p", version))["plugin"]["version"] == version


async def test_a_newer_version_upgrades_and_keeps_links(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "create_tool", {"name": "mailer"})
    await register(client, "base")
    await register(client, "core", "1.0.0", deps=["base"], config={"k": 1}, agents=["Athena"], tools=["mailer"])
    upgraded = await register(client, "core", "1.1.0")
    assert upgraded["outcome"] == "upgraded" and upgraded["previous_version"] == "1.0.0"
    plugin = upgraded["plugin"]
    assert plugin["version"] == "1.1.0" and plugin["agents"] == ["Athena"] and plugin["tools"] == ["mailer"]
    assert plugin["config"] == {"k": 1}  # omitted config is kept
    assert plugin["dependencies"] == []  # a version declares its own dependencies
    before = snapshot(db_path)
    error = await call_error(client, "register_plugin", {"name": "core", "type": "extension", "version": "1.0.5"})
    assert "older" in error and "unregister_plugin" in error
    assert snapshot(db_path) == before
    with sqlite3.connect(db_path) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM logs ORDER BY id")]
    assert actions[-1] == "plugin.upgrade"


async def test_register_refuses_config_reserved_for_the_smcp_scan(client):
    error = await call_error(client, "register_plugin", {
        "name": "evil", "type": "mcp", "version": "1.0.0", "config": {"smcp": {"plugin_dir": "/tmp/x"}}})
    assert "'smcp'" in error and "sync_smcp_plugins" in error


async def test_registering_needs_the_admin_role(registry):
    server = build_server(registry, identify=lambda _ctx: Caller(username="bob", role="user"))
    async with Client(server) as bob:
        error = await call_error(bob, "register_plugin", {"name": "p", "type": "mcp", "version": "1.0.0"})
        assert "needs the 'admin' role" in error
        assert (await call(bob, "list_plugins"))["plugins"] == []


# --- dependencies ------------------------------------------------------------------------------------


async def test_missing_dependency_is_refused(client, db_path):
    before = snapshot(db_path)
    error = await call_error(client, "register_plugin", {
        "name": "app", "type": "extension", "version": "1.0.0", "dependencies": ["core>=1.0"]})
    assert "needs 'core' >=1.0, which is not registered" in error and "register_plugin" in error
    assert snapshot(db_path) == before


async def test_version_mismatch_is_refused(client, db_path):
    await register(client, "core", "1.4.2")
    before = snapshot(db_path)
    error = await call_error(client, "register_plugin", {
        "name": "app", "type": "extension", "version": "1.0.0", "dependencies": ["core>=2,<3"]})
    assert "needs 'core' <3,>=2, but 'core' is at version 1.4.2" in error
    assert snapshot(db_path) == before
    ok = await register(client, "app", deps=["core~=1.4"])
    assert ok["plugin"]["dependencies"] == [{"name": "core", "version_spec": "~=1.4"}]


@pytest.mark.parametrize("dependency, message", [
    ("core >= ", "cannot be parsed"),
    ("core[extra]>=1", "extras"),
    ("core; python_version > '3'", "marker"),
    ("co re", "cannot be parsed"),
])
async def test_malformed_dependencies_are_refused(modern_client, dependency, message):
    await register(modern_client, "core")
    error = await call_error(modern_client, "register_plugin", {
        "name": "app", "type": "mcp", "version": "1.0.0", "dependencies": [dependency]})
    assert message in error


async def test_a_cycle_is_refused_naming_it(client, db_path):
    await register(client, "a")
    await register(client, "b", deps=["a"])
    await register(client, "c", deps=["b>=1"])
    before = snapshot(db_path)
    error = await call_error(client, "register_plugin", {"name": "a", "type": "extension", "version": "1.1.0",
                                                          "dependencies": ["c"]})
    assert "cycle (a -> c -> b -> a)" in error
    error = await call_error(client, "register_plugin", {"name": "d", "type": "extension", "version": "1.0.0",
                                                          "dependencies": ["d"]})
    assert "d -> d" in error
    assert snapshot(db_path) == before


async def test_an_upgrade_that_breaks_a_dependent_is_refused(client, db_path):
    await register(client, "core", "1.0.0")
    await register(client, "app", deps=["core<2"])
    before = snapshot(db_path)
    error = await call_error(client, "register_plugin", {"name": "core", "type": "extension", "version": "2.0.0"})
    assert "'app' needs <2" in error
    assert snapshot(db_path) == before
    assert (await register(client, "core", "1.9.0"))["outcome"] == "upgraded"


async def test_get_plugin_shows_the_dependency_tree_and_dependents(client):
    await register(client, "base", "1.0.0")
    await register(client, "core", "1.2.0", deps=["base>=1"])
    await register(client, "ui", "0.3.0")
    await register(client, "app", "2.0.0", deps=["core>=1.1,<2", "ui"])
    await register(client, "dash", "1.0.0", deps=["app>=2"])
    app = await call(client, "get_plugin", {"plugin": "app"})
    assert app["dependencies"] == [{"name": "core", "version_spec": "<2,>=1.1"}, {"name": "ui", "version_spec": None}]
    core, ui = app["dependency_tree"]
    assert (core["name"], core["version"], core["satisfied"], core["enabled"]) == ("core", "1.2.0", True, True)
    assert [(n["name"], n["version"], n["version_spec"], n["satisfied"]) for n in core["dependencies"]] == [
        ("base", "1.0.0", ">=1", True)]
    assert (ui["name"], ui["version"], ui["satisfied"], ui["dependencies"]) == ("ui", "0.3.0", True, [])
    assert [(d["name"], d["version_spec"], d["satisfied"]) for d in app["dependents"]] == [("dash", ">=2", True)]
    base = await call(client, "get_plugin", {"plugin": "base"})
    assert base["dependents"][0]["name"] == "core"
    assert base["dependents"][0]["dependents"][0]["name"] == "app"
    assert base["dependents"][0]["dependents"][0]["dependents"][0]["name"] == "dash"
    listing = await call(client, "list_plugins")
    assert [p["name"] for p in listing["plugins"]] == ["app", "base", "core", "dash", "ui"]
    assert (await call(client, "list_plugins", {"type": "mcp"}))["plugins"] == []


# --- enable / disable ----------------------------------------------------------------------------------


async def test_enable_refuses_while_a_dependency_is_disabled_or_enables_the_chain(client, db_path):
    await register(client, "base", enabled=False)
    await register(client, "core", deps=["base"], enabled=False)
    await register(client, "app", deps=["core"], enabled=False)
    error = await call_error(client, "register_plugin", {"name": "x", "type": "mcp", "version": "1.0.0",
                                                          "dependencies": ["core"]})
    assert "disabled" in error and "enabled=false" in error
    before = snapshot(db_path)
    error = await call_error(client, "enable_plugin", {"plugin": "app"})
    assert "'core', 'base'" in error or "'base', 'core'" in error
    assert "chain=true" in error
    assert snapshot(db_path) == before
    result = await call(client, "enable_plugin", {"plugin": "app", "chain": True})
    assert result["changed"] is True and result["also_enabled"] == ["base", "core"]
    assert plugin_state(db_path) == {"base": (1, "Active"), "core": (1, "Active"), "app": (1, "Active")}
    again = await call(client, "enable_plugin", {"plugin": "app"})
    assert again["changed"] is False


async def test_disable_refuses_while_an_enabled_plugin_depends_on_it_or_cascades(client, db_path):
    await register(client, "base")
    await register(client, "core", deps=["base"])
    await register(client, "app", deps=["core"])
    await register(client, "other", deps=["base"], enabled=True)
    before = snapshot(db_path)
    error = await call_error(client, "disable_plugin", {"plugin": "base"})
    assert "'core'" in error and "'app'" in error and "'other'" in error and "cascade=true" in error
    assert snapshot(db_path) == before
    await call(client, "disable_plugin", {"plugin": "other"})
    result = await call(client, "disable_plugin", {"plugin": "base", "cascade": True})
    assert result["changed"] is True and sorted(result["also_disabled"]) == ["app", "core"]
    assert result["also_disabled"].index("app") < result["also_disabled"].index("core")  # outermost first
    assert plugin_state(db_path) == {"base": (0, "Inactive"), "core": (0, "Inactive"), "app": (0, "Inactive"),
                                     "other": (0, "Inactive")}
    with sqlite3.connect(db_path) as conn:
        last = conn.execute("SELECT action, details FROM logs ORDER BY id DESC LIMIT 1").fetchone()
    assert last[0] == "plugin.disable" and '"also_disabled"' in last[1]


async def test_enable_refuses_when_a_dependency_no_longer_fits(client, db_path):
    # Only possible through rows written outside the tools (e.g. an older registry); still refused.
    await register(client, "core", "1.0.0")
    await register(client, "app", deps=["core<2"], enabled=False)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE plugins SET version = '2.0.0' WHERE name = 'core'")
    error = await call_error(client, "enable_plugin", {"plugin": "app"})
    assert "'core' <2, but 'core' is at version 2.0.0" in error


# --- unregister and links -----------------------------------------------------------------------------


async def test_unregister_refuses_while_depended_on(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    await register(client, "core", agents=["Athena"])
    await register(client, "app", deps=["core"])
    before = snapshot(db_path)
    error = await call_error(client, "unregister_plugin", {"plugin": "core"})
    assert "needed by 'app'" in error
    assert snapshot(db_path) == before
    await call(client, "unregister_plugin", {"plugin": "app"})
    removed = await call(client, "unregister_plugin", {"plugin": "core"})
    assert removed["deleted"]["agents"] == ["Athena"]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM plugin_links").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM agents").fetchone()[0] == 1


async def test_link_and_unlink_agents_and_tools(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "create_agent", {"name": "Monday"})
    await call(client, "create_tool", {"name": "mailer"})
    await register(client, "bridge")
    linked = await call(client, "link_plugin", {"plugin": "bridge", "agents": ["athena", "Monday"], "tools": ["mailer"]})
    assert linked["changed"] == ["agent:Athena", "agent:Monday", "tool:mailer"] and linked["unchanged"] == []
    assert linked["plugin"]["agents"] == ["Athena", "Monday"] and linked["plugin"]["tools"] == ["mailer"]
    again = await call(client, "link_plugin", {"plugin": "bridge", "agents": ["Athena"]})
    assert again["changed"] == [] and again["unchanged"] == ["agent:Athena"]
    unlinked = await call(client, "unlink_plugin", {"plugin": "bridge", "agents": ["Monday"], "tools": ["mailer"]})
    assert unlinked["changed"] == ["agent:Monday", "tool:mailer"] and unlinked["plugin"]["agents"] == ["Athena"]
    before = snapshot(db_path)
    assert "list_agents" in await call_error(client, "link_plugin", {"plugin": "bridge", "agents": ["Nobody"]})
    assert "at least one" in await call_error(client, "link_plugin", {"plugin": "bridge"})
    assert "list_plugins" in await call_error(client, "link_plugin", {"plugin": "nope", "agents": ["Athena"]})
    assert snapshot(db_path) == before
    # Many-to-many: a second plugin links the same agent.
    await register(client, "other", agents=["Athena"])
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM plugin_links WHERE agent_id IS NOT NULL").fetchone()[0] == 2
