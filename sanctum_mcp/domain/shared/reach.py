"""permissions.agents inside a write transaction: what a change reaches besides what it names.

The gate (catalogue/base.py authorize) refuses, before anything runs, a call that NAMES another
agent's object. A change can also reach objects it does not name: a cascade (delete_tool with
cascade=true takes every instance of the tool and the jobs that run them) or a switch on a shared
object (a tool's enabled flag, schema or category; a plugin's enabled flag, links or version) that
decides what other agents' instances and jobs do. Services call `refuse_outside_agents` inside their
write transaction, before changing anything, with a storage/ownership.py query for what the change
acts on: the check sees exactly the rows the transaction would touch, and a refusal rolls it back.
run_tool audits the refusal (access.denied) like the gate's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sanctum_mcp.domain.shared.errors import Forbidden
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.storage.ownership import Reach

SHOWN = 5  # objects named per owner in a refusal


def refuse_outside_agents(conn: sqlite3.Connection, caller: Caller, action: str,
                          reach: Callable[..., list[Reach]], *args: Any) -> None:
    """Raise Forbidden if `action` would act on an object of an agent outside the caller's
    permissions.agents, or on a host-wide one. `reach(conn, *args)` lists what it acts on; it is
    not even run for a caller without an agent list."""
    permissions = caller.permissions
    if permissions is None or permissions.agents is None:
        return
    outside: dict[str, list[str]] = {}
    host_wide: list[str] = []
    for item in reach(conn, *args):
        what = f"{item.kind} {item.name!r}"
        if item.owner is None:
            host_wide.append(what)
        elif not permissions.allows_agent(item.owner):
            outside.setdefault(item.owner, []).append(what)
    allowed = ", ".join(sorted(permissions.agents))
    if outside:
        owners = "; ".join(f"{owner!r}: {_some(things)}" for owner, things in sorted(outside.items()))
        raise Forbidden(
            f"{action} would also act on what belongs to other agents ({owners}), and {caller.username!r} may only "
            f"act on the agents {allowed}. Nothing was changed. Ask an admin to run it, or to widen the "
            f"permissions of {caller.username!r} with update_user."
        )
    if host_wide:
        raise Forbidden(
            f"{action} would also act on host-wide objects that belong to no agent ({_some(host_wide)}), and "
            f"{caller.username!r} may only act on the agents {allowed}. Nothing was changed. Ask an admin to run it."
        )


def _some(things: list[str]) -> str:
    unique = list(dict.fromkeys(things))
    shown = ", ".join(unique[:SHOWN])
    return shown + (f" and {len(unique) - SHOWN} more" if len(unique) > SHOWN else "")
