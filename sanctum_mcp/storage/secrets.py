"""Where secrets are stored: the ONE list of cells that may hold a `fernet:` token, and its SQL.

Read by key rotation (domain/keys.py re-encrypts every cell listed), by backups (a secret cell found
in plaintext is left out of an export), and by the tests (tests/test_secrets.py scans every table and
column of a database the canary filled and fails for a `fernet:` value outside this list). An area
that stores a new kind of secret adds its column here. No rules here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sanctum_mcp.storage.sqlutil import quote

PREFIX = "fernet:"


@dataclass(frozen=True)
class SecretCell:
    """A column that holds secrets.

    flag: the column whose value 1 marks the row's value as secret; None when every value is one.
    embedded: the column holds a JSON document and its secrets are `fernet:` strings anywhere inside
    it (tool instance configs: the tool's schema says which properties, but rotation needs no schema:
    it re-encrypts every token it finds).
    """

    table: str
    column: str
    flag: str | None = None
    embedded: bool = False

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


SECRET_CELLS: tuple[SecretCell, ...] = (
    SecretCell("system_config", "config_value", flag="is_sensitive"),
    SecretCell("configurations", "value", flag="is_sensitive"),
    SecretCell("environment_config", "value", flag="is_sensitive"),
    SecretCell("config_history", "value", flag="sensitive"),
    SecretCell("letta_server_config", "server_password"),
    SecretCell("letta_server_config", "server_token"),
    SecretCell("tool_instances", "config", embedded=True),
)


def encrypted_cells(conn: sqlite3.Connection) -> list[tuple[SecretCell, int, str]]:
    """(cell, rowid, stored text) of every listed cell that holds a token, in a stable order.

    A plain cell's text is the token itself; an embedded cell's text is its whole JSON document.
    """
    found: list[tuple[SecretCell, int, str]] = []
    for cell in SECRET_CELLS:
        column = quote(cell.column)
        if cell.embedded:
            condition = f"instr({column}, ?) > 0"
        else:
            flagged = f"{quote(cell.flag)} = 1 AND " if cell.flag else ""
            condition = f"{flagged}substr({column}, 1, {len(PREFIX)}) = ?"
        rows = conn.execute(f"SELECT id, {column} FROM {quote(cell.table)} WHERE {condition} ORDER BY id", (PREFIX,))
        found += [(cell, row[0], row[1]) for row in rows]
    return found


def replace_cell(conn: sqlite3.Connection, cell: SecretCell, rowid: int, value: str) -> None:
    conn.execute(f"UPDATE {quote(cell.table)} SET {quote(cell.column)} = ? WHERE id = ?", (value, rowid))
