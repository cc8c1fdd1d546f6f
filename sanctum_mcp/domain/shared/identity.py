"""Who is calling, what their role lets them do, and how their permissions narrow it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["viewer", "user", "admin"]
ROLES: tuple[str, ...] = ("viewer", "user", "admin")
ROLE_RANK: dict[str, int] = {"viewer": 0, "user": 1, "admin": 2}


@dataclass(frozen=True)
class Permissions:
    """A user's `permissions` JSON, parsed. Each set present narrows the role further; None = no limit.

    - agents: the only agents (names, compared ignoring case) the caller may act on through a tool
      that names an agent; tools that act on every agent at once are refused.
    - tools: the only tools the caller may call at all.
    """

    agents: frozenset[str] | None = None
    tools: frozenset[str] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Permissions | None:
        if not data:
            return None
        agents = data.get("agents")
        tools = data.get("tools")
        return cls(
            agents=None if agents is None else frozenset(str(a) for a in agents),
            tools=None if tools is None else frozenset(str(t) for t in tools),
        )

    def allows_agent(self, name: str) -> bool:
        return self.agents is None or name.casefold() in {a.casefold() for a in self.agents}


class Served(Protocol):
    """The tools a surface serves (catalogue/toolsets.py Selection)."""

    def admits(self, name: str) -> bool: ...

    def refusal(self, name: str) -> str: ...


@dataclass(frozen=True)
class Caller:
    username: str
    role: Role
    user_id: int | None = None
    permissions: Permissions | None = None
    # Set when the surface the caller uses must not carry a secret in clear (SMCP logs every
    # argument and result): why, and what to do instead. Every place where a secret enters or
    # leaves in clear refuses it then (catalogue/base.py authorize for what a tool declares with
    # `secrets=`, the domain where it depends on stored data: a sensitive key, a writeOnly property).
    no_secrets: str | None = None
    # Set when the surface serves only some tools (serve --toolsets/--tools/--read-only, an HTTP
    # URL's selection), for the console as for /mcp: a call of another tool is refused (authorize),
    # and nothing shows that tool's data (changes_since's kinds, may_call_some).
    serves: Served | None = None

    def has_role(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]


# Fallback identity for code that runs without a users table row (in-process tests that build a
# server without a registry operator). Serving paths use `Registry.operator`, a real user.
LOCAL_OPERATOR = Caller(username="operator", role="admin")

# The registry itself, for rows it writes on its own (the first admin on first start).
SYSTEM = Caller(username="system", role="admin")

# The identity the scheduler's own actions (automatic backups) are recorded under.
SCHEDULER = Caller(username="scheduler", role="admin")

# Name of the admin created on first start when no user exists and no other name was given.
DEFAULT_LOCAL_USER = "operator"
