"""Registering SMCP plugins (and Sanctum modules) found in a plugins folder.

For every sub-folder of the plugins folder:
- with a `cli.py`: run `cli.py --describe` (all folders concurrently, each with the timeout),
  check the payload against the describe contract v1, and register or update a plugin of type
  `mcp` whose `config.smcp` records `plugin_dir`, `commands` (the payload's command objects),
  `description`, `described_at` (and `python`, when the scan was told which interpreter SMCP uses).
  A failed describe marks the plugin Error with the reason
  (its last good commands are kept). A tool `smcp:<plugin>` (category smcp, type plugin) linked
  to the plugin is created or updated: its config_schema lets an instance pick one command
  (`config.command`) and give its arguments (`config.arguments`), which is what scheduled jobs run.
- with a `manifest.json` (Sanctum's module manifest: name, type, description, version,
  module_scope, config_schema, dependencies, entry_point): its fields are recorded in
  `config.manifest`, its version is used when the describe payload has none, and its
  dependencies become the plugin's dependencies. A folder with only a manifest is registered as
  a module (`config.module.folder`), of the manifest's type when that is mcp/extension/integration
  and `extension` otherwise.
Plugins this scan registered earlier whose folder (or cli.py) has vanished, or that were found in
this plugins folder (`config.smcp.plugins_dir`) and are no longer in it, become Inactive (a link
removed from the folder removes the plugin from SMCP, though the code it pointed to remains).
The processes run before the transaction; the registry is then changed in ONE transaction with
one audit row (`plugin.sync`) listing every change.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.plugins.graph import Graph, cycle_text
from sanctum_mcp.domain.plugins.rows import SCAN_KEYS, is_scanned
from sanctum_mcp.domain.plugins.versions import NAME_RE
from sanctum_mcp.domain.schemas.validation import check_schema, schema_problems
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.clock import iso
from sanctum_mcp.domain.shared.errors import InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.smcp.contract import run_plugin, smcp_falls_back_to_help
from sanctum_mcp.domain.smcp.folders import MANIFEST, Folder, Found, discover, evaluate
from sanctum_mcp.domain.smcp.interpreter import check_python
from sanctum_mcp.domain.smcp.models import SyncEntry, SyncReport
from sanctum_mcp.storage import plugins as sql
from sanctum_mcp.storage import tools as tools_sql

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database

TOOL_PREFIX = "smcp:"


async def sync(db: Database, clock: Callable[[], datetime], caller: Caller, plugins_dir: Path, *, timeout: float,
               python: str | None) -> SyncReport:
    import anyio

    base = Path(plugins_dir)  # no ~ expansion: the caller names an absolute path on the server's machine
    if python is not None:
        # It will run every plugin's cli.py: a Python, by inspection, never by running it (in a thread:
        # the inspection reads the file).
        await anyio.to_thread.run_sync(check_python, python)
    if not base.is_absolute():
        raise InvalidInput(f"plugins_dir {str(plugins_dir)!r} must be an absolute path on the server's machine.")
    if not base.is_dir():
        raise NotFound(f"plugins folder {str(base)!r} does not exist or is not a folder; give the folder SMCP loads "
                       "plugins from ($MCP_PLUGINS_DIR).")
    folders = await anyio.to_thread.run_sync(discover, base)

    async def describe(folder: Folder) -> None:
        folder.run = await anyio.to_thread.run_sync(
            partial(run_plugin, folder.path, ["--describe"], timeout=timeout, python=python)
        )
        if smcp_falls_back_to_help(folder.run):  # as SMCP does: what it serves is what gets registered
            folder.help_run = await anyio.to_thread.run_sync(
                partial(run_plugin, folder.path, ["--help"], timeout=timeout, python=python)
            )

    # Every describe runs at once: one hanging plugin costs one timeout, not one per plugin after it.
    async with anyio.create_task_group() as group:
        for folder in folders:
            if folder.has_cli:
                group.start_soon(describe, folder)
    now = iso(clock())
    return await db.write(lambda conn: _apply(conn, caller, base, folders, now, python))


# --- the transaction --------------------------------------------------------------------------------


def _config(row: sqlite3.Row | None) -> dict[str, Any]:
    return json.loads(row["config"]) if row is not None and row["config"] else {}


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    smcp = config.get("smcp")
    if isinstance(smcp, dict):
        config = {**config, "smcp": {k: v for k, v in smcp.items() if k != "described_at"}}
    return config


@dataclass
class Pending:
    """A folder that will be registered or updated, with what the registry holds for it now."""

    folder: Folder
    entry: SyncEntry
    row: sqlite3.Row | None
    found: Found
    plugin_id: int = 0  # set once written


def _apply(conn: sqlite3.Connection, caller: Caller, base: Path, folders: list[Folder], now: str,
           python: str | None) -> SyncReport:
    entries: list[SyncEntry] = []
    changes: list[dict[str, Any]] = []
    pending: list[Pending] = []
    seen: set[str] = set()

    # 1. Which folders are plugins, and what each says about itself.
    for folder in folders:
        entry = SyncEntry(name=folder.name, folder=str(folder.path), outcome="skipped", warnings=folder.warnings)
        entries.append(entry)
        seen.add(folder.name.lower())
        if not folder.has_cli and folder.manifest is None and folder.manifest_error is None:
            entry.error = f"no cli.py and no {MANIFEST}: not a plugin"
            continue
        if len(folder.name) > 64 or not NAME_RE.match(folder.name):
            entry.error = ("the folder name is not a valid plugin name (letters, digits, '.', '_', '-'; starting "
                           "and ending with a letter or digit); rename the folder")
            continue
        row = sql.get_by_name(conn, folder.name)
        if row is not None and not is_scanned(row):
            entry.error = (f"a plugin named {row['name']!r} was registered with register_plugin; this folder was "
                           "left alone. Rename the folder, or unregister_plugin that plugin and scan again")
            continue
        found = evaluate(folder)
        entry.warnings = list(folder.warnings)  # evaluate may add some (the entry holds a copy)
        if found.version is None and folder.has_cli and found.commands is None and row is not None:
            found.version = row["version"]  # describe failed: the last known version stays
        pending.append(Pending(folder, entry, row, found))

    # 2. Dependencies, judged on the registry as it will be after this scan.
    _dependency_errors(conn, pending)

    # 3. One write per plugin that changed.
    for item in pending:
        _upsert(conn, item, now, python, changes, base)

    # 4. The tool through which instances run an SMCP plugin's commands.
    for item in pending:
        if item.found.commands is not None and item.entry.status != "Error":
            _ensure_tool(conn, item, changes)

    # 5. Plugins whose folder vanished.
    _mark_vanished(conn, base, seen, entries, changes, now)

    report = SyncReport(plugins_dir=str(base), entries=entries)
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
    audit.record(conn, caller, action="plugin.sync", source="plugin", source_id=None,
                 message=f"SMCP plugins in {base} synced: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
                 extra={"plugins_dir": str(base), "changes": changes}, changed=bool(changes))
    return report


def _dependency_errors(conn: sqlite3.Connection, pending: list[Pending]) -> None:
    """Missing, unsatisfied or circular dependencies put a scanned plugin in Error."""
    graph = Graph(conn)
    for item in pending:
        key = item.folder.name.lower()
        enabled = bool(item.row["is_enabled"]) if item.row is not None else True
        graph.rows[key] = {"name": item.folder.name, "version": item.found.version,  # type: ignore[assignment]
                           "is_enabled": int(enabled), "status": "Error" if item.found.error else "Active"}
        graph.set_edges(key, item.found.dependencies)
    for item in pending:
        if item.found.error or not item.found.dependencies:
            continue
        key = item.folder.name.lower()
        problems = graph.problems(key)
        cycle = graph.find_cycle(start=key)
        if cycle and cycle[0].lower() == key:
            problems.append(f"its dependencies form a cycle ({cycle_text(cycle)})")
        if problems:
            item.found.error = "; ".join(problems)


def _upsert(conn: sqlite3.Connection, item: Pending, now: str, python: str | None, changes: list[dict[str, Any]],
            base: Path) -> None:
    folder, entry, row, found = item.folder, item.entry, item.row, item.found
    old_config = _config(row)
    config = {k: v for k, v in old_config.items() if k not in SCAN_KEYS}
    old_smcp = old_config.get("smcp") if isinstance(old_config.get("smcp"), dict) else {}
    if folder.has_cli:
        described = found.commands is not None
        smcp = {
            "plugin_dir": str(folder.path),
            "plugins_dir": str(base),
            "commands": found.commands if described else old_smcp.get("commands", []),
            "description": found.description if described else old_smcp.get("description"),
            "described_at": now if described else old_smcp.get("described_at"),
            # The interpreter the scan ran cli.py with, when one was named (SMCP's own, typically);
            # absent means sanctum-mcp's Python.
            "python": python,
            "discovery": found.discovery,  # "help": commands scraped from --help, as SMCP does
        }
        config["smcp"] = {k: v for k, v in smcp.items() if v is not None}
    else:
        config["module"] = {"folder": str(folder.path), "plugins_dir": str(base)}
    if folder.manifest is not None:
        config["manifest"] = folder.manifest
    enabled = bool(row["is_enabled"]) if row is not None else True
    values = {
        "type": found.type,
        "version": found.version,
        "status": "Error" if found.error else ("Active" if enabled else "Inactive"),
        "error": found.error,
    }
    if row is None:
        plugin_id = sql.insert(conn, {"name": folder.name, **values, "config": _dump(config), "is_enabled": 1})
        sql.set_dependencies(conn, plugin_id, found.dependencies)
        entry.outcome = "registered"
        changes.append({"plugin": folder.name, "change": "registered", "after": {**values, "config": config}})
    else:
        plugin_id = row["id"]
        old_deps = sorted((d["depends_on_name"].lower(), d["version_spec"]) for d in sql.dependencies_of(conn, plugin_id))
        before = {k: row[k] for k in values}
        if (before == values and _comparable(old_config) == _comparable(config)
                and old_deps == sorted((n.lower(), s) for n, s in found.dependencies)):
            entry.outcome = "unchanged"
        else:
            sql.update(conn, plugin_id, {**values, "config": _dump(config)})
            sql.set_dependencies(conn, plugin_id, found.dependencies)
            entry.outcome = "updated"
            changes.append({"plugin": folder.name, "change": "updated", "before": {**before, "config": old_config},
                            "after": {**values, "config": config}})
    if found.error:
        entry.outcome = "error"
    item.plugin_id = plugin_id
    entry.status, entry.version, entry.error = values["status"], found.version, found.error
    entry.commands = [c["name"] for c in config.get("smcp", {}).get("commands", [])]


def command_schema(plugin: str, commands: list[dict[str, Any]]) -> dict[str, Any]:
    """The config_schema of an SMCP plugin's tool: `command` is one of its commands and `arguments`
    matches that command's parameters."""
    names = [c["name"] for c in commands]
    rules = []
    for command in commands:
        properties: dict[str, Any] = {}
        required = []
        for param in command.get("parameters") or []:
            prop: dict[str, Any] = {}
            for key in ("type", "description", "default", "enum"):
                if key in param:
                    prop[key] = param[key]
            if param.get("type") == "array" and isinstance(param.get("items"), dict):
                prop["items"] = param["items"]
            properties[param["name"]] = prop
            if param.get("required"):
                required.append(param["name"])
        arguments: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            arguments["required"] = required
        then: dict[str, Any] = {"properties": {"arguments": arguments}}
        if required:
            then["required"] = ["arguments"]
        rules.append({"if": {"properties": {"command": {"const": command["name"]}}, "required": ["command"]}, "then": then})
    schema: dict[str, Any] = {
        "type": "object",
        "description": f"One command of the SMCP plugin {plugin!r} and its arguments.",
        "required": ["command"],
        "properties": {
            "command": {"type": "string", "enum": names, "description": "The command to run."},
            "arguments": {"type": "object", "description": "The command's arguments, by parameter name."},
        },
        "additionalProperties": False,
    }
    if rules:
        schema["allOf"] = rules
    try:
        check_schema(schema, what="generated schema", fix="")
    except InvalidInput:
        # A parameter's declared items/default is not valid JSON Schema: keep the command choice only.
        schema.pop("allOf", None)
    return schema


