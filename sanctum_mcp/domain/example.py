"""Whether a registry can take the example Sanctum (`sanctum-mcp init --example`).

The example is loaded only into a registry that has never held agents, tools, tool instances, jobs
or plugins, so that its ids are the ones README's examples use (athena-smcp is instance 3) and
nothing an operator made is mixed with it. Users, settings, Letta connections and backups do not
count: a registry that `make run` has just created is empty in this sense.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sanctum_mcp.storage import example as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry


async def what_it_holds(registry: Registry) -> tuple[list[str], list[str]]:
    """(what the registry holds now, e.g. ['1 agent', '12 tools'], the kinds it held once but no
    longer does). Both empty: the example may be loaded."""
    counts = await registry.db.read(sql.held)
    now = [f"{rows} {sql.TABLES[t]}{'' if rows == 1 else 's'}" for t, (rows, _) in counts.items() if rows]
    before = [f"{sql.TABLES[t]}s" for t, (rows, issued) in counts.items() if not rows and issued]
    return now, before
