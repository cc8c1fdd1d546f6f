"""PluginService: the plugin tools (list, get, register, unregister, enable, disable, link, the SMCP
scan, and the SMCP command a tool instance runs)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.agents import resolve as resolve_agent
from sanctum_mcp.domain.plugins.graph import Graph, cycle_text
from sanctum_mcp.domain.plugins.links import change_links
from sanctum_mcp.domain.plugins.models import (
    PLUGIN_TYPES,
    DeletedPlugin,
    LinkResult,
    PluginChange,
    PluginDetail,
    PluginPage,
    PluginSummary,
    RegisterResult,
)
from sanctum_mcp.domain.plugins.registration import register_new, register_same, upgrade
from sanctum_mcp.domain.plugins.rows import (
    SCAN_KEYS,
    enabled_status,
    is_scanned,
    plugin_from_row,
    resolve,
    summary_from_row,
)
from sanctum_mcp.domain.plugins.versions import check_plugin_name, check_version, compare_versions, parse_dependencies
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.shared.reach import refuse_outside_agents
from sanctum_mcp.domain.shared.secrets import SecretBox
from sanctum_mcp.domain.tools.checks import resolve_tool
from sanctum_mcp.storage import ownership
from sanctum_mcp.storage import plugins as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.smcp.commands import SmcpCommand
    from sanctum_mcp.domain.smcp.models import SyncReport
    from sanctum_mcp.storage.database import Database


class PluginService:
    PAGE_DEFAULT = 50

    def __init__(self, db: Database, secrets: SecretBox, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.secrets = secrets
        self.clock = clock

    # --- reading --------------------------------------------------------------------------------

    async def list(
        self,
        *,
        type: str | None = None,
        status: str | None = None,
        is_enabled: bool | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> PluginPage:
        key = decode_cursor("list_plugins", cursor, arity=2)
        after = (key[0], key[1]) if key else None

        def read(conn: sqlite3.Connection) -> tuple[list[PluginSummary], bool]:
            rows = sql.page(conn, type=type, status=status, is_enabled=is_enabled, after=after, limit=limit + 1)
            return [summary_from_row(conn, r) for r in rows[:limit]], len(rows) > limit

        plugins, more = await self.db.read(read)
        next_cursor = encode_cursor("list_plugins", [plugins[-1].name, plugins[-1].id]) if more else None
        return PluginPage(plugins=plugins, next_cursor=next_cursor)

    async def get(self, plugin: str) -> PluginDetail:
        def read(conn: sqlite3.Connection) -> PluginDetail:
            row = resolve(conn, plugin)
            graph = Graph(conn)
            return PluginDetail(
                **plugin_from_row(conn, row).model_dump(),
                dependency_tree=graph.dependency_tree(row["name"]),
                dependents=graph.dependent_tree(row["name"]),
            )

        return await self.db.read(read)

    # --- register / unregister ------------------------------------------------------------------

    async def register(
        self,
        caller: Caller,
        *,
        name: str,
        type: str,
        version: str,
        config: dict[str, Any] | None,
        dependencies: list[str],
        agents: list[str],
        tools: list[str],
        enabled: bool | None,
    ) -> RegisterResult:
        check_plugin_name(name)
        if type not in PLUGIN_TYPES:
            raise InvalidInput(f"plugin type {type!r} is unknown; use one of {', '.join(PLUGIN_TYPES)}.")
        check_version(version)
        if config is not None:
            reserved = [k for k in SCAN_KEYS if k in config]
            if reserved:
                raise InvalidInput(
                    f"config key(s) {', '.join(repr(k) for k in reserved)} are written only by sync_smcp_plugins "
                    "(they name the folder whose program is run); leave them out."
                )
        deps = parse_dependencies(dependencies, owner=name)

        def tx(conn: sqlite3.Connection) -> RegisterResult:
            agent_rows = [resolve_agent(conn, a) for a in agents]
            tool_rows = [resolve_tool(conn, t) for t in tools]
            row = sql.get_by_name(conn, name)
            if row is None:
                return register_new(conn, caller, name, type, version, config or {}, deps,
                                    agent_rows, tool_rows, True if enabled is None else enabled)
            if is_scanned(row):
                raise Conflict(
                    f"plugin {row['name']!r} was registered by sync_smcp_plugins from its folder and is kept up to "
                    "date by scanning; change the folder and scan again, or unregister_plugin it first."
                )
            order = compare_versions(version, row["version"])
            if order < 0:
                raise Conflict(
                    f"plugin {row['name']!r} is registered at version {row['version']}; {version} is older and "
                    "downgrades are refused. If you mean it, unregister_plugin first, then register again."
                )
            if enabled is not None and enabled != bool(row["is_enabled"]):
                raise Conflict(
                    f"plugin {row['name']!r} is {'enabled' if row['is_enabled'] else 'disabled'}; registering does "
                    "not change that. Use enable_plugin or disable_plugin, and leave 'enabled' out here."
                )
            if order == 0:
                return register_same(conn, row, type, config, deps, agent_rows, tool_rows)
            return upgrade(conn, caller, row, type, version, config, deps, agent_rows, tool_rows)

        return await self.db.write(tx)

    async def unregister(self, caller: Caller, plugin: str) -> DeletedPlugin:
        def tx(conn: sqlite3.Connection) -> DeletedPlugin:
            row = resolve(conn, plugin)
            before = plugin_from_row(conn, row)
            dependents = sql.dependents_of(conn, row["name"])
            if dependents:
                raise Conflict(
                    f"plugin {before.name!r} is needed by {', '.join(repr(d['name']) for d in dependents)}. "
                    "Nothing was removed. Unregister those first, or register versions of them without this "
                    "dependency."
                )
            refuse_outside_agents(conn, caller, f"unregister_plugin {before.name!r}", ownership.plugin_reach, [row["id"]])
            sql.delete(conn, row["id"])
            audit.record(conn, caller, action="plugin.unregister", source="plugin", source_id=row["id"],
                         message=f"plugin {before.name!r} unregistered", before=before)
            return DeletedPlugin(deleted=before)

        return await self.db.write(tx)

    # --- enable / disable -----------------------------------------------------------------------

    async def enable(self, caller: Caller, plugin: str, *, chain: bool) -> PluginChange:
        def tx(conn: sqlite3.Connection) -> PluginChange:
            row = resolve(conn, plugin)
            graph = Graph(conn)
            name = row["name"]
            cycle = graph.find_cycle(start=name)
            needed = graph.closure(name)
            problems = [f"{graph.display(k)!r}: {p}" for k in [name.lower(), *needed] for p in graph.problems(k)]
            if problems:
                raise Conflict(
                    f"plugin {name!r} cannot be enabled because its dependencies are not met ({'; '.join(problems)}). "
                    "Register or upgrade the missing plugins first. Nothing was changed."
                )
            if cycle and cycle[0].lower() in [name.lower(), *needed]:
                raise Conflict(f"plugin {name!r} cannot be enabled: its dependencies form a cycle ({cycle_text(cycle)}).")
            disabled = [k for k in needed if not graph.rows[k]["is_enabled"]]
            if disabled and not chain:
                raise Conflict(
                    f"plugin {name!r} needs {', '.join(repr(graph.display(k)) for k in disabled)}, which "
                    f"{'is' if len(disabled) == 1 else 'are'} disabled. Nothing was changed. Enable them first, or "
                    "call enable_plugin again with chain=true to enable them together with this plugin."
                )
            if row["is_enabled"]:
                return PluginChange(plugin=plugin_from_row(conn, row), changed=False)
            before = plugin_from_row(conn, row)
            refuse_outside_agents(conn, caller, f"enabling plugin {name!r}" + (" with chain=true" if disabled else ""),
                                  ownership.plugin_reach, [row["id"], *(graph.rows[k]["id"] for k in disabled)])
            for key in disabled:
                dep = graph.rows[key]
                sql.update(conn, dep["id"], {"is_enabled": 1, "status": enabled_status(dep["status"], True)})
            sql.update(conn, row["id"], {"is_enabled": 1, "status": enabled_status(row["status"], True)})
            after = plugin_from_row(conn, sql.get_by_id(conn, row["id"]))
            chained = [graph.display(k) for k in disabled]
            audit.record(conn, caller, action="plugin.enable", source="plugin", source_id=row["id"],
                         message=f"plugin {name!r} enabled" + (f" with {', '.join(chained)}" if chained else ""),
                         before=before, after=after, extra={"also_enabled": chained} if chained else None)
            return PluginChange(plugin=after, changed=True, also_enabled=chained)

        return await self.db.write(tx)

    async def disable(self, caller: Caller, plugin: str, *, cascade: bool) -> PluginChange:
        def tx(conn: sqlite3.Connection) -> PluginChange:
            row = resolve(conn, plugin)
            graph = Graph(conn)
            name = row["name"]
            enabled_dependents = [k for k in graph.dependent_closure(name) if graph.rows[k]["is_enabled"]]
            if enabled_dependents and not cascade:
                raise Conflict(
                    f"plugin {name!r} is needed by enabled plugin(s) "
                    f"{', '.join(repr(graph.display(k)) for k in enabled_dependents)}. Nothing was changed. Disable "
                    "them first, or call disable_plugin again with cascade=true to disable them too."
                )
            if not row["is_enabled"]:
                return PluginChange(plugin=plugin_from_row(conn, row), changed=False)
            before = plugin_from_row(conn, row)
            refuse_outside_agents(conn, caller,
                                  f"disabling plugin {name!r}" + (" with cascade=true" if enabled_dependents else ""),
                                  ownership.plugin_reach, [row["id"], *(graph.rows[k]["id"] for k in enabled_dependents)])
            for key in enabled_dependents:
                dep = graph.rows[key]
                sql.update(conn, dep["id"], {"is_enabled": 0, "status": enabled_status(dep["status"], False)})
            sql.update(conn, row["id"], {"is_enabled": 0, "status": enabled_status(row["status"], False)})
            after = plugin_from_row(conn, sql.get_by_id(conn, row["id"]))
            cascaded = [graph.display(k) for k in enabled_dependents]
            audit.record(conn, caller, action="plugin.disable", source="plugin", source_id=row["id"],
                         message=f"plugin {name!r} disabled" + (f" with {', '.join(cascaded)}" if cascaded else ""),
                         before=before, after=after, extra={"also_disabled": cascaded} if cascaded else None)
            return PluginChange(plugin=after, changed=True, also_disabled=cascaded)

        return await self.db.write(tx)

    # --- links ------------------------------------------------------------------------------------

    async def link(self, caller: Caller, plugin: str, *, agents: list[str], tools: list[str], add: bool) -> LinkResult:
        verb = "link" if add else "unlink"
        if not agents and not tools:
            raise InvalidInput(f"{verb}_plugin needs at least one agent or tool to {verb}.")
        return await self.db.write(partial(change_links, caller=caller, plugin=plugin, agents=agents, tools=tools,
                                           add=add))

    # --- SMCP -----------------------------------------------------------------------------------

    async def sync_smcp(self, caller: Caller, plugins_dir: Path, *, timeout: float | None = None,
                        python: str | None = None) -> SyncReport:
        from sanctum_mcp.domain.smcp.contract import DESCRIBE_TIMEOUT
        from sanctum_mcp.domain.smcp.sync import sync

        return await sync(self.db, self.clock, caller, plugins_dir,
                          timeout=DESCRIBE_TIMEOUT if timeout is None else timeout, python=python)

    def smcp_command_for_instance(self, conn: sqlite3.Connection, instance_id: int) -> SmcpCommand | None:
        """The SMCP command a tool instance runs (domain/smcp/commands.py), or None when its tool is
        not linked to a plugin registered from SMCP. Synchronous, for use inside a transaction."""
        from sanctum_mcp.domain.smcp.commands import command_for_instance

        return command_for_instance(conn, self.secrets, instance_id)
