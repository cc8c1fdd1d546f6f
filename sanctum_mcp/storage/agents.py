"""SQL for the agents table. Plain functions over a sqlite3 connection; no rules here."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage.sqlutil import insert_row, page_by_name, update_row

COLUMNS = ("name", "description", "status", "letta_id", "config", "is_active")


def get_by_id(conn: sqlite3.Connection, agent_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()


def get_by_name(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    # The column is COLLATE NOCASE, so this matches regardless of case and uses the unique index.
    return conn.execute("SELECT * FROM agents WHERE name = ?", (name,)).fetchone()


def page(
    conn: sqlite3.Connection,
    *,
    status: str | None,
    is_active: bool | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Agents ordered by name (case-insensitive) then id, strictly after the keyset `after`."""
    return page_by_name(conn, "agents", equals={"status": status, "is_active": is_active}, after=after, limit=limit)


def insert(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    return insert_row(conn, "agents", COLUMNS, values)


def update(conn: sqlite3.Connection, agent_id: int, values: dict[str, Any]) -> None:
    update_row(conn, "agents", COLUMNS, agent_id, values)


def delete(conn: sqlite3.Connection, agent_id: int) -> None:
    conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,))


def dependents(conn: sqlite3.Connection, agent_id: int) -> dict[str, list[str]]:
    """What refers to the agent and would block or be removed by its deletion."""
    instances = [r[0] for r in conn.execute("SELECT name FROM tool_instances WHERE agent_id = ? ORDER BY id", (agent_id,))]
    # Jobs that act for the agent and jobs that run one of its instances: delete_dependents removes both.
    jobs = [r[0] for r in conn.execute(
        "SELECT name FROM scheduled_jobs WHERE agent_id = ? "
        "OR tool_instance_id IN (SELECT id FROM tool_instances WHERE agent_id = ?) ORDER BY id", (agent_id, agent_id))]
    return {"tool_instances": instances, "scheduled_jobs": jobs}


def setting_count(conn: sqlite3.Connection, agent_id: int) -> int:
    """The settings stored for the agent and for its instances (deleted with it)."""
    return conn.execute(
        "SELECT count(*) FROM configurations WHERE (scope = 'agent' AND target = ?) OR (scope = 'instance' AND "
        "target IN (SELECT CAST(id AS TEXT) FROM tool_instances WHERE agent_id = ?))", (str(agent_id), agent_id),
    ).fetchone()[0]


def instance_ids(conn: sqlite3.Connection, agent_id: int) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM tool_instances WHERE agent_id = ? ORDER BY id", (agent_id,))]


def delete_dependents(conn: sqlite3.Connection, agent_id: int) -> None:
    # Jobs first: they may point at the agent's instances.
    conn.execute(
        "DELETE FROM scheduled_jobs WHERE agent_id = ? "
        "OR tool_instance_id IN (SELECT id FROM tool_instances WHERE agent_id = ?)",
        (agent_id, agent_id),
    )
    conn.execute("DELETE FROM tool_instances WHERE agent_id = ?", (agent_id,))

