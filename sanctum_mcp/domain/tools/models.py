"""What the tool and tool-instance tools return."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Literal

from pydantic import BaseModel, Field

ToolCategory = Literal["master", "athena", "monday", "timbre", "smcp"]
CATEGORIES: tuple[str, ...] = ToolCategory.__args__  # type: ignore[attr-defined]
ToolType = Literal["config", "plugin", "service", "utility"]
TOOL_TYPES: tuple[str, ...] = ToolType.__args__  # type: ignore[attr-defined]
ToolStatus = Literal["Healthy", "Degraded", "Off", "Ready"]
PER_AGENT_CATEGORIES = ("athena", "monday", "timbre")


class Tool(BaseModel):
    id: int
    name: str
    description: str | None = None
    emoji: str | None = None
    category: str
    status: ToolStatus
    tool_type: str
    config_schema: dict[str, Any] | None = None
    is_enabled: bool
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Tool:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            emoji=row["emoji"],
            category=row["category"],
            status=row["status"],
            tool_type=row["tool_type"],
            config_schema=json.loads(row["config_schema"]) if row["config_schema"] else None,
            is_enabled=bool(row["is_enabled"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class ToolPage(BaseModel):
    tools: list[Tool]
    next_cursor: str | None = None


class DeletedTool(BaseModel):
    deleted: Tool
    removed_tool_instances: list[str] = Field(default_factory=list)
    removed_scheduled_jobs: list[str] = Field(default_factory=list)


class ToolInstance(BaseModel):
    id: int
    tool: str
    tool_id: int
    tool_enabled: bool
    agent: str | None = None
    agent_id: int | None = None
    name: str
    config: dict[str, Any] = Field(default_factory=dict)  # secrets in it are masked
    status: ToolStatus
    last_run: str | None = None
    next_run: str | None = None
    is_active: bool
    created_at: str
    updated_at: str


class ToolInstancePage(BaseModel):
    instances: list[ToolInstance]
    next_cursor: str | None = None


class DeletedToolInstance(BaseModel):
    deleted: ToolInstance
    removed_scheduled_jobs: list[str] = Field(default_factory=list)
