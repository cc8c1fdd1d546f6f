"""SQL for scheduled_jobs and the tool-instance lookups jobs need. No rules here."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage.sqlutil import insert_row, update_row

COLUMNS = (
    "name",
    "description",
    "cron_expression",
    "timezone",
    "tool_instance_id",
    "agent_id",
    "status",
    "last_run",
    "next_run",
    "is_enabled",
)

# A job with the names of what it points at, and (only when it is in Error) the reason of its last
# failure, kept in the job's newest 'job.failed' log row (idx_logs_source answers it).
_SELECT = """
SELECT j.*,
       ti.name     AS instance_name,
       ti.agent_id AS instance_agent_id,
       a.name      AS agent_name,
       CASE WHEN j.status = 'Error' THEN (
           SELECT l.message FROM logs l
           WHERE l.source = 'job' AND l.source_id = CAST(j.id AS TEXT) AND l.action = 'job.failed'
           ORDER BY l.created_at DESC, l.id DESC LIMIT 1
       ) END AS last_error
FROM scheduled_jobs j
LEFT JOIN tool_instances ti ON ti.id = j.tool_instance_id
LEFT JOIN agents a ON a.id = j.agent_id
"""


def get_by_id(conn: sqlite3.Connection, job_id: int) -> sqlite3.Row | None:
    return conn.execute(_SELECT + " WHERE j.id = ?", (job_id,)).fetchone()


def get_by_name(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute(_SELECT + " WHERE j.name = ?", (name,)).fetchone()


def page(
    conn: sqlite3.Connection,
    *,
    agent_id: int | None,
    status: str | None,
    due_before: str | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Jobs ordered by name then id, strictly after the keyset `after`."""
    where, params = [], []
    if agent_id is not None:
        where.append("(j.agent_id = ? OR (j.agent_id IS NULL AND ti.agent_id = ?))")
        params += [agent_id, agent_id]
    if status is not None:
        where.append("j.status = ?")
        params.append(status)
    if due_before is not None:
        where.append("j.next_run IS NOT NULL AND j.next_run <= ?")
        params.append(due_before)
    if after is not None:
        where.append("(j.name > ? OR (j.name = ? AND j.id > ?))")
        params += [after[0], after[0], after[1]]
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY j.name, j.id LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def insert(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    return insert_row(conn, "scheduled_jobs", COLUMNS, values)


def update(conn: sqlite3.Connection, job_id: int, values: dict[str, Any]) -> None:
    update_row(conn, "scheduled_jobs", COLUMNS, job_id, values)


def delete(conn: sqlite3.Connection, job_id: int) -> None:
    conn.execute("DELETE FROM scheduled_jobs WHERE id = ?", (job_id,))


# --- the scheduler's queries ------------------------------------------------------------------


def due(conn: sqlite3.Connection, now: str, limit: int = 100) -> list[sqlite3.Row]:
    """Active, enabled jobs whose next_run has come (idx_scheduled_jobs_status_next_run)."""
    return conn.execute(
        _SELECT + " WHERE j.status = 'Active' AND j.is_enabled = 1 AND j.next_run IS NOT NULL "
        "AND j.next_run <= ? ORDER BY j.next_run, j.id LIMIT ?",
        (now, limit),
    ).fetchall()


def earliest_next_run(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(
        "SELECT MIN(next_run) FROM scheduled_jobs WHERE status = 'Active' AND is_enabled = 1"
    ).fetchone()
    return row[0]


def claim(conn: sqlite3.Connection, job_id: int, *, expected_next_run: str, next_run: str, last_run: str) -> bool:
    """Advance the job past the occurrence due at `expected_next_run`, only if nobody did it first.

    The conditional UPDATE is what lets two server processes share one database: whichever commits
    first changes next_run, and the other's UPDATE then matches no row.
    """
    cursor = conn.execute(
        "UPDATE scheduled_jobs SET next_run = ?, last_run = ? "
        "WHERE id = ? AND next_run = ? AND status = 'Active' AND is_enabled = 1",
        (next_run, last_run, job_id, expected_next_run),
    )
    return cursor.rowcount == 1


def set_status(conn: sqlite3.Connection, job_id: int, status: str) -> None:
    conn.execute("UPDATE scheduled_jobs SET status = ? WHERE id = ?", (status, job_id))


# --- tool instances ---------------------------------------------------------------------------


def instance_by_id(conn: sqlite3.Connection, instance_id: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT ti.*, t.name AS tool_name, a.name AS agent_name FROM tool_instances ti "
        "JOIN tools t ON t.id = ti.tool_id LEFT JOIN agents a ON a.id = ti.agent_id WHERE ti.id = ?",
        (instance_id,),
    ).fetchone()


def instances_by_name(conn: sqlite3.Connection, name: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT ti.*, t.name AS tool_name, a.name AS agent_name FROM tool_instances ti "
        "JOIN tools t ON t.id = ti.tool_id LEFT JOIN agents a ON a.id = ti.agent_id "
        "WHERE ti.name = ? ORDER BY ti.id",
        (name,),
    ).fetchall()


def sync_instance_schedule(conn: sqlite3.Connection, instance_id: int | None, *, last_run: str | None = None) -> None:
    """The instance's next_run is the earliest next_run of its active jobs; last_run is set when given."""
    if instance_id is None:
        return
    next_run = conn.execute(
        "SELECT MIN(next_run) FROM scheduled_jobs WHERE tool_instance_id = ? AND status = 'Active' AND is_enabled = 1",
        (instance_id,),
    ).fetchone()[0]
    if last_run is None:
        conn.execute("UPDATE tool_instances SET next_run = ? WHERE id = ?", (next_run, instance_id))
    else:
        conn.execute(
            "UPDATE tool_instances SET next_run = ?, last_run = ? WHERE id = ?", (next_run, last_run, instance_id)
        )
