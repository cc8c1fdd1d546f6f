"""SQL for the tools and tool_instances tables. Plain functions over a sqlite3 connection; no rules here."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage.sqlutil import insert_row, page_by_name, update_row

TOOL_COLUMNS = ("name", "description", "emoji", "category", "status", "tool_type", "config_schema", "is_enabled")
INSTANCE_COLUMNS = ("tool_id", "agent_id", "name", "config", "status", "last_run", "next_run", "is_active")

# An instance row joined with the names the domain shows next to the ids.
_INSTANCE_SELECT = (
    "SELECT i.*, t.name AS tool_name, t.is_enabled AS tool_enabled, t.category AS tool_category, "
    "a.name AS agent_name FROM tool_instances AS i "
    "JOIN tools AS t ON t.id = i.tool_id LEFT JOIN agents AS a ON a.id = i.agent_id"
)


# --- tools -------------------------------------------------------------------------------------


def get_tool_by_id(conn: sqlite3.Connection, tool_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM tools WHERE id = ?", (tool_id,)).fetchone()


def get_tool_by_name(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    # tools.name is COLLATE NOCASE: any case matches, through the unique index.
    return conn.execute("SELECT * FROM tools WHERE name = ?", (name,)).fetchone()


def page_tools(
    conn: sqlite3.Connection,
    *,
    category: str | None,
    tool_type: str | None,
    is_enabled: bool | None,
    status: str | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[sqlite3.Row]:
    return page_by_name(conn, "tools", after=after, limit=limit, equals={
        "category": category, "tool_type": tool_type, "status": status, "is_enabled": is_enabled,
    })

def insert_tool(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    return insert_row(conn, "tools", TOOL_COLUMNS, values)


def update_tool(conn: sqlite3.Connection, tool_id: int, values: dict[str, Any]) -> None:
    update_row(conn, "tools", TOOL_COLUMNS, tool_id, values)


def delete_tool(conn: sqlite3.Connection, tool_id: int) -> None:
    conn.execute("DELETE FROM tools WHERE id = ?", (tool_id,))


def tool_dependents(conn: sqlite3.Connection, tool_id: int) -> dict[str, list[str]]:
    """The instances of a tool and the scheduled jobs that run them."""
    instances = [
        r[0] for r in conn.execute("SELECT name FROM tool_instances WHERE tool_id = ? ORDER BY id", (tool_id,))
    ]
    jobs = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM scheduled_jobs WHERE tool_instance_id IN "
            "(SELECT id FROM tool_instances WHERE tool_id = ?) ORDER BY id",
            (tool_id,),
        )
    ]
    return {"tool_instances": instances, "scheduled_jobs": jobs}


def tool_link_count(conn: sqlite3.Connection, tool_id: int) -> int:
    """The plugin links of a tool (deleted with it)."""
    return conn.execute("SELECT count(*) FROM plugin_links WHERE tool_id = ?", (tool_id,)).fetchone()[0]


def delete_tool_dependents(conn: sqlite3.Connection, tool_id: int) -> None:
    conn.execute(
        "DELETE FROM scheduled_jobs WHERE tool_instance_id IN (SELECT id FROM tool_instances WHERE tool_id = ?)",
        (tool_id,),
    )
    conn.execute("DELETE FROM tool_instances WHERE tool_id = ?", (tool_id,))


# --- tool instances ------------------------------------------------------------------------------


def get_instance(conn: sqlite3.Connection, instance_id: int) -> sqlite3.Row | None:
    return conn.execute(f"{_INSTANCE_SELECT} WHERE i.id = ?", (instance_id,)).fetchone()


def instances_of_tool(conn: sqlite3.Connection, tool_id: int) -> list[sqlite3.Row]:
    return conn.execute(f"{_INSTANCE_SELECT} WHERE i.tool_id = ? ORDER BY i.id", (tool_id,)).fetchall()


def find_instance_named(
    conn: sqlite3.Connection, tool_id: int, agent_id: int | None, name: str
) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM tool_instances WHERE tool_id = ? AND agent_id IS ? AND name = ? COLLATE NOCASE",
        (tool_id, agent_id, name),
    ).fetchone()


def page_instances(
    conn: sqlite3.Connection,
    *,
    agent_id: int | None,
    tool_id: int | None,
    is_active: bool | None,
    after: int | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Instances ordered by id, strictly after id `after`."""
    where, params = [], []
    if agent_id is not None:
        where.append("i.agent_id = ?")
        params.append(agent_id)
    if tool_id is not None:
        where.append("i.tool_id = ?")
        params.append(tool_id)
    if is_active is not None:
        where.append("i.is_active = ?")
        params.append(int(is_active))
    if after is not None:
        where.append("i.id > ?")
        params.append(after)
    sql = _INSTANCE_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY i.id LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def insert_instance(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    return insert_row(conn, "tool_instances", INSTANCE_COLUMNS, values)


def update_instance(conn: sqlite3.Connection, instance_id: int, values: dict[str, Any]) -> None:
    update_row(conn, "tool_instances", INSTANCE_COLUMNS, instance_id, values)


def instance_jobs(conn: sqlite3.Connection, instance_id: int) -> list[str]:
    return [
        r[0] for r in conn.execute("SELECT name FROM scheduled_jobs WHERE tool_instance_id = ? ORDER BY id", (instance_id,))
    ]


def delete_instance(conn: sqlite3.Connection, instance_id: int, *, with_jobs: bool) -> None:
    if with_jobs:
        conn.execute("DELETE FROM scheduled_jobs WHERE tool_instance_id = ?", (instance_id,))
    conn.execute("DELETE FROM tool_instances WHERE id = ?", (instance_id,))
