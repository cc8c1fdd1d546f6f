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


ToolRef = Field(description="The tool's name (any case), e.g. 'mailer', or its numeric id.")
InstanceRef = Field(ge=1, description="The tool instance's numeric id (see list_tool_instances).")
SCHEMA_HELP = (
    "JSON Schema (Draft 2020-12 unless it names another in $schema) that every instance's config must "
    "satisfy; it must describe an object. Mark secret values \"writeOnly\": true (anywhere: properties, "
    "items, $defs, allOf...) to store them encrypted and show them masked. Patterns run in RE2 (no "
    "backreferences or lookaround); $ref must point inside the schema."
)


class ListTools(ToolInput):
    category: ToolCategory | None = Field(default=None, description="Only tools of this category.")
    tool_type: ToolType | None = Field(default=None, description="Only tools of this type.")
    enabled: bool | None = Field(default=None, description="true: only enabled tools; false: only disabled ones.")
    status: ToolStatus | None = Field(default=None, description="Only tools with this status.")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the first page.")
    limit: int = Field(default=50, ge=1, le=500, description="Tools per page (1-500).")


@tool("list_tools", title="List tools", group="Tools", role="viewer", read_only=True, idempotent=True)
async def list_tools(call: Call, args: ListTools) -> ToolPage:
    """List the tools in the catalog ordered by name, one page at a time.

    Filter by category (master = shared by the whole host; athena/monday/timbre = one agent's;
    smcp = commands of an SMCP plugin), tool_type, enabled flag or status. When the result has
    next_cursor, call again with it for the next page."""
    return await call.registry.tools.list_tools(
        category=args.category, tool_type=args.tool_type, is_enabled=args.enabled, status=args.status,
        cursor=args.cursor, limit=args.limit,
    )


class GetTool(ToolInput):
    tool: str = ToolRef


@tool("get_tool", title="Get a tool", group="Tools", role="viewer", read_only=True, idempotent=True)
async def get_tool(call: Call, args: GetTool) -> Tool:
    """Show one tool: category, type, status, enabled flag and the config_schema its instances must satisfy."""
    return await call.registry.tools.get_tool(args.tool)


class CreateTool(ToolInput):
    name: str = Field(min_length=1, max_length=64, description="Unique name, case-insensitive (e.g. 'mailer').")
    category: ToolCategory = Field(
        default="master",
        description="master (instances shared by the whole host, no agent), athena/monday/timbre (instances "
        "belong to an agent) or smcp (SMCP plugin commands; agent optional).",
    )
    tool_type: ToolType = Field(default="utility", description="config, plugin, service or utility.")
    description: str | None = Field(default=None, max_length=2000, description="What the tool does.")
    emoji: str | None = Field(default=None, max_length=16, description="An emoji shown next to the tool.")
    status: ToolStatus = Field(default="Ready", description="Initial status.")
    enabled: bool = Field(default=True, description="Whether the tool is enabled.")
    config_schema: dict[str, Any] | None = Field(default=None, description=SCHEMA_HELP)


@tool("create_tool", title="Create a tool", group="Tools", role="user", read_only=False)
async def create_tool(call: Call, args: CreateTool) -> Tool:
    """Add a tool to the catalog. Fails if the name is taken (ignoring case) or config_schema is not a
    valid JSON Schema (the error names the failing place in the schema)."""
    values = {
        "name": args.name, "category": args.category, "tool_type": args.tool_type,
        "description": args.description, "emoji": args.emoji, "status": args.status,
        "is_enabled": args.enabled, "config_schema": args.config_schema,
    }
    return await call.registry.tools.create_tool(call.caller, values)


class UpdateTool(ToolInput):
    tool: str = ToolRef
    name: str | None = Field(default=None, min_length=1, max_length=64, description="New name.")
    category: ToolCategory | None = Field(default=None, description="New category (refused if existing instances would not fit it).")
    tool_type: ToolType | None = Field(default=None, description="New type.")
    description: str | None = Field(default=None, max_length=2000, description="New description.")
    emoji: str | None = Field(default=None, max_length=16, description="New emoji.")
    status: ToolStatus | None = Field(default=None, description="New status.")
    enabled: bool | None = Field(default=None, description="Enable or disable the tool.")
    config_schema: dict[str, Any] | None = Field(
        default=None,
        description="Replaces the JSON Schema; refused while an existing instance's config would not satisfy it. "
        "{} accepts any object.",
    )


@tool("update_tool", title="Update a tool", group="Tools", role="user", read_only=False, idempotent=True)
async def update_tool(call: Call, args: UpdateTool) -> Tool:
    """Change some fields of a tool; fields left out stay as they are. A new config_schema must be valid
    and every existing instance's config must satisfy it (the error names the instances and paths).
    While instances hold writeOnly secrets, only an admin may change config_schema."""
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
    cascade: bool = Field(
        default=False,
        description="Also delete its instances and the scheduled jobs that run them (previewed first).",
    )
    confirm: Confirm = CONFIRM


