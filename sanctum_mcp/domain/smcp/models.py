"""What sync_smcp_plugins returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain.plugins.models import PluginStatus


class SyncEntry(BaseModel):
    name: str
    folder: str
    outcome: Literal["registered", "updated", "unchanged", "error", "vanished", "skipped"]
    status: PluginStatus | None = None
    version: str | None = None
    commands: list[str] = Field(default_factory=list)
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)


class SyncReport(BaseModel):
    plugins_dir: str
    entries: list[SyncEntry]
