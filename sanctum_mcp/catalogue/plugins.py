"""Plugin tools: registration, the dependency graph, links, and SMCP plugin discovery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field

from sanctum_mcp.catalogue.base import ALL_AGENTS, Call, ToolInput, tool
from sanctum_mcp.domain.plugins.models import (
    DeletedPlugin,
    LinkResult,
    PluginChange,
    PluginDetail,
    PluginPage,
    PluginStatus,
    PluginType,
    RegisterResult,
)
from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.smcp.models import SyncReport

PluginRef = Field(description="Name or id.")
ENV_PLUGINS_DIR = "MCP_PLUGINS_DIR"  # SMCP's own variable for its plugins folder


class ListPlugins(ToolInput):
    type: PluginType | None = None
    status: PluginStatus | None = None
    enabled: bool | None = Field(default=None, description="Only enabled (true) or disabled (false) ones.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


@tool("list_plugins", title="List plugins", group="Plugins", role="viewer", read_only=True, idempotent=True)
async def list_plugins(call: Call, args: ListPlugins) -> PluginPage:
    """List plugins by name, with status, dependencies and links."""
    return await call.registry.plugins.list(
        type=args.type, status=args.status, is_enabled=args.enabled, cursor=args.cursor, limit=args.limit
    )


class GetPlugin(ToolInput):
    plugin: str = PluginRef


@tool("get_plugin", title="Get a plugin", group="Plugins", role="viewer", read_only=True, idempotent=True)
async def get_plugin(call: Call, args: GetPlugin) -> PluginDetail:
    """Show one plugin with its config, links, dependency tree and dependents."""
    return await call.registry.plugins.get(args.plugin)


class RegisterPlugin(ToolInput):
    name: str = Field(
        min_length=1, max_length=64,
        description="Unique, any case: letters, digits, '.', '_', '-'.",
    )
    type: PluginType
    version: str = Field(
        min_length=1, max_length=64,
        description="Semantic version, e.g. '1.4.0'.",
    )
    config: dict[str, Any] | None = Field(
        default=None, description="Settings; an upgrade without it keeps them."
    )
    dependencies: list[str] | None = Field(
        default=None,
        description="Registered plugins it needs, e.g. 'core>=1.2,<2'.",
    )
    agents: list[str] | None = Field(default=None, description="Agents to link (names or ids).")
    tools: list[str] | None = Field(default=None, description="Tools to link (names or ids).")
    enabled: bool | None = Field(default=None, description="For a new plugin (default true).")


@tool("register_plugin", title="Register a plugin", group="Plugins", role="admin", read_only=False, idempotent=True,
      agents=("agents",))
async def register_plugin(call: Call, args: RegisterPlugin) -> RegisterResult:
    """Register a plugin or upgrade it, keeping links; refused if a dependency or dependent would
    break."""
    return await call.registry.plugins.register(
        call.caller, name=args.name, type=args.type, version=args.version, config=args.config,
        dependencies=args.dependencies or [], agents=args.agents or [], tools=args.tools or [], enabled=args.enabled,
    )


class UnregisterPlugin(ToolInput):
    plugin: str = PluginRef


@tool("unregister_plugin", title="Unregister a plugin", group="Plugins", role="admin", read_only=False, destructive=True)
async def unregister_plugin(call: Call, args: UnregisterPlugin) -> DeletedPlugin:
    """Remove a plugin and its links; refused while another depends on it."""
    return await call.registry.plugins.unregister(call.caller, args.plugin)


class EnablePlugin(ToolInput):
    plugin: str = PluginRef
    chain: bool = Field(
        default=False,
        description="Also enable its disabled dependencies, recursively.",
    )


@tool("enable_plugin", title="Enable a plugin", group="Plugins", role="user", read_only=False, idempotent=True)
async def enable_plugin(call: Call, args: EnablePlugin) -> PluginChange:
    """Enable a plugin; refused while a dependency is missing, the wrong version or disabled
    (unless chain=true)."""
    return await call.registry.plugins.enable(call.caller, args.plugin, chain=args.chain)


class DisablePlugin(ToolInput):
    plugin: str = PluginRef
    cascade: bool = Field(
        default=False,
        description="Also disable its enabled dependents, recursively.",
    )


@tool("disable_plugin", title="Disable a plugin", group="Plugins", role="user", read_only=False, idempotent=True)
async def disable_plugin(call: Call, args: DisablePlugin) -> PluginChange:
    """Disable a plugin; refused while an enabled plugin depends on it, unless cascade=true."""
    return await call.registry.plugins.disable(call.caller, args.plugin, cascade=args.cascade)


class LinkPlugin(ToolInput):
    plugin: str = PluginRef
    agents: list[str] | None = Field(default=None, description="Names or ids.")
    tools: list[str] | None = Field(default=None, description="Names or ids.")


@tool("link_plugin", title="Link a plugin", group="Plugins", role="user", read_only=False, idempotent=True,
      agents=("agents",))
async def link_plugin(call: Call, args: LinkPlugin) -> LinkResult:
    """Link a plugin to agents and/or tools."""
    return await call.registry.plugins.link(call.caller, args.plugin, agents=args.agents or [],
                                            tools=args.tools or [], add=True)


@tool("unlink_plugin", title="Unlink a plugin", group="Plugins", role="user", read_only=False,
      idempotent=True, agents=("agents",))
async def unlink_plugin(call: Call, args: LinkPlugin) -> LinkResult:
    """Unlink a plugin from agents and/or tools."""
    return await call.registry.plugins.link(call.caller, args.plugin, agents=args.agents or [],
                                            tools=args.tools or [], add=False)


class SyncSmcpPlugins(ToolInput):
    plugins_dir: str | None = Field(
        default=None, max_length=4096,
        description=f"Absolute path (default ${ENV_PLUGINS_DIR}).",
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Per plugin's `cli.py --describe`."
    )
    python: str | None = Field(
        default=None, max_length=4096,
        description="Absolute path of SMCP's Python (default sanctum-mcp's).",
    )


# A scan re-registers and re-describes every SMCP plugin, whichever agents' instances run them.
@tool("sync_smcp_plugins", title="Scan SMCP plugins", group="Plugins", role="admin", read_only=False,
      idempotent=True, open_world=True, agents=ALL_AGENTS)
async def sync_smcp_plugins(call: Call, args: SyncSmcpPlugins) -> SyncReport:
    """Register the plugins in SMCP's folder from their `cli.py --describe` (a failure: Error; a
    vanished one: Inactive)."""
    chosen = args.plugins_dir or os.environ.get(ENV_PLUGINS_DIR)
    if not chosen:
        raise InvalidInput(f"give plugins_dir (SMCP's plugins folder), or set ${ENV_PLUGINS_DIR} for the server.")
    return await call.registry.plugins.sync_smcp(call.caller, Path(chosen), timeout=args.timeout_seconds,
                                                 python=args.python)
