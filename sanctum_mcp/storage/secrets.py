"""SQL for the cells that hold encrypted secrets (used by key rotation). No rules here."""

from __future__ import annotations

import sqlite3

# Every column that may hold a `fernet:` token, with the condition that marks the row as secret.
# An area that stores a new kind of secret adds its column here, so that rotate-key re-encrypts it.
SECRET_CELLS: tuple[tuple[str, str, str], ...] = (
    ("system_config", "config_value", "is_sensitive = 1"),
    ("configurations", "value", "is_sensitive = 1"),
    ("config_history", "value", "sensitive = 1"),
    ("letta_server_config", "server_password", "1 = 1"),
    ("letta_server_config", "server_token", "1 = 1"),
)
PREFIX = "fernet:"


def encrypted_cells(conn: sqlite3.Connection) -> list[tuple[str, str, int, str]]:
    """(table, column, rowid, token) of every stored secret, in a stable order."""
    cells: list[tuple[str, str, int, str]] = []
    for table, column, condition in SECRET_CELLS:
        rows = conn.execute(
            f'SELECT id, "{column}" FROM "{table}" WHERE {condition} AND substr("{column}", 1, ?) = ? ORDER BY id',
            (len(PREFIX), PREFIX),
        )
        cells += [(table, column, row[0], row[1]) for row in rows]
    return cells


def replace_cell(conn: sqlite3.Connection, table: str, column: str, rowid: int, value: str) -> None:
    conn.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE id = ?', (value, rowid))
