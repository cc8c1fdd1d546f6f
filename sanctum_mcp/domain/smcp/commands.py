"""The SMCP command a tool instance runs (the convention scheduled jobs use): an instance belongs to
a plugin registered from SMCP when its tool is linked to that plugin; its config names the command
("command") and its arguments ("arguments")."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanctum_mcp.domain.plugins.rows import config_of
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.shared.secrets import SecretBox
from sanctum_mcp.domain.smcp.interpreter import check_python
from sanctum_mcp.domain.tools.instance_config import InstanceConfig
from sanctum_mcp.storage import plugins as sql
from sanctum_mcp.storage import tools as tools_sql


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


def command_for_instance(conn: sqlite3.Connection, box: SecretBox, instance_id: int) -> SmcpCommand | None:
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
    plugins = [p for p in sql.plugins_linked_to_tool(conn, inst["tool_id"]) if "smcp" in config_of(p)]
    if not plugins:
        return None
    if len(plugins) > 1:
        raise Conflict(
            f"tool {inst['tool_name']!r} is linked to several SMCP plugins "
            f"({', '.join(p['name'] for p in plugins)}); unlink_plugin all but one."
        )
    plugin = plugins[0]
    smcp = config_of(plugin)["smcp"]
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
    config = InstanceConfig(box, schema).plaintext(stored)
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