def _ensure_tool(conn: sqlite3.Connection, item: Pending, changes: list[dict[str, Any]]) -> None:
    plugin_id, entry, found = item.plugin_id, item.entry, item.found
    name = TOOL_PREFIX + entry.name
    schema = command_schema(entry.name, found.commands or [])
    description = (f"Commands of the SMCP plugin {entry.name!r}"
                   + (f": {found.description}" if found.description else "")
                   + ". An instance names one in config.command and its arguments in config.arguments.")[:2000]
    tool = tools_sql.get_tool_by_name(conn, name)
    linked = {t["id"] for t in sql.linked_tools(conn, plugin_id)}
    if tool is None:
        tool_id = tools_sql.insert_tool(conn, {
            "name": name, "description": description, "category": "smcp", "tool_type": "plugin",
            "config_schema": _dump(schema), "is_enabled": 1,
        })
        sql.link(conn, plugin_id, tool_id=tool_id)
        changes.append({"tool": name, "change": "created"})
        return
    if tool["id"] not in linked:
        entry.warnings.append(f"a tool named {tool['name']!r} exists but is not linked to this plugin; it was left alone")
        return
    old_schema = json.loads(tool["config_schema"]) if tool["config_schema"] else None
    if old_schema == schema and tool["description"] == description:
        return
    tools_sql.update_tool(conn, tool["id"], {"config_schema": _dump(schema), "description": description})
    changes.append({"tool": name, "change": "schema updated"})
    for inst in tools_sql.instances_of_tool(conn, tool["id"]):
        # Commands are not secrets-bearing schemas (no writeOnly), so the stored config is the plaintext.
        problems = schema_problems(schema, json.loads(inst["config"]) if inst["config"] else {})
        if problems:
            tools_sql.update_instance(conn, inst["id"], {"status": "Degraded"})
            entry.warnings.append(
                f"instance {inst['name']!r} (id {inst['id']}) no longer fits the plugin's commands "
                f"({'; '.join(problems[:3])}); it was marked Degraded: fix it with update_tool_instance"
            )


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as written
        return a == b


