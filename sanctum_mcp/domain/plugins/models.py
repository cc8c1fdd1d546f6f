"""What the plugin tools return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

PluginType = Literal["mcp", "extension", "integration"]
PLUGIN_TYPES: tuple[str, ...] = PluginType.__args__  # type: ignore[attr-defined]
PluginStatus = Literal["Active", "Inactive", "Error"]


class PluginDependency(BaseModel):
    name: str = Field(description="The plugin depended on.")
    version_spec: str | None = Field(default=None, description="Versions accepted, e.g. '>=1.2,<2'; absent = any.")


class Plugin(BaseModel):
    id: int
    name: str
    type: PluginType
    version: str | None = None
    status: PluginStatus
    error: str | None = Field(default=None, description="Why the plugin is in Error (kept until it recovers).")
    is_enabled: bool
    config: dict[str, Any] = Field(
        default_factory=dict, description="The plugin's JSON settings; `smcp` holds what the SMCP scan recorded."
    )
    dependencies: list[PluginDependency] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list, description="Agents this plugin is linked to.")
    tools: list[str] = Field(default_factory=list, description="Tools this plugin is linked to.")
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
    commands: list[str] = Field(default_factory=list, description="SMCP commands (plugins registered by the SMCP scan).")
    dependencies: list[PluginDependency] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    updated_at: str


class PluginPage(BaseModel):
    plugins: list[PluginSummary]
    next_cursor: str | None = Field(default=None, description="Pass to list_plugins for the next page; absent on the last page.")


class DependencyNode(BaseModel):
    """One dependency in a plugin's dependency tree (recursive)."""

    name: str
    version_spec: str | None = Field(default=None, description="Versions the depending plugin accepts.")
    registered: bool = Field(description="Whether a plugin of that name is registered.")
    version: str | None = Field(default=None, description="The registered version.")
    enabled: bool = False
    status: PluginStatus | None = None
    satisfied: bool = Field(description="Registered, and its version satisfies version_spec.")
    cycle: bool = Field(default=False, description="This node repeats an ancestor: a dependency cycle (not expanded).")
    dependencies: list[DependencyNode] = Field(default_factory=list)


class DependentNode(BaseModel):
    """A plugin that depends on the one above it (recursive)."""

    name: str
    version: str | None = None
    version_spec: str | None = Field(default=None, description="Versions of the plugin above that it accepts.")
    enabled: bool
    status: PluginStatus
    satisfied: bool = Field(description="Whether the plugin above satisfies its version_spec.")
    cycle: bool = False
    dependents: list[DependentNode] = Field(default_factory=list)


class PluginDetail(Plugin):
    dependency_tree: list[DependencyNode] = Field(
        default_factory=list, description="What this plugin needs, recursively, each with its version and whether satisfied."
    )
    dependents: list[DependentNode] = Field(default_factory=list, description="Plugins that need this one, recursively.")


class RegisterResult(BaseModel):
    outcome: Literal["registered", "upgraded", "unchanged"]
    plugin: Plugin
    previous_version: str | None = Field(default=None, description="The version before an upgrade.")


class PluginChange(BaseModel):
    plugin: Plugin
    changed: bool = Field(description="false when the plugin was already in the requested state.")
    also_enabled: list[str] = Field(default_factory=list, description="Dependencies enabled first (chain=true).")
    also_disabled: list[str] = Field(default_factory=list, description="Dependents disabled first (cascade=true).")


class LinkResult(BaseModel):
    plugin: Plugin
    changed: list[str] = Field(default_factory=list, description="Links added or removed, as 'agent:NAME' / 'tool:NAME'.")
    unchanged: list[str] = Field(default_factory=list, description="Links that were already as requested.")


class DeletedPlugin(BaseModel):
    deleted: Plugin
