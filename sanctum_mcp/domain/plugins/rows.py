"""A plugin row as a model (with its dependencies and links), found by name or id; what the SMCP scan
owns in its config."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sanctum_mcp.domain.plugins.models import Plugin, PluginDependency, PluginSummary
from sanctum_mcp.domain.shared.errors import NotFound
from sanctum_mcp.domain.shared.references import as_id
from sanctum_mcp.storage import plugins as sql

# Keys of plugins.config that only the SMCP scan writes.
SCAN_KEYS = ("smcp", "module", "manifest")


def config_of(row: sqlite3.Row) -> dict[str, Any]:
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
        config=config_of(row),
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
    config = config_of(row)
    return any(key in config for key in ("smcp", "module"))


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def enabled_status(row_status: str, enabled: bool) -> str:
    """The status after enabling/disabling: Error stays Error (with its reason) until it recovers."""
    if row_status == "Error":
        return "Error"
    return "Active" if enabled else "Inactive"
