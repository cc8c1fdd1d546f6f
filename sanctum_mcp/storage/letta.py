"""SQL for letta_server_config, and the agent lookups the Letta sync needs. No rules here."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage.sqlutil import insert_row, update_row

COLUMNS = ("server_address", "server_port", "server_scheme", "server_password", "server_token",
           "connection_timeout", "is_active", "last_connected")


def all_servers(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM letta_server_config ORDER BY id").fetchall()


def get(conn: sqlite3.Connection, server_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM letta_server_config WHERE id = ?", (server_id,)).fetchone()


def active(conn: sqlite3.Connection) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM letta_server_config WHERE is_active = 1").fetchone()


def find_endpoint(conn: sqlite3.Connection, scheme: str, address: str, port: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM letta_server_config WHERE server_scheme = ? AND lower(server_address) = lower(?) "
        "AND server_port = ?",
        (scheme, address, port),
    ).fetchone()


def insert(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    return insert_row(conn, "letta_server_config", COLUMNS, values)


def update(conn: sqlite3.Connection, server_id: int, values: dict[str, Any]) -> None:
    update_row(conn, "letta_server_config", COLUMNS, server_id, values)


def delete(conn: sqlite3.Connection, server_id: int) -> None:
    conn.execute("DELETE FROM letta_server_config WHERE id = ?", (server_id,))


def activate(conn: sqlite3.Connection, server_id: int) -> None:
    # Two statements: the partial unique index allows at most one active row at every step.
    conn.execute("UPDATE letta_server_config SET is_active = 0 WHERE is_active = 1 AND id <> ?", (server_id,))
    conn.execute("UPDATE letta_server_config SET is_active = 1 WHERE id = ? AND is_active = 0", (server_id,))


def set_last_connected(conn: sqlite3.Connection, server_id: int, now: str) -> None:
    conn.execute("UPDATE letta_server_config SET last_connected = ? WHERE id = ?", (now, server_id))


# --- agents, for the sync -----------------------------------------------------------------------


def agents_for_sync(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT id, name, letta_id FROM agents ORDER BY id").fetchall()
