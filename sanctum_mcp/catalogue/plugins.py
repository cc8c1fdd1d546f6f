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

PluginRef = Field(description="The plugin's name (any case), e.g. 'letta-bridge', or its numeric id.")
ENV_PLUGINS_DIR = "MCP_PLUGINS_DIR"  # SMCP's own variable for its plugins folder


class ListPlugins(ToolInput):
    type: PluginType | None = Field(default=None, description="Only plugins of this type.")
    status: PluginStatus | None = Field(default=None, description="Only plugins with this status.")
    enabled: bool | None = Field(default=None, description="true: only enabled plugins; false: only disabled ones.")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the first page.")
    limit: int = Field(default=50, ge=1, le=500, description="Plugins per page (1-500).")


@tool("list_plugins", title="List plugins", group="Plugins", role="viewer", read_only=True, idempotent=True)
async def list_plugins(call: Call, args: ListPlugins) -> PluginPage:
    """List registered plugins (MCP plugins, extensions, integrations) by name: version, status
    (Active/Inactive/Error with the error), enabled flag, SMCP commands, dependencies and links.
    Use get_plugin for one plugin's config and dependency tree."""
    return await call.registry.plugins.list(
        type=args.type, status=args.status, is_enabled=args.enabled, cursor=args.cursor, limit=args.limit
    )


class GetPlugin(ToolInput):
    plugin: str = PluginRef


@tool("get_plugin", title="Get a plugin", group="Plugins", role="viewer", read_only=True, idempotent=True)
async def get_plugin(call: Call, args: GetPlugin) -> PluginDetail:
    """Show one plugin with its config, links, its dependency tree (each dependency's registered version
    and whether it satisfies the specifier, recursively) and the plugins that depend on it."""
    return await call.registry.plugins.get(args.plugin)


class RegisterPlugin(ToolInput):
    name: str = Field(
        min_length=1, max_length=64,
        description="Unique name (ignoring case): letters, digits, '.', '_', '-', starting and ending with a letter or digit.",
    )
    type: PluginType = Field(description="mcp, extension or integration.")
    version: str = Field(
        min_length=1, max_length=64,
        description="Semantic version MAJOR.MINOR.PATCH, e.g. '1.4.0' (pre-release/build tags like '1.4.0rc1' allowed).",
    )
    config: dict[str, Any] | None = Field(
        default=None, description="JSON settings. On an upgrade, omitted = keep the current settings."
    )
    dependencies: list[str] | None = Field(
        default=None,
        description="Plugins this version needs, each 'name' or 'name<specifier>' as pip writes it, e.g. "
        "'core>=1.2,<2'. Each must be registered with a satisfying version. Omitted = none.",
    )
    agents: list[str] | None = Field(default=None, description="Agents to link the plugin to (names or ids).")
    tools: list[str] | None = Field(default=None, description="Tools to link the plugin to (names or ids).")
    enabled: bool | None = Field(
        default=None,
        description="For a new plugin: start enabled (default true; needs its dependencies enabled) or not. "
        "Registering never changes an existing plugin's enabled flag.",
    )


@tool("register_plugin", title="Register a plugin", group="Plugins", role="admin", read_only=False, idempotent=True,
      agents=("agents",))
async def register_plugin(call: Call, args: RegisterPlugin) -> RegisterResult:
    """Register a plugin, or upgrade it to a newer version. Registering the same name and version again
    changes nothing (outcome 'unchanged'; refused if the details differ). A newer version replaces the
    type, dependencies and (if given) config, and keeps every link; an older one is refused. Refused when
    a dependency is missing, its version does not satisfy the specifier, the dependencies form a cycle
    (the error names it, e.g. a -> b -> a), or an upgrade would break a plugin that depends on this one."""
    return await call.registry.plugins.register(
        call.caller, name=args.name, type=args.type, version=args.version, config=args.config,
        dependencies=args.dependencies or [], agents=args.agents or [], tools=args.tools or [], enabled=args.enabled,
    )


class UnregisterPlugin(ToolInput):
    plugin: str = PluginRef


@tool("unregister_plugin", title="Unregister a plugin", group="Plugins", role="admin", read_only=False, destructive=True)
async def unregister_plugin(call: Call, args: UnregisterPlugin) -> DeletedPlugin:
    """Remove a plugin with its dependencies and links. Refused while another plugin depends on it (the
    error names them). Tools it was linked to stay."""
    return await call.registry.plugins.unregister(call.caller, args.plugin)


