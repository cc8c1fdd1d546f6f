"""Agent tools."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sanctum_mcp.catalogue.base import CONFIRM, Call, Confirm, ToolInput, confirmation, tool
from sanctum_mcp.domain.agents import Agent, AgentPage, AgentStatus, DeletedAgent

AgentRef = Field(description="Name or id.")


class ListAgents(ToolInput):
    status: AgentStatus | None = None
    active: bool | None = Field(default=None, description="Only active (true) or inactive (false) ones.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


@tool("list_agents", title="List agents", group="Agents", role="viewer", read_only=True, idempotent=True)
async def list_agents(call: Call, args: ListAgents) -> AgentPage:
    """List the registered agents, by name."""
    return await call.registry.agents.list(status=args.status, is_active=args.active, cursor=args.cursor, limit=args.limit)


class GetAgent(ToolInput):
    agent: str = AgentRef


@tool("get_agent", title="Get an agent", group="Agents", role="viewer", read_only=True, idempotent=True,
      agents=("agent",))
async def get_agent(call: Call, args: GetAgent) -> Agent:
    """Show one agent with its status, Letta id and settings."""
    return await call.registry.agents.get(args.agent)


class CreateAgent(ToolInput):
    name: str = Field(min_length=1, max_length=64, description="Unique, any case.")
    description: str | None = Field(default=None, max_length=2000)
    status: AgentStatus = "Ready"
    active: bool = True
    letta_id: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = Field(default=None, description="Settings.")


@tool("create_agent", title="Create an agent", group="Agents", role="user", read_only=False, agents=("name",))
async def create_agent(call: Call, args: CreateAgent) -> Agent:
    """Register a new agent; names are unique, ignoring case."""
    values = {
        "name": args.name,
        "description": args.description,
        "status": args.status,
        "is_active": args.active,
        "letta_id": args.letta_id,
        "config": args.config or {},
    }
    return await call.registry.agents.create(call.caller, values)


class UpdateAgent(ToolInput):
    agent: str = AgentRef
    name: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=2000)
    status: AgentStatus | None = None
    active: bool | None = None
    letta_id: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = Field(default=None, description="Replaces the settings.")


@tool("update_agent", title="Update an agent", group="Agents", role="user", read_only=False, idempotent=True,
      agents=("agent", "name"))
async def update_agent(call: Call, args: UpdateAgent) -> Agent:
    """Change an agent's fields; those left out stay."""
    changes = {
        column: value
        for column, value in (
            ("name", args.name),
            ("description", args.description),
            ("status", args.status),
            ("is_active", args.active),
            ("letta_id", args.letta_id),
            ("config", args.config),
        )
        if value is not None
    }
    return await call.registry.agents.update(call.caller, args.agent, changes)


class SetAgentStatus(ToolInput):
    agent: str = AgentRef
    status: AgentStatus


@tool("set_agent_status", title="Set an agent's status", group="Agents", role="user", read_only=False, idempotent=True,
      agents=("agent",))
async def set_agent_status(call: Call, args: SetAgentStatus) -> Agent:
    """Set an agent's status (Healthy, Degraded, Off or Ready)."""
    return await call.registry.agents.update(call.caller, args.agent, {"status": args.status})


class DeleteAgent(ToolInput):
    agent: str = AgentRef
    cascade: bool | None = Field(  # None (left out) reads as false, and is not published
        default=None,
        description="Delete them too.",
    )
    confirm: Confirm = CONFIRM


@tool("delete_agent", title="Delete an agent", group="Agents", role="user", read_only=False, destructive=True,
      agents=("agent",))
async def delete_agent(call: Call, args: DeleteAgent) -> DeletedAgent:
    """Delete an agent; refused while instances or jobs use it."""
    return await call.registry.agents.delete(call.caller, args.agent, cascade=bool(args.cascade),
                                             confirm=confirmation("delete_agent", call, args) if args.cascade else None)
