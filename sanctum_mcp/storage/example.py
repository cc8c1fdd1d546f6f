"""What a registry holds, or has held, of the things `init --example` creates. No rules here."""

from __future__ import annotations

import sqlite3

# The tables the example writes to, with the word for one row.
TABLES = {"agents": "agent", "tools": "tool", "tool_instances": "tool instance",
          "scheduled_jobs": "scheduled job", "plugins": "plugin"}


def held(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """table -> (rows now, highest id ever given). Ids are never reused (AUTOINCREMENT), so a table
    emptied again still gives the next row a later id than an empty registry would."""
    issued = dict(conn.execute(
        f"SELECT name, seq FROM sqlite_sequence WHERE name IN ({', '.join('?' * len(TABLES))})", tuple(TABLES)
    ).fetchall())
    # The table names come from TABLES above, never from a caller.
    return {table: (conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0], issued.get(table, 0))
            for table in TABLES}
