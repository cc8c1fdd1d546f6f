"""Agents: the Letta agents Sanctum runs (Athena, Monday, Timbre, ...)."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain.config.cleanup import delete_settings_of
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.confirm import Confirmation
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.names import check_name_characters
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.shared.reach import refuse_outside_agents
from sanctum_mcp.domain.shared.references import as_id, looks_like_id
from sanctum_mcp.storage import agents as sql
from sanctum_mcp.storage import ownership

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database

AgentStatus = Literal["Healthy", "Degraded", "Off", "Ready"]
AGENT_STATUSES: tuple[str, ...] = AgentStatus.__args__  # type: ignore[attr-defined]
MAX_NAME = 64


class Agent(BaseModel):
    id: int
    name: str
    description: str | None = None
    status: AgentStatus
    is_active: bool
    letta_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Agent:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            status=row["status"],
            is_active=bool(row["is_active"]),
            letta_id=row["letta_id"],
            config=json.loads(row["config"]) if row["config"] else {},
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class AgentPage(BaseModel):
    agents: list[Agent]
    next_cursor: str | None = None


class DeletedAgent(BaseModel):
    deleted: Agent
    removed_tool_instances: list[str] = Field(default_factory=list)
    removed_scheduled_jobs: list[str] = Field(default_factory=list)
    removed_configurations: list[str] = Field(
        default_factory=list
    )


def resolve(conn: sqlite3.Connection, agent: str) -> sqlite3.Row:
    """Find an agent by name (any case) or numeric id, or say how to find the right one."""
    row = sql.get_by_name(conn, agent)
    if row is None and (agent_id := as_id(agent)) is not None:
        row = sql.get_by_id(conn, agent_id)
    if row is None:
        raise NotFound(f"no agent named {agent!r}; call list_agents to see the registered agents.")
    return row


def check_agent_name(name: str) -> str:
    check_name_characters(name, "agent")
    cleaned = name.strip()
    if not cleaned or cleaned != name:
        raise InvalidInput(f"agent name {name!r} must be non-empty and have no surrounding spaces.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"agent name is {len(name)} characters long; the limit is {MAX_NAME}.")
    if looks_like_id(name):
        raise InvalidInput(f"agent name {name!r} cannot be all digits (digits address agents by id).")
    return name


class AgentService:
    PAGE_DEFAULT = 50

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(
        self,
        *,
        status: str | None = None,
        is_active: bool | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> AgentPage:
        key = decode_cursor("list_agents", cursor, arity=2)
        after = (key[0], key[1]) if key else None
        rows = await self.db.read(
            lambda conn: sql.page(conn, status=status, is_active=is_active, after=after, limit=limit + 1)
        )
        agents = [Agent.from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = agents[-1]
            next_cursor = encode_cursor("list_agents", [last.name, last.id])
        return AgentPage(agents=agents, next_cursor=next_cursor)

    async def get(self, agent: str) -> Agent:
        return Agent.from_row(await self.db.read(resolve, agent))

    async def create(self, caller: Caller, values: dict[str, Any]) -> Agent:
        name = check_agent_name(values["name"])

        def tx(conn: sqlite3.Connection) -> Agent:
            existing = sql.get_by_name(conn, name)
            if existing is not None:
                raise Conflict(
                    f"an agent named {existing['name']!r} already exists (names ignore case); "
                    "choose another name or update that agent with update_agent."
                )
            agent_id = sql.insert(conn, _to_columns(values))
            created = Agent.from_row(sql.get_by_id(conn, agent_id))
            audit.record(conn, caller, action="agent.create", source="agent", source_id=agent_id,
                         message=f"agent {name!r} created", after=created)
            return created

        return await self.db.write(tx)

    async def update(self, caller: Caller, agent: str, changes: dict[str, Any]) -> Agent:
        if "name" in changes:
            check_agent_name(changes["name"])

        def tx(conn: sqlite3.Connection) -> Agent:
            row = resolve(conn, agent)
            before = Agent.from_row(row)
            if "name" in changes:
                clash = sql.get_by_name(conn, changes["name"])
                if clash is not None and clash["id"] != row["id"]:
                    raise Conflict(f"another agent is already named {clash['name']!r}; choose another name.")
            sql.update(conn, row["id"], _to_columns(changes))
            after = Agent.from_row(sql.get_by_id(conn, row["id"]))
            audit.record(conn, caller, action="agent.update", source="agent", source_id=row["id"],
                         message=f"agent {after.name!r} updated", before=before, after=after)
            return after

        return await self.db.write(tx)

    async def delete(self, caller: Caller, agent: str, *, cascade: bool,
                     confirm: Confirmation | None = None) -> DeletedAgent:
        def tx(conn: sqlite3.Connection) -> DeletedAgent:
            row = resolve(conn, agent)
            before = Agent.from_row(row)
            refs = sql.dependents(conn, row["id"])
            if (refs["tool_instances"] or refs["scheduled_jobs"]) and not cascade:
                raise Conflict(
                    f"agent {before.name!r} is still referenced by {_describe(refs)}. Nothing was deleted. "
                    "Delete or move those first, or call delete_agent again with cascade=true to delete "
                    "them together with the agent."
                )
            if refs["tool_instances"] or refs["scheduled_jobs"]:
                refuse_outside_agents(conn, caller, f"delete_agent {before.name!r} with cascade=true",
                                      ownership.agent_reach, row["id"])
            if confirm is not None:
                confirm.check(f"delete agent {before.name!r} (id {before.id}) with {_describe(refs) or 'nothing else'}"
                              f", and {sql.setting_count(conn, row['id'])} of its settings")
            # The agent's own settings and its instances' settings go with it (history keeps them).
            settings = delete_settings_of(conn, "instance", sql.instance_ids(conn, row["id"]), changed_by=caller.username)
            settings += delete_settings_of(conn, "agent", [row["id"]], changed_by=caller.username)
            sql.delete_dependents(conn, row["id"])
            sql.delete(conn, row["id"])
            audit.record(conn, caller, action="agent.delete", source="agent", source_id=row["id"],
                         message=f"agent {before.name!r} deleted", before=before,
                         extra={"cascade": refs if cascade else None, "removed_configurations": settings or None})
            return DeletedAgent(
                deleted=before,
                removed_tool_instances=refs["tool_instances"],
                removed_scheduled_jobs=refs["scheduled_jobs"],
                removed_configurations=settings,
            )

        return await self.db.write(tx)


def _describe(refs: dict[str, list[str]]) -> str:
    parts = []
    for kind, names in refs.items():
        if names:
            label = kind.replace("_", " ")
            parts.append(f"{len(names)} {label} ({', '.join(repr(n) for n in names)})")
    return " and ".join(parts)


def _to_columns(values: dict[str, Any]) -> dict[str, Any]:
    columns = dict(values)
    if "config" in columns and columns["config"] is not None:
        columns["config"] = json.dumps(columns["config"], separators=(",", ":"))
    if "is_active" in columns and columns["is_active"] is not None:
        columns["is_active"] = int(columns["is_active"])
    return columns