@tool("delete_tool", title="Delete a tool", group="Tools", role="user", read_only=False, destructive=True)
async def delete_tool(call: Call, args: DeleteTool) -> DeletedTool:
    """Delete a tool. Refused while it has instances (the error names them) unless cascade=true.
    Its plugin links go with it. Returns what was removed."""
    return await call.registry.tools.delete_tool(call.caller, args.tool, cascade=args.cascade,
                                                 confirm=confirmation("delete_tool", call, args) if args.cascade else None)


class ListToolInstances(ToolInput):
    agent: str | None = Field(default=None, description="Only this agent's instances (name or id).")
    tool: str | None = Field(default=None, description="Only instances of this tool (name or id).")
    active: bool | None = Field(default=None, description="true: only active instances; false: only inactive ones.")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the first page.")
    limit: int = Field(default=50, ge=1, le=500, description="Instances per page (1-500).")


@tool("list_tool_instances", title="List tool instances", group="Tools", role="viewer", read_only=True, idempotent=True,
      agents=("agent",))
async def list_tool_instances(call: Call, args: ListToolInstances) -> ToolInstancePage:
    """List tool instances (a tool configured for an agent, or host-wide for master tools), oldest first,
    optionally only one agent's or one tool's. Secrets in configs are masked."""
    return await call.registry.tools.list_instances(
        agent=args.agent, tool=args.tool, is_active=args.active, cursor=args.cursor, limit=args.limit,
    )


class GetToolInstance(ToolInput):
    instance: int = InstanceRef


@tool("get_tool_instance", title="Get a tool instance", group="Tools", role="viewer", read_only=True, idempotent=True,
      owned=_the_instance)
async def get_tool_instance(call: Call, args: GetToolInstance) -> ToolInstance:
    """Show one tool instance: its tool, agent, config (secrets masked), status and run times."""
    return await call.registry.tools.get_instance(args.instance)


class CreateToolInstance(ToolInput):
    tool: str = ToolRef
    name: str = Field(min_length=1, max_length=64, description="A name for the instance, unique per tool and agent.")
    agent: str | None = Field(
        default=None,
        description="The agent it belongs to (name or id). Leave out for master tools (host-wide); required for "
        "athena/monday/timbre tools; optional for smcp tools.",
    )
    config: dict[str, Any] | None = Field(
        default=None, description="Settings, validated against the tool's config_schema (omitted = {})."
    )
    status: ToolStatus = Field(default="Ready", description="Initial status.")
    active: bool = Field(default=True, description="Whether the instance is active (a disabled tool's cannot be).")


@tool("create_tool_instance", title="Create a tool instance", group="Tools", role="user", read_only=False,
      agents=("agent",),
      owned=lambda args: [("host", "a master instance (no agent)")] if args.agent in (None, "") else [])
async def create_tool_instance(call: Call, args: CreateToolInstance) -> ToolInstance:
    """Configure a tool for an agent (or host-wide for a master tool). The config must satisfy the tool's
    config_schema; errors name each failing JSON path (e.g. $.smtp.port). An instance of a disabled tool
    can only be created with active=false."""
    return await call.registry.tools.create_instance(
        call.caller, tool=args.tool, agent=args.agent, name=args.name, config=args.config or {},
        status=args.status, is_active=args.active,
    )


class UpdateToolInstance(ToolInput):
    instance: int = InstanceRef
    name: str | None = Field(default=None, min_length=1, max_length=64, description="New name.")
    config: dict[str, Any] | None = Field(
        default=None,
        description="Replaces the whole config; validated against the tool's config_schema. A secret sent back "
        "exactly as its mask keeps the stored value.",
    )
    status: ToolStatus | None = Field(default=None, description="New status.")
    active: bool | None = Field(default=None, description="Activate or deactivate (activation needs the tool enabled).")


@tool("update_tool_instance", title="Update a tool instance", group="Tools", role="user", read_only=False, idempotent=True,
      owned=_the_instance)
async def update_tool_instance(call: Call, args: UpdateToolInstance) -> ToolInstance:
    """Change some fields of a tool instance; fields left out stay. A new config is validated against the
    tool's config_schema (errors name the JSON path); activating needs the tool to be enabled."""
    changes = {
        key: value
        for key, value in (("name", args.name), ("config", args.config), ("status", args.status), ("is_active", args.active))
        if value is not None
    }
    return await call.registry.tools.update_instance(call.caller, args.instance, changes)


class DeleteToolInstance(ToolInput):
    instance: int = InstanceRef
    cascade: bool = Field(
        default=False,
        description="Also delete the scheduled jobs that run it (previewed first).",
    )
    confirm: Confirm = CONFIRM


@tool("delete_tool_instance", title="Delete a tool instance", group="Tools", role="user", read_only=False, destructive=True,
      owned=_the_instance)
async def delete_tool_instance(call: Call, args: DeleteToolInstance) -> DeletedToolInstance:
    """Delete a tool instance. Refuses while scheduled jobs run it (and names them) unless cascade=true."""
    return await call.registry.tools.delete_instance(
        call.caller, args.instance, cascade=args.cascade,
        confirm=confirmation("delete_tool_instance", call, args) if args.cascade else None)
