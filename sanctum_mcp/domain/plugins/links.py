"""Links between a plugin and agents or tools (link_plugin, unlink_plugin). A tool linked to a plugin
runs its commands, so (un)linking one acts on the tool's instances, whoever owns them."""

from __future__ import annotations

import sqlite3

from sanctum_mcp.domain.agents import resolve as resolve_agent
from sanctum_mcp.domain.plugins.models import LinkResult
from sanctum_mcp.domain.plugins.rows import plugin_from_row, resolve
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.reach import refuse_outside_agents
from sanctum_mcp.domain.tools.checks import resolve_tool
from sanctum_mcp.storage import ownership
from sanctum_mcp.storage import plugins as sql


def change_links(conn: sqlite3.Connection, caller: Caller, plugin: str, *, agents: list[str], tools: list[str],
                 add: bool) -> LinkResult:
    """link_plugin (add) or unlink_plugin inside its transaction."""
    verb = "link" if add else "unlink"
    row = resolve(conn, plugin)
    before = plugin_from_row(conn, row)
    targets = [("agent", r, {"agent_id": r["id"]}) for r in (resolve_agent(conn, a) for a in agents)]
    targets += [("tool", r, {"tool_id": r["id"]}) for r in (resolve_tool(conn, t) for t in tools)]
    # A tool linked to a plugin runs its commands: (un)linking one acts on the tool's instances.
    linked = {t["id"] for t in sql.linked_tools(conn, row["id"])}
    for kind, target, _key in targets:
        if kind == "tool" and (target["id"] in linked) != add:
            refuse_outside_agents(conn, caller, f"{verb}ing plugin {row['name']!r} and tool {target['name']!r}",
                                  ownership.tool_reach, target["id"])
    changed, unchanged = [], []
    for kind, target, key in targets:
        done = sql.link(conn, row["id"], **key) if add else sql.unlink(conn, row["id"], **key)
        (changed if done else unchanged).append(f"{kind}:{target['name']}")
    after = plugin_from_row(conn, row)
    if changed:
        audit.record(conn, caller, action=f"plugin.{verb}", source="plugin", source_id=row["id"],
                     message=f"plugin {row['name']!r} {verb}ed: {', '.join(changed)}",
                     before=before, after=after)
    return LinkResult(plugin=after, changed=changed, unchanged=unchanged)