def _mark_vanished(conn: sqlite3.Connection, base: Path, seen: set[str], entries: list[SyncEntry],
                   changes: list[dict[str, Any]], now: str) -> None:
    """Plugins this scan registered earlier that are gone: registered from this plugins folder and
    no longer in it (even if the folder a link pointed to is still there: SMCP no longer sees it),
    or whose folder (or cli.py) has disappeared wherever they came from."""
    for row in sql.all_plugins(conn):
        if row["name"].lower() in seen or not is_scanned(row):
            continue
        config = _config(row)
        smcp, module = config.get("smcp"), config.get("module")
        origin_config = smcp if isinstance(smcp, dict) else module
        folder = Path(smcp["plugin_dir"]) if isinstance(smcp, dict) else Path(module["folder"])
        recorded = origin_config.get("plugins_dir")
        from_here = isinstance(recorded, str) and _same_folder(Path(recorded), base)
        gone = from_here or not folder.is_dir() or (isinstance(smcp, dict) and not (folder / "cli.py").is_file())
        if not gone:
            continue  # registered from another plugins folder, still there
        entry = SyncEntry(name=row["name"], folder=str(folder), outcome="vanished", status="Inactive",
                          version=row["version"], error=None)
        entries.append(entry)
        origin = "smcp" if isinstance(smcp, dict) else "module"
        if row["status"] == "Inactive" and "vanished_at" in config[origin]:
            continue
        config[origin] = {**config[origin], "vanished_at": now}
        sql.update(conn, row["id"], {"status": "Inactive", "error": None, "config": _dump(config)})
        changes.append({"plugin": row["name"], "change": "vanished", "before": {"status": row["status"]}})
