"""Argument completion: which names and ids to offer a caller who has typed a prefix.

Only values the caller could use where the argument goes are offered, so a suggestion is never a
door the resource then shuts:
- with permissions.agents: only those agents, and only their tool instances plus the host-wide
  ones (which they may read); tools are shared and offered to everyone;
- users' names only to admins (list_users is admin-only); anyone else is offered their own name.
Every answer holds at most MAX_VALUES values (the protocol's limit), in order, and says whether
there were more. A prefix is matched at the start, ignoring ASCII case; one that no name could
start with (longer than any name may be, or holding NUL) is answered with nothing, without a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sanctum_mcp.storage import completions as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.identity import Caller

MAX_VALUES = 100
# Longer than any name the registry accepts (agents, tools and users: at most 64 characters).
MAX_PREFIX = 256
# The scopes a sanctum://config/{scope}/{target} URI takes (system settings have their own resource).
TARGET_SCOPES = ("agent", "instance", "tool", "user")

Offer = Literal["agent", "tool", "instance", "user", "scope"]


@dataclass(frozen=True)
class Suggestions:
    values: list[str]
    has_more: bool = False

    @property
    def total(self) -> int | None:
        """How many there are, when all of them are here."""
        return None if self.has_more else len(self.values)


NOTHING = Suggestions([])


async def suggest(registry: Registry, caller: Caller, offer: Offer, prefix: str) -> Suggestions:
    if len(prefix) > MAX_PREFIX or "\x00" in prefix:
        return NOTHING
    if offer == "scope":
        return Suggestions([s for s in TARGET_SCOPES if s.startswith(prefix.lower())])
    limit = MAX_VALUES + 1
    agents = caller.permissions.agents if caller.permissions is not None else None
    if offer == "agent":
        found = await registry.db.read(lambda conn: sql.agent_names(conn, prefix, limit, only=agents))
        if agents is not None:  # the SQL compared ASCII case only; the permission check is this one
            found = [name for name in found if caller.permissions.allows_agent(name)]
    elif offer == "instance":
        found = await registry.db.read(lambda conn: sql.instance_ids(conn, prefix, limit, agents=agents))
    elif offer == "tool":
        found = await registry.db.read(sql.tool_names, prefix, limit)
    elif offer == "user":
        only = None if caller.has_role("admin") else caller.username
        found = await registry.db.read(lambda conn: sql.usernames(conn, prefix, limit, only=only))
    else:
        raise ValueError(f"nothing to offer for {offer!r}")
    return Suggestions(found[:MAX_VALUES], has_more=len(found) > MAX_VALUES)