class EnablePlugin(ToolInput):
    plugin: str = PluginRef
    chain: bool = Field(
        default=False,
        description="Also enable its disabled dependencies (recursively), deepest first. Without it, enabling is "
        "refused while a dependency is disabled, and the error names them.",
    )


@tool("enable_plugin", title="Enable a plugin", group="Plugins", role="user", read_only=False, idempotent=True)
async def enable_plugin(call: Call, args: EnablePlugin) -> PluginChange:
    """Enable a plugin (status Active, unless it is in Error, which only a successful scan or upgrade
    clears). Refused while a dependency is disabled unless chain=true, and always refused while a
    dependency is missing or the wrong version."""
    return await call.registry.plugins.enable(call.caller, args.plugin, chain=args.chain)


class DisablePlugin(ToolInput):
    plugin: str = PluginRef
    cascade: bool = Field(
        default=False,
        description="Also disable the enabled plugins that depend on it (recursively). Without it, disabling is "
        "refused while any exist, and the error names them.",
    )


@tool("disable_plugin", title="Disable a plugin", group="Plugins", role="user", read_only=False, idempotent=True)
async def disable_plugin(call: Call, args: DisablePlugin) -> PluginChange:
    """Disable a plugin (status Inactive). Refused while an enabled plugin depends on it unless
    cascade=true, which disables those dependents too."""
    return await call.registry.plugins.disable(call.caller, args.plugin, cascade=args.cascade)


class LinkPlugin(ToolInput):
    plugin: str = PluginRef
    agents: list[str] | None = Field(default=None, description="Agents (names or ids).")
    tools: list[str] | None = Field(default=None, description="Tools (names or ids).")


@tool("link_plugin", title="Link a plugin to agents or tools", group="Plugins", role="user", read_only=False, idempotent=True,
      agents=("agents",))
async def link_plugin(call: Call, args: LinkPlugin) -> LinkResult:
    """Associate a plugin with agents and/or tools (many-to-many). Links that already exist are reported
    as unchanged. Give at least one agent or tool."""
    return await call.registry.plugins.link(call.caller, args.plugin, agents=args.agents or [],
                                            tools=args.tools or [], add=True)


@tool("unlink_plugin", title="Unlink a plugin from agents or tools", group="Plugins", role="user", read_only=False,
      idempotent=True, agents=("agents",))
async def unlink_plugin(call: Call, args: LinkPlugin) -> LinkResult:
    """Remove associations between a plugin and agents and/or tools. Links that did not exist are
    reported as unchanged. Give at least one agent or tool."""
    return await call.registry.plugins.link(call.caller, args.plugin, agents=args.agents or [],
                                            tools=args.tools or [], add=False)


class SyncSmcpPlugins(ToolInput):
    plugins_dir: str | None = Field(
        default=None, max_length=4096,
        description=f"Absolute path of SMCP's plugins folder on the server's machine (default: ${ENV_PLUGINS_DIR}).",
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Limit for each plugin's `cli.py --describe` (SMCP uses 10 s)."
    )
    python: str | None = Field(
        default=None, max_length=4096,
        description="Absolute path of the Python SMCP runs plugins with (its venv's), so plugins find their "
        "imports; default: sanctum-mcp's own. Must be a Python executable (python3*, pypy*; checked without "
        "running it), never a shell or script. Recorded in config.smcp.python.",
    )


# A scan re-registers and re-describes every SMCP plugin, whichever agents' instances run them.
@tool("sync_smcp_plugins", title="Scan SMCP plugins", group="Plugins", role="admin", read_only=False,
      idempotent=True, open_world=True, agents=ALL_AGENTS)
async def sync_smcp_plugins(call: Call, args: SyncSmcpPlugins) -> SyncReport:
    """Scan SMCP's plugins folder: run every plugin's `cli.py --describe` (concurrently, with a timeout),
    check it against SMCP's describe contract, and register or update each as an `mcp` plugin with its
    commands (plus a tool `smcp:<plugin>` whose instances run one command). Failed describes mark the
    plugin Error with the reason; plugins whose folder vanished become Inactive. Sanctum module
    manifest.json files are read where present. Returns one entry per plugin."""
    chosen = args.plugins_dir or os.environ.get(ENV_PLUGINS_DIR)
    if not chosen:
        raise InvalidInput(f"give plugins_dir (SMCP's plugins folder), or set ${ENV_PLUGINS_DIR} for the server.")
    return await call.registry.plugins.sync_smcp(call.caller, Path(chosen), timeout=args.timeout_seconds,
                                                 python=args.python)
