"""register_plugin inside its transaction: a new plugin, the same version again (changes nothing,
or is refused if it would), or an upgrade (dependents must still be satisfied; links are kept)."""

from __future__ import annotations

import sqlite3

from sanctum_mcp.domain.plugins.graph import Graph, cycle_text
from sanctum_mcp.domain.plugins.models import RegisterResult
from sanctum_mcp.domain.plugins.rows import dump, plugin_from_row
from sanctum_mcp.domain.plugins.versions import satisfies
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import Conflict
from sanctum_mcp.domain.shared.reach import refuse_outside_agents
from sanctum_mcp.storage import ownership
from sanctum_mcp.storage import plugins as sql


def check_dependencies(conn: sqlite3.Connection, name: str, deps: list[tuple[str, str | None]],
                       *, enabled: bool) -> Graph:
    graph = Graph(conn)
    graph.set_edges(name, deps)
    problems = graph.problems(name)
    if problems:
        raise Conflict(
            f"plugin {name!r} cannot be registered: {'; '.join(problems)}. Register or upgrade those plugins "
            "first (register_plugin), or change the version specifiers. Nothing was changed."
        )
    cycle = graph.find_cycle(start=name)
    if cycle:
        raise Conflict(
            f"plugin {name!r} cannot be registered with these dependencies: they form a cycle "
            f"({cycle_text(cycle)}). Remove one of those dependencies. Nothing was changed."
        )
    if enabled:
        disabled = [graph.rows[dep.lower()]["name"] for dep, _ in deps if not graph.rows[dep.lower()]["is_enabled"]]
        if disabled:
            raise Conflict(
                f"plugin {name!r} would be enabled, but its dependencies {', '.join(repr(d) for d in disabled)} "
                "are disabled. Enable them first (enable_plugin, chain=true enables a whole chain), or "
                "register with enabled=false. Nothing was changed."
            )
    return graph


def register_new(conn, caller, name, type, version, config, deps, agent_rows, tool_rows, enabled) -> RegisterResult:
    check_dependencies(conn, name, deps, enabled=enabled)
    for t in tool_rows:  # a tool linked to a plugin runs its commands
        refuse_outside_agents(conn, caller, f"registering plugin {name!r} for tool {t['name']!r}",
                              ownership.tool_reach, t["id"])
    plugin_id = sql.insert(conn, {
        "name": name, "type": type, "version": version, "config": dump(config),
        "is_enabled": int(enabled), "status": "Active" if enabled else "Inactive",
    })
    sql.set_dependencies(conn, plugin_id, deps)
    for a in agent_rows:
        sql.link(conn, plugin_id, agent_id=a["id"])
    for t in tool_rows:
        sql.link(conn, plugin_id, tool_id=t["id"])
    created = plugin_from_row(conn, sql.get_by_id(conn, plugin_id))
    audit.record(conn, caller, action="plugin.register", source="plugin", source_id=plugin_id,
                 message=f"plugin {name!r} {version} registered", after=created)
    return RegisterResult(outcome="registered", plugin=created)


def register_same(conn, row, type, config, deps, agent_rows, tool_rows) -> RegisterResult:
    current = plugin_from_row(conn, row)
    differences = []
    if type != current.type:
        differences.append(f"type ({current.type} registered, {type} given)")
    if config is not None and config != current.config:
        differences.append("config")
    registered_deps = {(d.name.lower(), d.version_spec or None) for d in current.dependencies}
    if {(n.lower(), s) for n, s in deps} != registered_deps:
        differences.append("dependencies (registered: " + (", ".join(
            f"{d.name}{d.version_spec or ''}" for d in current.dependencies) or "none") + ")")
    missing_links = [f"agent {a['name']!r}" for a in agent_rows if a["name"] not in current.agents]
    missing_links += [f"tool {t['name']!r}" for t in tool_rows if t["name"] not in current.tools]
    if missing_links:
        differences.append("links to " + ", ".join(missing_links) + " (use link_plugin)")
    if differences:
        raise Conflict(
            f"plugin {current.name!r} {current.version} is already registered with a different "
            f"{'; '.join(differences)}. Registering the same version again changes nothing: register a newer "
            "version to upgrade. Nothing was changed."
        )
    return RegisterResult(outcome="unchanged", plugin=current)


def upgrade(conn, caller, row, type, version, config, deps, agent_rows, tool_rows) -> RegisterResult:
    before = plugin_from_row(conn, row)
    graph = check_dependencies(conn, row["name"], deps, enabled=bool(row["is_enabled"]))
    broken = [
        f"{graph.display(owner)!r} needs {spec}"
        for owner, spec in graph.dependents(row["name"])
        if not satisfies(version, spec)
    ]
    if broken:
        raise Conflict(
            f"plugin {row['name']!r} cannot be upgraded to {version}: {', '.join(broken)}. Upgrade those "
            "plugins first (or unregister them). Nothing was changed."
        )
    # A new version changes what every agent and instance using the plugin runs.
    refuse_outside_agents(conn, caller, f"upgrading plugin {row['name']!r}", ownership.plugin_reach, [row["id"]])
    for t in tool_rows:
        refuse_outside_agents(conn, caller, f"upgrading plugin {row['name']!r} for tool {t['name']!r}",
                              ownership.tool_reach, t["id"])
    sql.update(conn, row["id"], {
        "type": type, "version": version,
        "config": dump(config if config is not None else before.config),
        "status": "Active" if row["is_enabled"] else "Inactive", "error": None,
    })
    sql.set_dependencies(conn, row["id"], deps)
    for a in agent_rows:
        sql.link(conn, row["id"], agent_id=a["id"])
    for t in tool_rows:
        sql.link(conn, row["id"], tool_id=t["id"])
    after = plugin_from_row(conn, sql.get_by_id(conn, row["id"]))
    audit.record(conn, caller, action="plugin.upgrade", source="plugin", source_id=row["id"],
                 message=f"plugin {after.name!r} upgraded from {before.version} to {version}",
                 before=before, after=after)
    return RegisterResult(outcome="upgraded", plugin=after, previous_version=before.version)
