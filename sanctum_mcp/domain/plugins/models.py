"""What the plugin tools return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

PluginType = Literal["mcp", "extension", "integration"]
PLUGIN_TYPES: tuple[str, ...] = PluginType.__args__  # type: ignore[attr-defined]
PluginStatus = Literal["Active", "Inactive", "Error"]


class PluginDependency(BaseModel):
    name: str
    version_spec: str | None = Field(default=None, description="e.g. '>=1.2,<2'; null: any.")


class Plugin(BaseModel):
    id: int
    name: str
    type: PluginType
    version: str | None = None
    status: PluginStatus
    error: str | None = Field(default=None, description="Why it is in Error.")
    is_enabled: bool
    config: dict[str, Any] = Field(
        default_factory=dict, description="`smcp` holds what the SMCP scan found."
    )
    dependencies: list[PluginDependency] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list, description="Linked agents.")
    tools: list[str] = Field(default_factory=list, description="Linked tools.")
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
    commands: list[str] = Field(default_factory=list, description="Its SMCP commands.")
    dependencies: list[PluginDependency] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    updated_at: str


class PluginPage(BaseModel):
    plugins: list[PluginSummary]
    next_cursor: str | None = None


class DependencyNode(BaseModel):
    """A dependency, with its own (recursive)."""

    name: str
    version_spec: str | None = Field(default=None, description="What the parent accepts.")
    registered: bool
    version: str | None = Field(default=None, description="Registered version.")
    enabled: bool = False
    status: PluginStatus | None = None
    satisfied: bool = Field(description="Registered and within version_spec.")
    cycle: bool = Field(default=False, description="Repeats an ancestor (not expanded).")
    dependencies: list[DependencyNode] = Field(default_factory=list)


class DependentNode(BaseModel):
    """A plugin depending on its parent, with its own dependents (recursive)."""

    name: str
    version: str | None = None
    version_spec: str | None = Field(default=None, description="What it accepts of the parent.")
    enabled: bool
    status: PluginStatus
    satisfied: bool = Field(description="The parent is within version_spec.")
    cycle: bool = False
    dependents: list[DependentNode] = Field(default_factory=list)


class PluginDetail(Plugin):
    dependency_tree: list[DependencyNode] = Field(
        default_factory=list, description="Its dependencies, recursively."
    )
    dependents: list[DependentNode] = Field(default_factory=list, description="Plugins needing it, recursively.")


class RegisterResult(BaseModel):
    outcome: Literal["registered", "upgraded", "unchanged"]
    plugin: Plugin
    previous_version: str | None = Field(default=None, description="Before an upgrade.")


class PluginChange(BaseModel):
    plugin: Plugin
    changed: bool = Field(description="false: it already was.")
    also_enabled: list[str] = Field(default_factory=list, description="Dependencies enabled first (chain=true).")
    also_disabled: list[str] = Field(default_factory=list, description="Dependents disabled first (cascade=true).")


class LinkResult(BaseModel):
    plugin: Plugin
    changed: list[str] = Field(default_factory=list, description="As 'agent:NAME' or 'tool:NAME'.")
    unchanged: list[str] = Field(default_factory=list, description="Already as asked.")


class DeletedPlugin(BaseModel):
    deleted: Plugin
