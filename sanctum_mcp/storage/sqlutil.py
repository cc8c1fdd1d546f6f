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


def page_by_name(
    conn: sqlite3.Connection,
    table: str,
    *,
    equals: dict[str, Any],
    after: tuple[str, int] | None,
    limit: int,
    name_column: str = "name",
) -> list[sqlite3.Row]:
    """One keyset page of `table` ordered by (name, id), strictly after `after`.

    `equals` maps known column names to values; None means "no filter", booleans are stored 0/1.
    """
    where, params = [], []
    for column, value in equals.items():
        if value is not None:
            where.append(f"{quote(column)} = ?")
            params.append(int(value) if isinstance(value, bool) else value)
    name = quote(name_column)
    if after is not None:
        where.append(f"({name} > ? OR ({name} = ? AND id > ?))")
        params.extend([after[0], after[0], after[1]])
    sql = f"SELECT * FROM {quote(table)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {name}, id LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def like_escaped(text: str) -> str:
    """`text` with LIKE's wildcards and its escape character made literal (use with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
