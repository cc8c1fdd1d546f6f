"""SQL of the change feed (table `changes`, schema version 6): one row per committed change."""

from __future__ import annotations

import sqlite3
from typing import Any

# The window: the newest KEPT revisions stay; an older one is deleted by the insert that pushes it
# out, so the table never grows past KEPT rows (a few hundred bytes each). A reader further behind
# than the window is told to reload everything (domain/feed/service.py).
KEPT = 10_000

COLUMNS = ("kind", "action", "object_id", "name", "key", "scope", "agent_id", "actor")


def insert(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
    """Add a change; returns its revision. Drops the rows that fall out of the window."""
    cursor = conn.execute(
        f"INSERT INTO changes ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        tuple(row.get(column) for column in COLUMNS),
    )
    revision = int(cursor.lastrowid)
    conn.execute("DELETE FROM changes WHERE revision <= ?", (revision - KEPT,))
    return revision


def current(conn: sqlite3.Connection) -> int:
    """The newest revision ever given (0 for none): AUTOINCREMENT's counter, which survives the window."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return 0 if row is None else int(row[0])


def oldest(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT MIN(revision) FROM changes").fetchone()
    return None if row[0] is None else int(row[0])


def since(conn: sqlite3.Connection, revision: int, limit: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM changes WHERE revision > ? ORDER BY revision LIMIT ?", (revision, limit)
    ).fetchall()


def carry_over(work: sqlite3.Connection, live: sqlite3.Connection) -> None:
    """For a restore: the restored copy `work` gets the live database's feed (its rows and its
    counter) instead of its own, which describes another history: revisions never go backwards."""
    work.execute("DELETE FROM changes")
    for row in live.execute("SELECT * FROM changes ORDER BY revision").fetchall():
        keys = list(row.keys())
        work.execute(f"INSERT INTO changes ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})", tuple(row))
    revision = current(live)
    if not work.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'changes'", (revision,)).rowcount:
        work.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", (revision,))


def agent_ids_named(conn: sqlite3.Connection, names: list[str]) -> set[int]:
    """Ids of the agents with these names, ignoring case (permissions.agents holds names)."""
    if not names:
        return set()
    folded = [name.casefold() for name in names]
    rows = conn.execute("SELECT id, name FROM agents").fetchall()
    return {row["id"] for row in rows if row["name"].casefold() in folded}


def instance_agent(conn: sqlite3.Connection, instance_id: Any) -> int | None:
    row = conn.execute("SELECT agent_id FROM tool_instances WHERE id = ?", (instance_id,)).fetchone()
    return None if row is None else row[0]


def job_agent(conn: sqlite3.Connection, job_id: Any) -> int | None:
    row = conn.execute(
        "SELECT COALESCE(j.agent_id, i.agent_id) FROM scheduled_jobs j "
        "LEFT JOIN tool_instances i ON i.id = j.tool_instance_id WHERE j.id = ?", (job_id,)
    ).fetchone()
    return None if row is None else row[0]
