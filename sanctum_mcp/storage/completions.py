"""SQL for argument completion: names and ids that start with a prefix, one bounded page in order.
No rules here: who may be offered what is decided in domain/completions.py.

Prefixes match with LIKE (case-insensitive for ASCII letters, as the NOCASE names compare), with
the wildcards escaped; every query stops at `limit` rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from sanctum_mcp.storage.sqlutil import like_escaped

_PREFIX = " LIKE ? ESCAPE '\\'"


def _pattern(prefix: str) -> str:
    return like_escaped(prefix) + "%"


def _marks(values: Collection[str]) -> str:
    return ", ".join("?" for _ in values)


def agent_names(conn: sqlite3.Connection, prefix: str, limit: int, *, only: Collection[str] | None = None) -> list[str]:
    """Agent names starting with prefix, by name; `only` (names, any ASCII case) narrows them."""
    sql, params = "SELECT name FROM agents WHERE name" + _PREFIX, [_pattern(prefix)]
    if only is not None:
        sql += f" AND name IN ({_marks(only)})"  # agents.name is NOCASE: the IN compares ignoring case
        params += list(only)
    return [r[0] for r in conn.execute(sql + " ORDER BY name LIMIT ?", [*params, limit])]


def tool_names(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM tools WHERE name" + _PREFIX + " ORDER BY name LIMIT ?", (_pattern(prefix), limit))]


def instance_ids(conn: sqlite3.Connection, prefix: str, limit: int, *,
                 agents: Collection[str] | None = None) -> list[str]:
    """Tool instance ids (as text) starting with prefix, by id; `agents` keeps the instances of those
    agents (names, any ASCII case) and the host-wide ones (no agent)."""
    sql = ("SELECT ti.id FROM tool_instances ti LEFT JOIN agents a ON a.id = ti.agent_id "
           "WHERE CAST(ti.id AS TEXT)" + _PREFIX)
    params: list[object] = [_pattern(prefix)]
    if agents is not None:
        sql += f" AND (ti.agent_id IS NULL OR a.name IN ({_marks(agents)}))"
        params += list(agents)
    return [str(r[0]) for r in conn.execute(sql + " ORDER BY ti.id LIMIT ?", [*params, limit])]


def usernames(conn: sqlite3.Connection, prefix: str, limit: int, *, only: str | None = None) -> list[str]:
    """Users' names starting with prefix, by name; `only` keeps that one user."""
    sql, params = "SELECT username FROM users WHERE username" + _PREFIX, [_pattern(prefix)]
    if only is not None:
        sql += " AND username = ?"
        params.append(only)
    return [r[0] for r in conn.execute(sql + " ORDER BY username LIMIT ?", [*params, limit])]
