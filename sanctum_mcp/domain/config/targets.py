"""Targets: (scope, name or id) -> the stored target of a setting, and the chain of targets a
lookup walks (an instance brings its own tool and agent)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sanctum_mcp.domain.config.models import SCOPES, ResolvedConfig
from sanctum_mcp.domain.shared.errors import InvalidInput, NotFound
from sanctum_mcp.domain.shared.references import as_id
from sanctum_mcp.storage import config as sql


@dataclass(frozen=True)
class Target:
    scope: str
    id: str  # as stored in configurations.target ('' for system)
    name: str  # for people

    @property
    def target_id(self) -> int | None:
        return int(self.id) if self.id else None

    @property
    def label(self) -> str:
        if self.scope == "system":
            return "the system level"
        if self.scope == "instance":
            return f"instance {self.name!r} (id {self.id})"
        return f"{self.scope} {self.name!r}"


SYSTEM = Target("system", "", "")
_LISTING = {"agent": "list_agents", "tool": "list_tools", "instance": "list_tool_instances", "user": "list_users"}


def resolve_target(conn: sqlite3.Connection, scope: str, ref: str | None, *, allow_gone: bool = False) -> Target:
    """Turn (scope, name-or-id) into the stored target, or say how to find the right one."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope {scope!r} is not one of {', '.join(SCOPES)}.")
    if scope == "system":
        if ref not in (None, ""):
            raise InvalidInput("the system scope has no target; leave target out (or empty) for system settings.")
        return SYSTEM
    if ref is None or ref == "":
        what = "an instance id" if scope == "instance" else f"the {scope}'s name or id"
        raise InvalidInput(f"scope {scope!r} needs a target: {what}.")
    if scope == "instance":
        instance_id = as_id(ref)
        if instance_id is None:
            raise InvalidInput(
                f"tool instances are addressed by numeric id, not {ref!r}; call {_LISTING['instance']} to find the id."
            )
        row = sql.find_instance(conn, instance_id)
        kind = "tool instance with id"
    elif scope == "agent":
        row, kind = sql.find_agent(conn, ref), "agent named"
    elif scope == "tool":
        row, kind = sql.find_tool(conn, ref), "tool named"
    else:
        row, kind = sql.find_user(conn, ref), "user named"
    if row is None:
        if allow_gone and (gone_id := as_id(ref)) is not None:
            return Target(scope, str(gone_id), f"#{gone_id} (deleted)")
        raise NotFound(f"no {kind} {ref!r}; call {_LISTING[scope]} to see what exists.")
    return Target(scope, str(row["id"]), row["name"])


def instance_chain(conn: sqlite3.Connection, instance: str, tool: str | None, agent: str | None) -> list[Target]:
    inst = resolve_target(conn, "instance", instance)
    row = sql.find_instance(conn, int(inst.id))
    tool_t = Target("tool", str(row["tool_id"]), row["tool_name"])
    if tool is not None:
        given = resolve_target(conn, "tool", tool)
        if given.id != tool_t.id:
            raise InvalidInput(
                f"{inst.label} is an instance of tool {tool_t.name!r}, not {given.name!r}; "
                "leave tool out when you pass instance (the instance brings its own tool)."
            )
    chain = [inst, tool_t]
    agent_t = Target("agent", str(row["agent_id"]), row["agent_name"]) if row["agent_id"] is not None else None
    if agent is not None:
        given = resolve_target(conn, "agent", agent)
        if agent_t is None or given.id != agent_t.id:
            owner = f"agent {agent_t.name!r}" if agent_t else "no agent (a master instance)"
            raise InvalidInput(
                f"{inst.label} belongs to {owner}, not {given.name!r}; "
                "leave agent out when you pass instance (the instance brings its own agent)."
            )
    if agent_t is not None:
        chain.append(agent_t)
    return chain


def chain_for(conn: sqlite3.Connection, *, agent: str | None, tool: str | None, instance: str | None,
              user: str | None) -> list[Target]:
    """The targets a lookup asks for, highest priority first (the system level is not included)."""
    chain: list[Target] = []
    if user is not None:
        chain.append(resolve_target(conn, "user", user))
    if instance is not None:
        chain += instance_chain(conn, instance, tool, agent)
    else:
        if tool is not None:
            chain.append(resolve_target(conn, "tool", tool))
        if agent is not None:
            chain.append(resolve_target(conn, "agent", agent))
    return chain


def label_of(resolved: ResolvedConfig) -> str:
    return Target(resolved.scope, str(resolved.target_id or ""), resolved.target).label
