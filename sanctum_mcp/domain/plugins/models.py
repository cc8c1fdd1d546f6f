"""What the plugin tools return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

PluginType = Literal["mcp", "extension", "integration"]
PLUGIN_TYPES: tuple[str, ...] = PluginType.__args__  # type: ignore[attr-defined]
PluginStatus = Literal["Active", "Inactive", "Error"]


class PluginDependency(BaseModel):
    name: str
    version_spec: str | None = None


class Plugin(BaseModel):
    id: int
    name: str
    type: PluginType
    version: str | None = None
    status: PluginStatus
    error: str | None = None
    is_enabled: bool
    config: dict[str, Any] = Field(
        default_factory=dict
    )
    dependencies: list[PluginDependency] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    created_at: str
    updated_at: str


class PluginSummary(BaseModel):
    id: int
    name: str
    type: PluginType
    version: str | None = None
    status: PluginStatus
    error: str | None = None
    is_enabled: bool
    commands: list[str] = Field(default_factory=list)
    dependencies: list[PluginDependency] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    updated_at: str


class PluginPage(BaseModel):
    plugins: list[PluginSummary]
    next_cursor: str | None = None


class DependencyNode(BaseModel):
    # One dependency in a plugin's dependency tree, with its own (recursive). A comment: the field
    # names say it, and a docstring would be published in the output schema.

    name: str
    version_spec: str | None = None
    registered: bool
    version: str | None = None
    enabled: bool = False
    status: PluginStatus | None = None
    satisfied: bool
    cycle: bool = Field(default=False)
    dependencies: list[DependencyNode] = Field(default_factory=list)


class DependentNode(BaseModel):
    # A plugin that depends on the one above it, with its own dependents (recursive). A comment, as
    # for DependencyNode: the field names say it.

    name: str
    version: str | None = None
    version_spec: str | None = None
    enabled: bool
    status: PluginStatus
    satisfied: bool
    cycle: bool = False
    dependents: list[DependentNode] = Field(default_factory=list)


class PluginDetail(Plugin):
    dependency_tree: list[DependencyNode] = Field(
        default_factory=list
    )
    dependents: list[DependentNode] = Field(default_factory=list)


class RegisterResult(BaseModel):
    outcome: Literal["registered", "upgraded", "unchanged"]
    plugin: Plugin
    previous_version: str | None = None


class PluginChange(BaseModel):
    plugin: Plugin
    changed: bool
    also_enabled: list[str] = Field(default_factory=list)
    also_disabled: list[str] = Field(default_factory=list)


class LinkResult(BaseModel):
    plugin: Plugin
    changed: list[str] = Field(default_factory=list, description="'agent:NAME' or 'tool:NAME'.")
    unchanged: list[str] = Field(default_factory=list)


class DeletedPlugin(BaseModel):
    deleted: Plugin
