"""Tool catalog and tool instance tools."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sanctum_mcp.catalogue.base import CONFIRM, Call, Confirm, ToolInput, confirmation, tool
from sanctum_mcp.domain.tools.models import (
    DeletedTool,
    DeletedToolInstance,
    Tool,
    ToolCategory,
    ToolInstance,
    ToolInstancePage,
    ToolPage,
    ToolStatus,
    ToolType,
)

def _the_instance(args: Any) -> list[tuple[str, Any]]:
    # permissions.agents: an instance belongs to its agent; a master instance is host-wide.
    return [("instance", args.instance)]


ToolRef = Field(description="Name or id.")
InstanceRef = Field(ge=1, description="Tool instance id.")
SCHEMA_HELP = "JSON Schema of every instance's config; \"writeOnly\": true marks secrets."


class ListTools(ToolInput):
    category: ToolCategory | None = None
    tool_type: ToolType | None = None
    enabled: bool | None = Field(default=None, description="Only enabled (true) or disabled (false) ones.")
    status: ToolStatus | None = None
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


@tool("list_tools", title="List tools", group="Tools", role="viewer", read_only=True, idempotent=True)
async def list_tools(call: Call, args: ListTools) -> ToolPage:
    """List the tool catalog, by name."""
    return await call.registry.tools.list_tools(
        category=args.category, tool_type=args.tool_type, is_enabled=args.enabled, status=args.status,
        cursor=args.cursor, limit=args.limit,
    )


class GetTool(ToolInput):
    tool: str = ToolRef


@tool("get_tool", title="Get a tool", group="Tools", role="viewer", read_only=True, idempotent=True)
async def get_tool(call: Call, args: GetTool) -> Tool:
    """Show one tool with the config_schema its instances must satisfy."""
    return await call.registry.tools.get_tool(args.tool)


class CreateTool(ToolInput):
    name: str = Field(min_length=1, max_length=64, description="Unique, any case.")
    category: ToolCategory = Field(
        default="master",
        description="master: host-wide instances; athena/monday/timbre: an agent's; smcp: either.",
    )
    tool_type: ToolType = "utility"
    description: str | None = Field(default=None, max_length=2000)
    emoji: str | None = Field(default=None, max_length=16)
    status: ToolStatus = "Ready"
    enabled: bool = True
    config_schema: dict[str, Any] | None = Field(default=None, description=SCHEMA_HELP)


@tool("create_tool", title="Create a tool", group="Tools", role="user", read_only=False)
async def create_tool(call: Call, args: CreateTool) -> Tool:
    """Add a tool to the catalog; names are unique, ignoring case."""
    values = {
        "name": args.name, "category": args.category, "tool_type": args.tool_type,
        "description": args.description, "emoji": args.emoji, "status": args.status,
        "is_enabled": args.enabled, "config_schema": args.config_schema,
    }
    return await call.registry.tools.create_tool(call.caller, values)


class UpdateTool(ToolInput):
    tool: str = ToolRef
    name: str | None = Field(default=None, min_length=1, max_length=64)
    category: ToolCategory | None = Field(default=None, description="New category; existing instances must fit.")
    tool_type: ToolType | None = None
    description: str | None = Field(default=None, max_length=2000)
    emoji: str | None = Field(default=None, max_length=16)
    status: ToolStatus | None = None
    enabled: bool | None = None
    config_schema: dict[str, Any] | None = Field(
        default=None, description="Replaces it ({} = any object); existing configs must satisfy it.",
    )


@tool("update_tool", title="Update a tool", group="Tools", role="user", read_only=False, idempotent=True)
async def update_tool(call: Call, args: UpdateTool) -> Tool:
    """Change a tool's fields; those left out stay. config_schema: admin only while instances hold
    secrets."""
    changes = {
        column: value
        for column, value in (
            ("name", args.name), ("category", args.category), ("tool_type", args.tool_type),
            ("description", args.description), ("emoji", args.emoji), ("status", args.status),
            ("is_enabled", args.enabled), ("config_schema", args.config_schema),
        )
        if value is not None
    }
    return await call.registry.tools.update_tool(call.caller, args.tool, changes)


class DeleteTool(ToolInput):
    tool: str = ToolRef
    cascade: bool | None = Field(  # None (left out) reads as false, and is not published
        default=None,
        description="Delete them and their jobs too.",
    )
    confirm: Confirm = CONFIRM


@tool("delete_tool", title="Delete a tool", group="Tools", role="user", read_only=False, destructive=True)
async def delete_tool(call: Call, args: DeleteTool) -> DeletedTool:
    """Delete a tool; refused while it has instances."""
    return await call.registry.tools.delete_tool(call.caller, args.tool, cascade=bool(args.cascade),
                                                 confirm=confirmation("delete_tool", call, args) if args.cascade else None)


class ListToolInstances(ToolInput):
    agent: str | None = Field(default=None, description="Name or id.")
    tool: str | None = Field(default=None, description="Name or id.")
    active: bool | None = Field(default=None, description="Only active (true) or inactive (false) ones.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


@tool("list_tool_instances", title="List tool instances", group="Tools", role="viewer", read_only=True, idempotent=True,
      agents=("agent",))
async def list_tool_instances(call: Call, args: ListToolInstances) -> ToolInstancePage:
    """List tool instances, oldest first (secrets masked)."""
    return await call.registry.tools.list_instances(
        agent=args.agent, tool=args.tool, is_active=args.active, cursor=args.cursor, limit=args.limit,
    )


class GetToolInstance(ToolInput):
    instance: int = InstanceRef


@tool("get_tool_instance", title="Get a tool instance", group="Tools", role="viewer", read_only=True, idempotent=True,
      owned=_the_instance)
async def get_tool_instance(call: Call, args: GetToolInstance) -> ToolInstance:
    """Show one tool instance with its config (secrets masked)."""
    return await call.registry.tools.get_instance(args.instance)


class CreateToolInstance(ToolInput):
    tool: str = ToolRef
    name: str = Field(min_length=1, max_length=64, description="Unique per tool and agent.")
    agent: str | None = Field(default=None, description="Owner (name or id); none for a master tool's.")
    config: dict[str, Any] | None = Field(default=None, description="Checked against the tool's config_schema.")
    status: ToolStatus = "Ready"
    active: bool = Field(default=True, description="Active or not (not for a disabled tool).")


@tool("create_tool_instance", title="Create a tool instance", group="Tools", role="user", read_only=False,
      agents=("agent",),
      owned=lambda args: [("host", "a master instance (no agent)")] if args.agent in (None, "") else [])
async def create_tool_instance(call: Call, args: CreateToolInstance) -> ToolInstance:
    """Configure a tool for an agent, or host-wide for a master tool."""
    return await call.registry.tools.create_instance(
        call.caller, tool=args.tool, agent=args.agent, name=args.name, config=args.config or {},
        status=args.status, is_active=args.active,
    )


class UpdateToolInstance(ToolInput):
    instance: int = InstanceRef
    name: str | None = Field(default=None, min_length=1, max_length=64)
    config: dict[str, Any] | None = Field(
        default=None, description="Replaces the config. A secret sent back as its mask stays as stored.",
    )
    status: ToolStatus | None = None
    active: bool | None = Field(default=None, description="Activate (tool enabled) or deactivate.")


@tool("update_tool_instance", title="Update a tool instance", group="Tools", role="user", read_only=False, idempotent=True,
      owned=_the_instance)
async def update_tool_instance(call: Call, args: UpdateToolInstance) -> ToolInstance:
    """Change a tool instance's fields; those left out stay."""
    changes = {
        key: value
        for key, value in (("name", args.name), ("config", args.config), ("status", args.status), ("is_active", args.active))
        if value is not None
    }
    return await call.registry.tools.update_instance(call.caller, args.instance, changes)


class DeleteToolInstance(ToolInput):
    instance: int = InstanceRef
    cascade: bool | None = Field(  # None (left out) reads as false, and is not published
        default=None,
        description="Delete them too.",
    )
    confirm: Confirm = CONFIRM


@tool("delete_tool_instance", title="Delete a tool instance", group="Tools", role="user", read_only=False, destructive=True,
      owned=_the_instance)
async def delete_tool_instance(call: Call, args: DeleteToolInstance) -> DeletedToolInstance:
    """Delete a tool instance; refused while jobs run it."""
    return await call.registry.tools.delete_instance(
        call.caller, args.instance, cascade=bool(args.cascade),
        confirm=confirmation("delete_tool_instance", call, args) if args.cascade else None)
