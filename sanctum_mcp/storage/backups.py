"""SQL for the backups table, the system settings the scheduler reads, and table exports. No rules here."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage.sqlutil import quote

COLUMNS = (
    "name",
    "description",
    "type",
    "status",
    "file_path",
    "size_bytes",
    "checksum",
    "is_auto",
    "expires_at",
    "created_at",
)


def get_by_id(conn: sqlite3.Connection, backup_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM backups WHERE id = ?", (backup_id,)).fetchone()


def get_by_name(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM backups WHERE name = ?", (name,)).fetchone()


def page(
    conn: sqlite3.Connection,
    *,
    type: str | None,
    status: str | None,
    before: tuple[str, int] | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Backups newest first (created_at, id), strictly before the keyset `before`."""
    where, params = [], []
    if type is not None:
        where.append("type = ?")
        params.append(type)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if before is not None:
        where.append("(created_at, id) < (?, ?)")
        params += [before[0], before[1]]
    sql = "SELECT * FROM backups"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def insert(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    columns = [c for c in COLUMNS if c in values]
    sql = f"INSERT INTO backups ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    return conn.execute(sql, [values[c] for c in columns]).lastrowid


def update(conn: sqlite3.Connection, backup_id: int, values: dict[str, Any]) -> None:
    columns = [c for c in COLUMNS if c in values]
    if columns:
        assignments = ", ".join(f"{c} = ?" for c in columns)
        conn.execute(f"UPDATE backups SET {assignments} WHERE id = ?", [*(values[c] for c in columns), backup_id])


def delete(conn: sqlite3.Connection, backup_id: int) -> int:
    return conn.execute("DELETE FROM backups WHERE id = ?", (backup_id,)).rowcount


def usage(conn: sqlite3.Connection) -> tuple[int, int]:
    """(backups holding or being written to a file, bytes of the completed ones): Failed ones keep no file."""
    count, used = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM backups WHERE status <> 'Failed'"
    ).fetchone()
    return count, used


def previous_completed(conn: sqlite3.Connection, created_before: str) -> sqlite3.Row | None:
    """The newest Completed backup (any type) made before `created_before`."""
    return conn.execute(
        "SELECT * FROM backups WHERE status = 'Completed' AND created_at < ? ORDER BY created_at DESC, id DESC LIMIT 1",
        (created_before,),
    ).fetchone()


def latest_auto(conn: sqlite3.Connection) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM backups WHERE is_auto = 1 ORDER BY created_at DESC, id DESC LIMIT 1"
    ).fetchone()


def expired(conn: sqlite3.Connection, now: str) -> list[sqlite3.Row]:
    """Backups whose expires_at has passed (idx_backups_expires_at), except those still being written."""
    return conn.execute(
        "SELECT * FROM backups WHERE expires_at IS NOT NULL AND expires_at <= ? AND status <> 'In Progress' "
        "ORDER BY expires_at, id",
        (now,),
    ).fetchall()


def stale_in_progress(conn: sqlite3.Connection, started_before: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM backups WHERE status = 'In Progress' AND created_at < ? ORDER BY id", (started_before,)
    ).fetchall()


def all_rows(conn: sqlite3.Connection, table: str) -> list[sqlite3.Row]:
    return conn.execute(f"SELECT * FROM {quote(table)} ORDER BY rowid").fetchall()


def insert_rows(conn: sqlite3.Connection, table: str, rows: list[sqlite3.Row] | list[dict[str, Any]]) -> None:
    """Insert rows with every column as given (ids included)."""
    for row in rows:
        keys = list(row.keys())
        conn.execute(
            f"INSERT INTO {quote(table)} ({', '.join(quote(k) for k in keys)}) "
            f"VALUES ({', '.join('?' for _ in keys)})",
            [row[k] for k in keys],
        )


def max_id(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quote(table)}").fetchone()[0]


def existing_user_ids(conn: sqlite3.Connection) -> set[int]:
    return {r[0] for r in conn.execute("SELECT id FROM users")}


def setting(conn: sqlite3.Connection, key: str) -> str | None:
    """A system_config value as stored (None when the key is absent)."""
    row = conn.execute("SELECT config_value FROM system_config WHERE config_key = ?", (key,)).fetchone()
    return None if row is None else row[0]


# What a restore replaces, counted for its preview (domain/shared/confirm.py).
_COUNTED = (("agents", "agents"), ("tools", "tools"), ("tool_instances", "tool instances"),
            ("scheduled_jobs", "scheduled jobs"), ("plugins", "plugins"), ("system_config", "system settings"),
            ("configurations", "scoped settings"))


def content_summary(conn: sqlite3.Connection) -> str:
    """'now 2 agents, ...; last audited change #N': the live content a restore would replace."""
    counts = ", ".join(f"{conn.execute(f'SELECT count(*) FROM {table}').fetchone()[0]} {label}"
                       for table, label in _COUNTED)
    last = conn.execute("SELECT max(id) FROM logs WHERE action IS NOT NULL").fetchone()[0]
    return f"now {counts}; last audited change #{last or 0}"
