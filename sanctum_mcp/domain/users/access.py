"""The gate's questions to the database (catalogue/base.py authorize): which agents own what a call
names, checked against the caller's permissions.agents; and the audit row of a refused call."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import Forbidden
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.references import as_id, looks_like_id
from sanctum_mcp.storage import ownership

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database


class AccessChecks:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def check_agent_scope(self, caller: Caller, tool: str, refs: list[tuple[str, str]], *,
                                mutating: bool) -> None:
        """Refuse a call that reaches outside the caller's permissions.agents.

        `refs` are what the call names, as (kind, ref): kind 'agent' (a name or id), 'instance'
        (an id or name), 'job' (a name or id) or 'host' (something new that belongs to no agent).
        Each is looked up to the agents that own it: every owner must be one of the caller's
        agents; a host-wide object (a master instance, a job for no agent) may be read but not
        changed. A reference that matches nothing is left to the tool, which answers "not found".
        """
        permissions = caller.permissions
        if permissions is None or permissions.agents is None:
            return

        def owners(conn: sqlite3.Connection) -> list[tuple[str, str, list[str | None]]]:
            found = []
            for kind, ref in refs:
                if kind == "agent":
                    # A name is checked as written (a new agent has no row yet); an id is looked up.
                    names = ownership.agent_by_id(conn, as_id(ref)) if looks_like_id(ref) else [ref]
                elif kind == "instance":
                    names = ownership.instance_owners(conn, ref, as_id(ref))
                elif kind == "job":
                    names = ownership.job_owners(conn, ref, as_id(ref))
                else:
                    names = [None]
                found.append((kind, ref, names))
            return found

        allowed = ", ".join(sorted(permissions.agents))
        for kind, ref, names in await self.db.read(owners):
            for name in names:
                if name is None:
                    if not mutating:
                        continue
                    what = ref if kind == "host" else f"{kind} {ref!r}"
                    raise Forbidden(
                        f"{tool}: {what} is host-wide (it belongs to no agent), and {caller.username!r} may only "
                        f"act on the agents {allowed}. Ask an admin to change it."
                    )
                if not permissions.allows_agent(name):
                    through = "" if kind == "agent" else f" ({kind} {ref!r} belongs to {name!r})"
                    raise Forbidden(
                        f"{tool}: {caller.username!r} may only act on the agents {allowed}, not {name!r}{through}. "
                        "Ask an admin to widen their permissions with update_user."
                    )

    async def record_declined(self, caller: Caller, *, tool: str, answer: str, arguments: dict[str, Any]) -> None:
        """Audit a destructive call the person asked through the client did not confirm (elicitation
        declined or cancelled): nothing changed, so it is no change in the feed, but an operator can
        see that it was attempted and by whom."""

        def tx(conn: sqlite3.Connection) -> None:
            audit.record(conn, caller, action="confirm.declined", source="tool", source_id=tool, changed=False,
                         message=f"{tool} was not done: the person asked chose {answer}",
                         extra={"tool": tool, "answer": answer, "arguments": arguments})

        await self.db.write(tx)

    async def record_refusal(self, caller: Caller, *, tool: str, reason: str, needed: str | None) -> None:
        """Audit a call the gate refused: its own small transaction (the refused call wrote nothing)."""

        def tx(conn: sqlite3.Connection) -> None:
            audit.record(conn, caller, action="access.denied", source="tool", source_id=tool, level="WARNING",
                         message=reason, extra={"tool": tool, "role": caller.role, "needed": needed})

        await self.db.write(tx)
