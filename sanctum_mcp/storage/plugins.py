"""SQL for plugins, plugin_dependencies and plugin_links. Plain functions; no rules here."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage.sqlutil import insert_row, page_by_name, update_row

COLUMNS = ("name", "type", "version", "status", "error", "config", "is_enabled")


def get_by_id(conn: sqlite3.Connection, plugin_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM plugins WHERE id = ?", (plugin_id,)).fetchone()


def get_by_name(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM plugins WHERE name = ?", (name,)).fetchone()


def all_plugins(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM plugins ORDER BY name, id").fetchall()


def page(
    conn: sqlite3.Connection,
    *,
    type: str | None,
    status: str | None,
    is_enabled: bool | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[sqlite3.Row]:
    return page_by_name(conn, "plugins", after=after, limit=limit,
                        equals={"type": type, "status": status, "is_enabled": is_enabled})

def insert(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    return insert_row(conn, "plugins", COLUMNS, values)


def update(conn: sqlite3.Connection, plugin_id: int, values: dict[str, Any]) -> None:
    update_row(conn, "plugins", COLUMNS, plugin_id, values)


def delete(conn: sqlite3.Connection, plugin_id: int) -> None:
    # plugin_dependencies and plugin_links rows go with it (ON DELETE CASCADE).
    conn.execute("DELETE FROM plugins WHERE id = ?", (plugin_id,))


# --- dependencies ----------------------------------------------------------------------------------


def dependencies_of(conn: sqlite3.Connection, plugin_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT depends_on_name, version_spec FROM plugin_dependencies WHERE plugin_id = ? ORDER BY depends_on_name",
        (plugin_id,),
    ).fetchall()


def all_dependencies(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT d.plugin_id, p.name AS plugin_name, d.depends_on_name, d.version_spec "
        "FROM plugin_dependencies AS d JOIN plugins AS p ON p.id = d.plugin_id ORDER BY p.name, d.depends_on_name"
    ).fetchall()


def set_dependencies(conn: sqlite3.Connection, plugin_id: int, dependencies: list[tuple[str, str | None]]) -> None:
    conn.execute("DELETE FROM plugin_dependencies WHERE plugin_id = ?", (plugin_id,))
    conn.executemany(
        "INSERT INTO plugin_dependencies (plugin_id, depends_on_name, version_spec) VALUES (?, ?, ?)",
        [(plugin_id, name, spec) for name, spec in dependencies],
    )


def dependents_of(conn: sqlite3.Connection, name: str) -> list[sqlite3.Row]:
    """Plugins that declare a dependency on `name` (any case), with the specifier they need."""
    return conn.execute(
        "SELECT p.*, d.version_spec AS needed_spec FROM plugin_dependencies AS d "
        "JOIN plugins AS p ON p.id = d.plugin_id WHERE d.depends_on_name = ? ORDER BY p.name",
        (name,),
    ).fetchall()


# --- links -------------------------------------------------------------------------------------------


def linked_agents(conn: sqlite3.Connection, plugin_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT a.id, a.name FROM plugin_links AS l JOIN agents AS a ON a.id = l.agent_id "
        "WHERE l.plugin_id = ? ORDER BY a.name",
        (plugin_id,),
    ).fetchall()


def linked_tools(conn: sqlite3.Connection, plugin_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.id, t.name FROM plugin_links AS l JOIN tools AS t ON t.id = l.tool_id "
        "WHERE l.plugin_id = ? ORDER BY t.name",
        (plugin_id,),
    ).fetchall()


def plugins_linked_to_tool(conn: sqlite3.Connection, tool_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT p.* FROM plugin_links AS l JOIN plugins AS p ON p.id = l.plugin_id WHERE l.tool_id = ? ORDER BY p.name",
        (tool_id,),
    ).fetchall()


def link(conn: sqlite3.Connection, plugin_id: int, *, agent_id: int | None = None, tool_id: int | None = None) -> bool:
    """Add a link; False when it already existed."""
    cursor = conn.execute(
        "INSERT INTO plugin_links (plugin_id, agent_id, tool_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (plugin_id, agent_id, tool_id),
    )
    return cursor.rowcount > 0


def unlink(conn: sqlite3.Connection, plugin_id: int, *, agent_id: int | None = None, tool_id: int | None = None) -> bool:
    """Remove a link; False when there was none."""
    if agent_id is not None:
        cursor = conn.execute("DELETE FROM plugin_links WHERE plugin_id = ? AND agent_id = ?", (plugin_id, agent_id))
    else:
        cursor = conn.execute("DELETE FROM plugin_links WHERE plugin_id = ? AND tool_id = ?", (plugin_id, tool_id))
    return cursor.rowcount > 0
