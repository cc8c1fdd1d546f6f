"""Small SQL builders shared by the storage modules: quoted identifiers, column-filtered INSERT/UPDATE.

Column names come from each module's fixed tuple of known columns, never from input; they are
quoted anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def insert_row(conn: sqlite3.Connection, table: str, known: Iterable[str], values: dict[str, Any]) -> int:
    columns = [c for c in known if c in values]
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    return conn.execute(sql, [values[c] for c in columns]).lastrowid


def update_row(conn: sqlite3.Connection, table: str, known: Iterable[str], row_id: int, values: dict[str, Any]) -> None:
    columns = [c for c in known if c in values]
    if not columns:
        return
    assignments = ", ".join(f"{quote(c)} = ?" for c in columns)
    conn.execute(f"UPDATE {quote(table)} SET {assignments} WHERE id = ?", [*(values[c] for c in columns), row_id])
