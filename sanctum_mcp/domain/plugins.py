"""Plugins: MCP plugins, extensions and integrations, their dependency graph and their links to
agents and tools.

Rules kept here:
- Names follow the package-name rule (letters, digits, `.`, `_`, `-`; starting and ending with a
  letter or digit), so `name>=1.0` dependency strings can name them. Names ignore case.
- Versions are semantic versions MAJOR.MINOR.PATCH, parsed by `packaging.version.Version`
  (pre-release and build tags allowed: 1.2.0rc1, 1.2.0-beta.1, 1.2.0+build.5; no epoch, no post or
  dev releases). Dependency specifiers are `packaging` requirement strings (`core>=1.2,<2`).
  A pre-release version satisfies a specifier whose range contains it.
- Every dependency must exist and satisfy its specifier; a cycle is refused and named.
- Registering the same name and version again changes nothing (and is refused if it would change
  something); a newer version upgrades and keeps the links; an older one is refused.
- `is_enabled` is the operator's intent, `status` the state: Active (enabled and working),
  Inactive (disabled, or its folder vanished), Error (with the reason in `error`).
- A plugin's `config.smcp` is written only by the SMCP scan (sync_smcp_plugins): it names the
  folder whose cli.py scheduled jobs execute, so register_plugin refuses it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain import audit
from sanctum_mcp.domain.agents import resolve as resolve_agent
from sanctum_mcp.domain.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.identity import Caller
from sanctum_mcp.domain.interpreter import check_python
from sanctum_mcp.domain.names import check_name_characters
from sanctum_mcp.domain.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.reach import refuse_outside_agents
from sanctum_mcp.domain.references import as_id
from sanctum_mcp.domain.tools import InstanceConfig, resolve_tool
from sanctum_mcp.storage import ownership
from sanctum_mcp.storage import plugins as sql
from sanctum_mcp.storage import tools as tools_sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.smcp_sync import SyncReport

PluginType = Literal["mcp", "extension", "integration"]
PLUGIN_TYPES: tuple[str, ...] = PluginType.__args__  # type: ignore[attr-defined]
PluginStatus = Literal["Active", "Inactive", "Error"]
# \Z, not $: `$` also matches before a trailing newline, and the SMCP scan matches folder names with it.
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")
MAX_NAME = 64
# Keys of plugins.config that only the SMCP scan writes.
SCAN_KEYS = ("smcp", "module", "manifest")


# --- models ---------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class SmcpCommand:
    """What a scheduled job needs to run an SMCP plugin command for a tool instance.

    Unpacks as `(plugin_dir, command, arguments, parameters)`; `python` is the interpreter the
    scan ran the plugin with (SMCP's), or None for sanctum-mcp's own (run_plugin's default).
    """

    plugin_dir: Path
    command: str
    arguments: dict[str, Any]
    parameters: list[dict[str, Any]]
    python: str | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.plugin_dir, self.command, self.arguments, self.parameters))


# --- parsing and checks --------------------------------------------------------------------------


def check_plugin_name(name: str) -> str:
    check_name_characters(name, "plugin")
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        raise InvalidInput(
            f"plugin name {name[:80]!r} is not valid: use 1-{MAX_NAME} letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit (e.g. 'letta-bridge')."
        )
    return name


def check_version(version: str, *, what: str = "version") -> str:
    from packaging.version import InvalidVersion, Version

    hint = (
        "use a semantic version MAJOR.MINOR.PATCH such as 1.4.0 (pre-release and build tags like "
        "1.4.0rc1, 1.4.0-beta.1 or 1.4.0+build.7 are accepted)."
    )
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise InvalidInput(f"{what} {version[:40]!r} is not a version; {hint}") from None
    if (not "0" <= version[:1] <= "9" or parsed.epoch or len(parsed.release) != 3
            or parsed.is_postrelease or parsed.is_devrelease):
        raise InvalidInput(f"{what} {version[:40]!r} is not a semantic version; {hint}")
    return version


def parse_dependency(text: str) -> tuple[str, str | None]:
    """`name` or `name<specifier>` (e.g. 'core>=1.2,<2'), parsed by packaging's requirement parser."""
    from packaging.requirements import InvalidRequirement, Requirement

    hint = "write a dependency as a plugin name with an optional version specifier, e.g. 'core' or 'core>=1.2,<2'."
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInput(f"dependency {text[:80]!r} cannot be parsed ({first}); {hint}") from None
    if requirement.extras or requirement.marker is not None or requirement.url:
        raise InvalidInput(f"dependency {text[:80]!r} has extras, a marker or a URL, which plugins do not use; {hint}")
    check_plugin_name(requirement.name)
    spec = str(requirement.specifier)
    return requirement.name, spec or None


def parse_dependencies(texts: list[str], *, owner: str) -> list[tuple[str, str | None]]:
    parsed: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for text in texts:
        name, spec = parse_dependency(text)
        if name.lower() in seen:
            raise InvalidInput(f"dependency {name!r} is listed twice; combine the specifiers in one entry (e.g. '{name}>=1,<2').")
        if name.lower() == owner.lower():
            raise InvalidInput(f"plugin {owner!r} cannot depend on itself (cycle: {owner} -> {owner}).")
        seen.add(name.lower())
        parsed.append((name, spec))
    return parsed


def satisfies(version: str | None, spec: str | None) -> bool:
    if not spec:
        return True
    if version is None:
        return False
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(spec).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def compare_versions(a: str | None, b: str | None) -> int:
    """-1, 0, 1 as a <, ==, > b; a missing version is older than any version."""
    from packaging.version import Version

    if a is None or b is None:
        return (a is not None) - (b is not None)
    va, vb = Version(a), Version(b)
    return (va > vb) - (va < vb)


# --- the graph --------------------------------------------------------------------------------------


class Graph:
    """Every plugin and dependency edge, loaded in one read (registries hold tens of plugins)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.rows: dict[str, sqlite3.Row] = {r["name"].lower(): r for r in sql.all_plugins(conn)}
        self.edges: dict[str, list[tuple[str, str | None]]] = {}
        for dep in sql.all_dependencies(conn):
            self.edges.setdefault(dep["plugin_name"].lower(), []).append((dep["depends_on_name"], dep["version_spec"]))

    def set_edges(self, name: str, deps: list[tuple[str, str | None]]) -> None:
        self.edges[name.lower()] = list(deps)

    def display(self, key: str) -> str:
        row = self.rows.get(key.lower())
        return row["name"] if row is not None else key

    def dependents(self, name: str) -> list[tuple[str, str | None]]:
        key = name.lower()
        return sorted(
            ((owner, spec) for owner, deps in self.edges.items() for dep, spec in deps if dep.lower() == key),
            key=lambda item: item[0],
        )

    def find_cycle(self, start: str | None = None) -> list[str] | None:
        """A dependency cycle as a list of names (first == last), preferring one through `start`."""
        order = sorted(self.edges)
        if start is not None:
            order = [start.lower()] + [k for k in order if k != start.lower()]
        state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
        for root in order:
            if state.get(root):
                continue
            path: list[str] = [root]
            stack = [iter(sorted(d.lower() for d, _ in self.edges.get(root, [])))]
            state[root] = 1
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    stack.pop()
                    continue
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt):] + [nxt]
                    return [self.display(k) for k in cycle]
                if not state.get(nxt):
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(sorted(d.lower() for d, _ in self.edges.get(nxt, []))))
        return None

    def problems(self, name: str) -> list[str]:
        """Why the direct dependencies of `name` are not met (missing or wrong version)."""
        found = []
        for dep, spec in self.edges.get(name.lower(), []):
            row = self.rows.get(dep.lower())
            if row is None:
                found.append(f"it needs {dep!r}{' ' + spec if spec else ''}, which is not registered")
            elif not satisfies(row["version"], spec):
                found.append(f"it needs {row['name']!r} {spec}, but {row['name']!r} is at version {row['version'] or '(none)'}")
        return found

    def closure(self, name: str) -> list[str]:
        """Transitive dependencies of `name`, deepest first (the order to enable them in)."""
        out: list[str] = []
        seen: set[str] = {name.lower()}

        def visit(key: str) -> None:
            for dep, _spec in self.edges.get(key, []):
                k = dep.lower()
                if k not in seen:
                    seen.add(k)
                    visit(k)
                    out.append(k)

        visit(name.lower())
        return out

    def dependent_closure(self, name: str) -> list[str]:
        """Transitive dependents of `name`, outermost first (the order to disable them in)."""
        out: list[str] = []
        seen: set[str] = {name.lower()}

        def visit(key: str) -> None:
            for owner, _spec in self.dependents(key):
                if owner not in seen:
                    seen.add(owner)
                    visit(owner)
                    out.append(owner)

        visit(name.lower())
        return out

    def dependency_tree(self, name: str, path: tuple[str, ...] = ()) -> list[DependencyNode]:
        nodes = []
        here = (*path, name.lower())
        for dep, spec in self.edges.get(name.lower(), []):
            row = self.rows.get(dep.lower())
            cycle = dep.lower() in here
            nodes.append(DependencyNode(
                name=row["name"] if row is not None else dep,
                version_spec=spec,
                registered=row is not None,
                version=row["version"] if row is not None else None,
                enabled=bool(row["is_enabled"]) if row is not None else False,
                status=row["status"] if row is not None else None,
                satisfied=row is not None and satisfies(row["version"], spec),
                cycle=cycle,
                dependencies=[] if cycle or row is None else self.dependency_tree(dep, here),
            ))
        return nodes

    def dependent_tree(self, name: str, path: tuple[str, ...] = ()) -> list[DependentNode]:
        nodes = []
        here = (*path, name.lower())
        me = self.rows.get(name.lower())
        for owner, spec in self.dependents(name):
            row = self.rows[owner]
            cycle = owner in here
            nodes.append(DependentNode(
                name=row["name"],
                version=row["version"],
                version_spec=spec,
                enabled=bool(row["is_enabled"]),
                status=row["status"],
                satisfied=me is not None and satisfies(me["version"], spec),
                cycle=cycle,
                dependents=[] if cycle else self.dependent_tree(owner, here),
            ))
        return nodes


def cycle_text(cycle: list[str]) -> str:
    return " -> ".join(cycle)


# --- row -> model ------------------------------------------------------------------------------------


def _config(row: sqlite3.Row) -> dict[str, Any]:
    return json.loads(row["config"]) if row["config"] else {}


def plugin_from_row(conn: sqlite3.Connection, row: sqlite3.Row) -> Plugin:
    return Plugin(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        version=row["version"],
        status=row["status"],
        error=row["error"],
        is_enabled=bool(row["is_enabled"]),
        config=_config(row),
        dependencies=[PluginDependency(name=d["depends_on_name"], version_spec=d["version_spec"])
                      for d in sql.dependencies_of(conn, row["id"])],
        agents=[a["name"] for a in sql.linked_agents(conn, row["id"])],
        tools=[t["name"] for t in sql.linked_tools(conn, row["id"])],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def summary_from_row(conn: sqlite3.Connection, row: sqlite3.Row) -> PluginSummary:
    full = plugin_from_row(conn, row)
    commands = [c.get("name") for c in (full.config.get("smcp") or {}).get("commands", []) if isinstance(c, dict)]
    return PluginSummary(
        **full.model_dump(include={"id", "name", "type", "version", "status", "error", "is_enabled",
                                   "dependencies", "agents", "tools", "updated_at"}),
        commands=[c for c in commands if isinstance(c, str)],
    )


def resolve(conn: sqlite3.Connection, plugin: str) -> sqlite3.Row:
    row = sql.get_by_name(conn, plugin)
    if row is None and (plugin_id := as_id(plugin)) is not None:
        row = sql.get_by_id(conn, plugin_id)
    if row is None:
        raise NotFound(f"no plugin named {plugin!r}; call list_plugins to see the registered plugins.")
    return row


def is_scanned(row: sqlite3.Row) -> bool:
    config = _config(row)
    return any(key in config for key in ("smcp", "module"))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _enabled_status(row_status: str, enabled: bool) -> str:
    """The status after enabling/disabling: Error stays Error (with its reason) until it recovers."""
    if row_status == "Error":
        return "Error"
    return "Active" if enabled else "Inactive"


# --- the service ----------------------------------------------------------------------------------------


class PluginService:
    PAGE_DEFAULT = 50

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

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

        plugins, more = await self.registry.db.read(read)
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

        return await self.registry.db.read(read)

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
                return self._register_new(conn, caller, name, type, version, config or {}, deps,
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
                return self._register_same(conn, row, type, config, deps, agent_rows, tool_rows)
            return self._upgrade(conn, caller, row, type, version, config, deps, agent_rows, tool_rows)

        return await self.registry.db.write(tx)

    def _check_dependencies(self, conn: sqlite3.Connection, name: str, deps: list[tuple[str, str | None]],
                            *, enabled: bool) -> Graph:
        graph = Graph(conn)
        graph.set_edges(name, deps)
        problems = graph.problems(name)
        if problems:
            raise Conflict(
                f"plugin {name!r} cannot be registered: {'; '.join(problems)}. Register or upgrade those plugins "
                "first (register_plugin), or change the version specifiers. Nothing was changed."
            )
        cycle = graph.find_cycle(start=name)
        if cycle:
            raise Conflict(
                f"plugin {name!r} cannot be registered with these dependencies: they form a cycle "
                f"({cycle_text(cycle)}). Remove one of those dependencies. Nothing was changed."
            )
        if enabled:
            disabled = [graph.rows[dep.lower()]["name"] for dep, _ in deps if not graph.rows[dep.lower()]["is_enabled"]]
            if disabled:
                raise Conflict(
                    f"plugin {name!r} would be enabled, but its dependencies {', '.join(repr(d) for d in disabled)} "
                    "are disabled. Enable them first (enable_plugin, chain=true enables a whole chain), or "
                    "register with enabled=false. Nothing was changed."
                )
        return graph

    def _register_new(self, conn, caller, name, type, version, config, deps, agent_rows, tool_rows, enabled) -> RegisterResult:
        self._check_dependencies(conn, name, deps, enabled=enabled)
        for t in tool_rows:  # a tool linked to a plugin runs its commands
            refuse_outside_agents(conn, caller, f"registering plugin {name!r} for tool {t['name']!r}",
                                  ownership.tool_reach, t["id"])
        plugin_id = sql.insert(conn, {
            "name": name, "type": type, "version": version, "config": _dump(config),
            "is_enabled": int(enabled), "status": "Active" if enabled else "Inactive",
        })
        sql.set_dependencies(conn, plugin_id, deps)
        for a in agent_rows:
            sql.link(conn, plugin_id, agent_id=a["id"])
        for t in tool_rows:
            sql.link(conn, plugin_id, tool_id=t["id"])
        created = plugin_from_row(conn, sql.get_by_id(conn, plugin_id))
        audit.record(conn, caller, action="plugin.register", source="plugin", source_id=plugin_id,
                     message=f"plugin {name!r} {version} registered", after=created)
        return RegisterResult(outcome="registered", plugin=created)

    def _register_same(self, conn, row, type, config, deps, agent_rows, tool_rows) -> RegisterResult:
        current = plugin_from_row(conn, row)
        differences = []
        if type != current.type:
            differences.append(f"type ({current.type} registered, {type} given)")
        if config is not None and config != current.config:
            differences.append("config")
        registered_deps = {(d.name.lower(), d.version_spec or None) for d in current.dependencies}
        if {(n.lower(), s) for n, s in deps} != registered_deps:
            differences.append("dependencies (registered: " + (", ".join(
                f"{d.name}{d.version_spec or ''}" for d in current.dependencies) or "none") + ")")
        missing_links = [f"agent {a['name']!r}" for a in agent_rows if a["name"] not in current.agents]
        missing_links += [f"tool {t['name']!r}" for t in tool_rows if t["name"] not in current.tools]
        if missing_links:
            differences.append("links to " + ", ".join(missing_links) + " (use link_plugin)")
        if differences:
            raise Conflict(
                f"plugin {current.name!r} {current.version} is already registered with a different "
                f"{'; '.join(differences)}. Registering the same version again changes nothing: register a newer "
                "version to upgrade. Nothing was changed."
            )
        return RegisterResult(outcome="unchanged", plugin=current)

    def _upgrade(self, conn, caller, row, type, version, config, deps, agent_rows, tool_rows) -> RegisterResult:
        before = plugin_from_row(conn, row)
        graph = self._check_dependencies(conn, row["name"], deps, enabled=bool(row["is_enabled"]))
        broken = [
            f"{graph.display(owner)!r} needs {spec}"
            for owner, spec in graph.dependents(row["name"])
            if not satisfies(version, spec)
        ]
        if broken:
            raise Conflict(
                f"plugin {row['name']!r} cannot be upgraded to {version}: {', '.join(broken)}. Upgrade those "
                "plugins first (or unregister them). Nothing was changed."
            )
        # A new version changes what every agent and instance using the plugin runs.
        refuse_outside_agents(conn, caller, f"upgrading plugin {row['name']!r}", ownership.plugin_reach, [row["id"]])
        for t in tool_rows:
            refuse_outside_agents(conn, caller, f"upgrading plugin {row['name']!r} for tool {t['name']!r}",
                                  ownership.tool_reach, t["id"])
        sql.update(conn, row["id"], {
            "type": type, "version": version,
            "config": _dump(config if config is not None else before.config),
            "status": "Active" if row["is_enabled"] else "Inactive", "error": None,
        })
        sql.set_dependencies(conn, row["id"], deps)
        for a in agent_rows:
            sql.link(conn, row["id"], agent_id=a["id"])
        for t in tool_rows:
            sql.link(conn, row["id"], tool_id=t["id"])
        after = plugin_from_row(conn, sql.get_by_id(conn, row["id"]))
        audit.record(conn, caller, action="plugin.upgrade", source="plugin", source_id=row["id"],
                     message=f"plugin {after.name!r} upgraded from {before.version} to {version}",
                     before=before, after=after)
        return RegisterResult(outcome="upgraded", plugin=after, previous_version=before.version)

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

        return await self.registry.db.write(tx)

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
                sql.update(conn, dep["id"], {"is_enabled": 1, "status": _enabled_status(dep["status"], True)})
            sql.update(conn, row["id"], {"is_enabled": 1, "status": _enabled_status(row["status"], True)})
            after = plugin_from_row(conn, sql.get_by_id(conn, row["id"]))
            chained = [graph.display(k) for k in disabled]
            audit.record(conn, caller, action="plugin.enable", source="plugin", source_id=row["id"],
                         message=f"plugin {name!r} enabled" + (f" with {', '.join(chained)}" if chained else ""),
                         before=before, after=after, extra={"also_enabled": chained} if chained else None)
            return PluginChange(plugin=after, changed=True, also_enabled=chained)

        return await self.registry.db.write(tx)

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
                sql.update(conn, dep["id"], {"is_enabled": 0, "status": _enabled_status(dep["status"], False)})
            sql.update(conn, row["id"], {"is_enabled": 0, "status": _enabled_status(row["status"], False)})
            after = plugin_from_row(conn, sql.get_by_id(conn, row["id"]))
            cascaded = [graph.display(k) for k in enabled_dependents]
            audit.record(conn, caller, action="plugin.disable", source="plugin", source_id=row["id"],
                         message=f"plugin {name!r} disabled" + (f" with {', '.join(cascaded)}" if cascaded else ""),
                         before=before, after=after, extra={"also_disabled": cascaded} if cascaded else None)
            return PluginChange(plugin=after, changed=True, also_disabled=cascaded)

        return await self.registry.db.write(tx)

    # --- links ------------------------------------------------------------------------------------

    async def link(self, caller: Caller, plugin: str, *, agents: list[str], tools: list[str], add: bool) -> LinkResult:
        verb = "link" if add else "unlink"
        if not agents and not tools:
            raise InvalidInput(f"{verb}_plugin needs at least one agent or tool to {verb}.")

        def tx(conn: sqlite3.Connection) -> LinkResult:
            row = resolve(conn, plugin)
            before = plugin_from_row(conn, row)
            targets = [("agent", r, {"agent_id": r["id"]}) for r in (resolve_agent(conn, a) for a in agents)]
            targets += [("tool", r, {"tool_id": r["id"]}) for r in (resolve_tool(conn, t) for t in tools)]
            # A tool linked to a plugin runs its commands: (un)linking one acts on the tool's instances.
            linked = {t["id"] for t in sql.linked_tools(conn, row["id"])}
            for kind, target, _key in targets:
                if kind == "tool" and (target["id"] in linked) != add:
                    refuse_outside_agents(conn, caller, f"{verb}ing plugin {row['name']!r} and tool {target['name']!r}",
                                          ownership.tool_reach, target["id"])
            changed, unchanged = [], []
            for kind, target, key in targets:
                done = sql.link(conn, row["id"], **key) if add else sql.unlink(conn, row["id"], **key)
                (changed if done else unchanged).append(f"{kind}:{target['name']}")
            after = plugin_from_row(conn, row)
            if changed:
                audit.record(conn, caller, action=f"plugin.{verb}", source="plugin", source_id=row["id"],
                             message=f"plugin {row['name']!r} {verb}ed: {', '.join(changed)}",
                             before=before, after=after)
            return LinkResult(plugin=after, changed=changed, unchanged=unchanged)

        return await self.registry.db.write(tx)

    # --- SMCP -----------------------------------------------------------------------------------

    async def sync_smcp(self, caller: Caller, plugins_dir: Path, *, timeout: float | None = None,
                        python: str | None = None) -> SyncReport:
        from sanctum_mcp.domain.smcp import DESCRIBE_TIMEOUT
        from sanctum_mcp.domain.smcp_sync import sync

        return await sync(self.registry, caller, plugins_dir,
                          timeout=DESCRIBE_TIMEOUT if timeout is None else timeout, python=python)

    def smcp_command_for_instance(self, conn: sqlite3.Connection, instance_id: int) -> SmcpCommand | None:
        """The SMCP command a tool instance runs, or None when its tool is not linked to a plugin
        registered from SMCP. Synchronous, for use inside a read or write transaction.

        The instance config's "command" names the command and "arguments" (an object) its
        arguments; secrets (writeOnly properties) come back decrypted, for running only. Raises
        NotFound for an unknown instance, InvalidInput when the config does not name one of the
        plugin's commands, Conflict when the plugin cannot run (disabled, Error, folder vanished).
        """
        inst = tools_sql.get_instance(conn, instance_id)
        if inst is None:
            raise NotFound(f"no tool instance with id {instance_id}; call list_tool_instances to find its id.")
        plugins = [p for p in sql.plugins_linked_to_tool(conn, inst["tool_id"]) if "smcp" in _config(p)]
        if not plugins:
            return None
        if len(plugins) > 1:
            raise Conflict(
                f"tool {inst['tool_name']!r} is linked to several SMCP plugins "
                f"({', '.join(p['name'] for p in plugins)}); unlink_plugin all but one."
            )
        plugin = plugins[0]
        smcp = _config(plugin)["smcp"]
        if not plugin["is_enabled"]:
            raise Conflict(f"SMCP plugin {plugin['name']!r} is disabled; enable it with enable_plugin.")
        if plugin["status"] != "Active":
            reason = plugin["error"] or "its folder is gone or it was never described successfully"
            raise Conflict(
                f"SMCP plugin {plugin['name']!r} is {plugin['status']} ({reason}); fix it and run sync_smcp_plugins."
            )
        tool_row = tools_sql.get_tool_by_id(conn, inst["tool_id"])
        schema = json.loads(tool_row["config_schema"]) if tool_row["config_schema"] else None
        stored = json.loads(inst["config"]) if inst["config"] else {}
        config = InstanceConfig(self.registry.secrets, schema).plaintext(stored)
        commands = {c.get("name"): c for c in smcp.get("commands", []) if isinstance(c, dict)}
        command = config.get("command")
        if not isinstance(command, str) or command not in commands:
            raise InvalidInput(
                f"tool instance {inst['name']!r} (id {instance_id}) must name one of the commands of SMCP plugin "
                f"{plugin['name']!r} in its config's \"command\" ({', '.join(sorted(commands)) or 'it has none'}); "
                "fix it with update_tool_instance."
            )
        arguments = config.get("arguments", {})
        if not isinstance(arguments, dict):
            raise InvalidInput(
                f"tool instance {inst['name']!r}: config \"arguments\" must be an object of the command's arguments; "
                "fix it with update_tool_instance."
            )
        python = smcp.get("python")
        if python is not None:
            # Checked again at every run: a database from before the scan checked it may name any program.
            try:
                check_python(str(python), what="the Python recorded for it")
            except InvalidInput as exc:
                raise Conflict(f"SMCP plugin {plugin['name']!r} cannot run: {exc} Run sync_smcp_plugins again "
                               "with SMCP's python.") from None
        return SmcpCommand(Path(smcp["plugin_dir"]), command, arguments, list(commands[command].get("parameters") or []),
                           python=python)
