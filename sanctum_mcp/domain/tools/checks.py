"""What a tool or an instance must be (names, categories, types, the config_schema, the agent rule),
and finding one by name or id."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sanctum_mcp.domain.schemas import validation as schemas
from sanctum_mcp.domain.shared.errors import InvalidInput, NotFound
from sanctum_mcp.domain.shared.names import check_name_characters
from sanctum_mcp.domain.shared.references import as_id, looks_like_id
from sanctum_mcp.domain.tools.models import CATEGORIES, PER_AGENT_CATEGORIES, TOOL_TYPES
from sanctum_mcp.storage import tools as sql

MAX_NAME = 64


def resolve_tool(conn: sqlite3.Connection, tool: str) -> sqlite3.Row:
    row = sql.get_tool_by_name(conn, tool)
    if row is None and (tool_id := as_id(tool)) is not None:
        row = sql.get_tool_by_id(conn, tool_id)
    if row is None:
        raise NotFound(f"no tool named {tool!r}; call list_tools to see the registered tools.")
    return row


def resolve_instance(conn: sqlite3.Connection, instance_id: int) -> sqlite3.Row:
    row = sql.get_instance(conn, instance_id)
    if row is None:
        raise NotFound(f"no tool instance with id {instance_id}; call list_tool_instances to find its id.")
    return row


def check_name(name: str, what: str) -> str:
    check_name_characters(name, what)
    if not name.strip() or name.strip() != name:
        raise InvalidInput(f"{what} name {name!r} must be non-empty and have no surrounding spaces.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{what} name is {len(name)} characters long; the limit is {MAX_NAME}.")
    if looks_like_id(name):
        raise InvalidInput(f"{what} name {name!r} cannot be all digits (digits address a {what} by id).")
    return name


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise InvalidInput(f"tool category {category!r} is unknown; use one of {', '.join(CATEGORIES)}.")
    return category


def check_tool_type(tool_type: str) -> str:
    if tool_type not in TOOL_TYPES:
        raise InvalidInput(f"tool_type {tool_type!r} is unknown; use one of {', '.join(TOOL_TYPES)}.")
    return tool_type


def check_config_schema(schema: Any) -> dict[str, Any]:
    schemas.check_schema(schema, what="config_schema", fix="Fix the schema and call the tool again.")
    return schema


async def check_config_schema_off_loop(schema: Any) -> dict[str, Any]:
    """check_config_schema in a worker thread: checking a large schema against its meta-schema
    takes seconds of pure Python, which on the event loop would stall every other caller."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(check_config_schema, schema)


def agent_rule(tool_name: str, category: str, agent_given: bool) -> None:
    """Master tools' instances are host-wide (no agent); per-agent categories need one."""
    if category == "master" and agent_given:
        raise InvalidInput(
            f"tool {tool_name!r} is a master tool: its instances are shared by the whole host and have no "
            "agent. Leave agent out, or use a tool of an agent's category."
        )
    if category in PER_AGENT_CATEGORIES and not agent_given:
        raise InvalidInput(
            f"tool {tool_name!r} has category {category!r}: its instances belong to an agent. Name the agent "
            "(see list_agents)."
        )


def schema_of(tool_row: sqlite3.Row) -> dict[str, Any] | None:
    return json.loads(tool_row["config_schema"]) if tool_row["config_schema"] else None


def disabled_tool_message(tool_name: str) -> str:
    return (
        f"tool {tool_name!r} is disabled, so an instance of it cannot be active. Enable the tool first "
        f"(update_tool with enabled=true), or keep the instance inactive (active=false)."
    )
