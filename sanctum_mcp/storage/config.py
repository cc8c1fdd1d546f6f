"""SQL for system_config, configurations, environment_config and config_history. Plain functions;
no rules here.

The setting tables are read through the same column names (scope, target, key, value, type,
is_sensitive, category, description, version, created_at, updated_at, default_value,
constraint_json, environment): system_config rows appear with scope 'system' and target '', and
the general rows (system_config, configurations) with environment NULL. In config_history the
general value's environment is ''.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

SCOPED = ("agent", "tool", "instance", "user")
ENVIRONMENTS = ("development", "staging", "production")
ENVIRONMENT_KEY = "environment"

_SYSTEM_COLUMNS = (
    "'system' AS scope, '' AS target, config_key AS key, config_value AS value, config_type AS type, "
    "is_sensitive, category, description, version, created_at, updated_at, default_value, constraint_json, "
    "NULL AS environment"
)
_SCOPED_COLUMNS = (
    "scope, target, key, value, type, is_sensitive, category, description, version, created_at, updated_at, "
    "NULL AS default_value, NULL AS constraint_json, NULL AS environment"
)
_SCOPED_COLUMNS_C = (
    "c.scope, c.target, c.key, c.value, c.type, c.is_sensitive, c.category, c.description, c.version, "
    "c.created_at, c.updated_at, NULL AS default_value, NULL AS constraint_json, NULL AS environment"
)
_ENV_COLUMNS = (
    "scope, target, key, value, type, is_sensitive, category, description, version, created_at, updated_at, "
    "NULL AS default_value, NULL AS constraint_json, environment"
)
_ENV_COLUMNS_C = (
    "c.scope, c.target, c.key, c.value, c.type, c.is_sensitive, c.category, c.description, c.version, "
    "c.created_at, c.updated_at, NULL AS default_value, NULL AS constraint_json, c.environment"
)
# The display name of the object a scoped row belongs to (targets hold ids as text).
_TARGET_NAME = (
    "CASE c.scope "
    "WHEN 'agent' THEN (SELECT name FROM agents WHERE id = CAST(c.target AS INTEGER)) "
    "WHEN 'tool' THEN (SELECT name FROM tools WHERE id = CAST(c.target AS INTEGER)) "
    "WHEN 'instance' THEN (SELECT name FROM tool_instances WHERE id = CAST(c.target AS INTEGER)) "
    "WHEN 'user' THEN (SELECT username FROM users WHERE id = CAST(c.target AS INTEGER)) ELSE '' END"
)


# --- the objects a scope points at ----------------------------------------------------------


def _row_id(ref: str) -> int | None:
    """The id `ref` names: ASCII digits within SQLite's integers ('¹' and '٣' are digits to Python's
    str.isdigit and int, not ids; a larger number cannot be bound). None otherwise."""
    if not (ref.isascii() and ref.isdigit()):
        return None
    value = int(ref)
    return value if value <= 2**63 - 1 else None


def find_agent(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    row = conn.execute("SELECT id, name FROM agents WHERE name = ?", (ref,)).fetchone()
    if row is None and (row_id := _row_id(ref)) is not None:
        row = conn.execute("SELECT id, name FROM agents WHERE id = ?", (row_id,)).fetchone()
    return row


def find_tool(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    row = conn.execute("SELECT id, name FROM tools WHERE name = ?", (ref,)).fetchone()
    if row is None and (row_id := _row_id(ref)) is not None:
        row = conn.execute("SELECT id, name FROM tools WHERE id = ?", (row_id,)).fetchone()
    return row


def find_instance(conn: sqlite3.Connection, instance_id: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT i.id, i.name, i.tool_id, i.agent_id, t.name AS tool_name, a.name AS agent_name "
        "FROM tool_instances i JOIN tools t ON t.id = i.tool_id LEFT JOIN agents a ON a.id = i.agent_id "
        "WHERE i.id = ?",
        (instance_id,),
    ).fetchone()


def find_user(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    row = conn.execute("SELECT id, username AS name FROM users WHERE username = ?", (ref,)).fetchone()
    if row is None and (row_id := _row_id(ref)) is not None:
        row = conn.execute("SELECT id, username AS name FROM users WHERE id = ?", (row_id,)).fetchone()
    return row


# --- one setting ------------------------------------------------------------------------------


def active_environment(conn: sqlite3.Connection) -> str:
    """The environment Sanctum runs as (system_config 'environment'); development when unreadable."""
    row = conn.execute("SELECT config_value FROM system_config WHERE config_key = ?", (ENVIRONMENT_KEY,)).fetchone()
    return row[0] if row is not None and row[0] in ENVIRONMENTS else ENVIRONMENTS[0]


def system_value(conn: sqlite3.Connection, key: str) -> str | None:
    """The system-level value of `key` in the active environment: its own value there, else the
    general one (None when neither exists). For the registry's own readers of system settings."""
    return conn.execute(
        "SELECT coalesce((SELECT value FROM environment_config WHERE scope = 'system' AND target = '' AND key = ? "
        "AND environment = (SELECT config_value FROM system_config WHERE config_key = ?)), "
        "(SELECT config_value FROM system_config WHERE config_key = ?))",
        (key, ENVIRONMENT_KEY, key),
    ).fetchone()[0]


def get_row(
    conn: sqlite3.Connection, scope: str, target: str, key: str, environment: str | None = None
) -> sqlite3.Row | None:
    """The general row of (scope, target, key), or with `environment` that environment's row."""
    if environment is not None:
        return conn.execute(
            f"SELECT {_ENV_COLUMNS} FROM environment_config WHERE scope = ? AND target = ? AND key = ? "
            "AND environment = ?",
            (scope, target, key, environment),
        ).fetchone()
    if scope == "system":
        return conn.execute(f"SELECT {_SYSTEM_COLUMNS} FROM system_config WHERE config_key = ?", (key,)).fetchone()
    return conn.execute(
        f"SELECT {_SCOPED_COLUMNS} FROM configurations WHERE scope = ? AND target = ? AND key = ?",
        (scope, target, key),
    ).fetchone()


_ENV_BRANCH = (
    "SELECT {rank} AS rank, " + _ENV_COLUMNS
    + " FROM environment_config WHERE scope = ? AND target = ? AND key = ? AND environment = ?"
)


@cache
def _chain_sql(levels: int) -> str:
    parts = []
    for level in range(levels):
        parts.append(_ENV_BRANCH.format(rank=2 * level))
        parts.append(f"SELECT {2 * level + 1} AS rank, {_SCOPED_COLUMNS} FROM configurations "
                     "WHERE scope = ? AND target = ? AND key = ?")
    parts.append(_ENV_BRANCH.format(rank=2 * levels))
    parts.append(f"SELECT {2 * levels + 1} AS rank, {_SYSTEM_COLUMNS} FROM system_config WHERE config_key = ?")
    return " UNION ALL ".join(parts) + " ORDER BY rank"


def resolve_chain(
    conn: sqlite3.Connection, key: str, levels: Sequence[tuple[str, str]], environment: str
) -> list[sqlite3.Row]:
    """Every row that sets `key` along a resolution chain, highest priority first, in ONE query.

    `levels` are (scope, target) pairs, highest priority first; the system level comes last. At
    each level the row for `environment` comes before the general row: the scope order is primary.
    Each branch is a point lookup on a unique index, so the cost does not grow with the table.
    """
    params: list[Any] = []
    for scope, target in levels:
        params += [scope, target, key, environment, scope, target, key]
    params += ["system", "", key, environment, key]
    return conn.execute(_chain_sql(len(levels)), params).fetchall()


def key_definitions(conn: sqlite3.Connection, key: str) -> list[sqlite3.Row]:
    """How `key` is defined anywhere: one row per (scope table, type) with counts and sensitivity."""
    return conn.execute(
        "SELECT 'system' AS scope, config_type AS type, is_sensitive AS sensitive, 1 AS n, category, description, "
        "constraint_json FROM system_config WHERE config_key = ? "
        "UNION ALL "
        "SELECT min(scope), type, max(is_sensitive), count(*), max(category), max(description), NULL "
        "FROM configurations WHERE key = ? GROUP BY type "
        "UNION ALL "
        "SELECT min(scope), type, max(is_sensitive), count(*), max(category), max(description), NULL "
        "FROM environment_config WHERE key = ? GROUP BY type",
        (key, key, key),
    ).fetchall()


def all_keys(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT config_key FROM system_config UNION SELECT key FROM configurations "
        "UNION SELECT key FROM environment_config")]


def existing_keys_among(conn: sqlite3.Connection, candidates: list[str], agent_ids: list[int] | None) -> list[str]:
    """Which of `candidates` are set somewhere a caller may see: system, tool and user scope, and agent and
    instance scope of the agents `agent_ids` (None: every agent; host-wide instances always). One
    index lookup per candidate, whatever the number of keys: the candidates are bound parameters
    (an IN list SQLite probes the key indexes with; json_each would let it scan the tables instead)."""
    found: set[str] = set()
    agents = None if agent_ids is None else json.dumps(agent_ids)
    for start in range(0, len(candidates), _IN_CHUNK):
        chunk = candidates[start:start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(f"SELECT config_key FROM system_config WHERE config_key IN ({marks})", chunk))
        found.update(r[0] for r in conn.execute(
            f"SELECT key FROM configurations WHERE key IN ({marks}) AND (? IS NULL OR scope IN ('tool', 'user') "
            "OR (scope = 'agent' AND target IN (SELECT CAST(value AS TEXT) FROM json_each(?))) "
            "OR (scope = 'instance' AND target IN (SELECT CAST(id AS TEXT) FROM tool_instances WHERE agent_id IS NULL "
            "OR agent_id IN (SELECT value FROM json_each(?)))))", [*chunk, agents, agents, agents]))
    return sorted(found)


# Bound parameters per statement: under SQLite's default limit (32766 since 3.32).
_IN_CHUNK = 10_000


def where_key_is_set(conn: sqlite3.Connection, key: str, limit: int = 10) -> list[sqlite3.Row]:
    """Where `key` is stored below the system level, and for which environment (NULL: general)."""
    return conn.execute(
        f"SELECT * FROM (SELECT c.scope, c.target, {_TARGET_NAME} AS target_name, NULL AS environment "
        "FROM configurations c WHERE c.key = ? "
        f"UNION ALL SELECT c.scope, c.target, {_TARGET_NAME}, c.environment FROM environment_config c "
        "WHERE c.key = ?) ORDER BY scope, target, environment LIMIT ?",
        (key, key, limit),
    ).fetchall()


def insert_system(conn: sqlite3.Connection, key: str, values: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO system_config (config_key, config_value, config_type, description, is_sensitive, category, version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key, values["value"], values["type"], values["description"], values["is_sensitive"], values["category"],
         values["version"]),
    )


def update_system(conn: sqlite3.Connection, key: str, values: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE system_config SET config_value = ?, config_type = ?, description = ?, is_sensitive = ?, "
        "category = ?, version = ? WHERE config_key = ?",
        (values["value"], values["type"], values["description"], values["is_sensitive"], values["category"],
         values["version"], key),
    )


def insert_scoped(conn: sqlite3.Connection, scope: str, target: str, key: str, values: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO configurations (scope, target, key, value, type, is_sensitive, category, description, version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (scope, target, key, values["value"], values["type"], values["is_sensitive"], values["category"],
         values["description"], values["version"]),
    )


def update_scoped(conn: sqlite3.Connection, scope: str, target: str, key: str, values: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE configurations SET value = ?, type = ?, is_sensitive = ?, category = ?, description = ?, version = ? "
        "WHERE scope = ? AND target = ? AND key = ?",
        (values["value"], values["type"], values["is_sensitive"], values["category"], values["description"],
         values["version"], scope, target, key),
    )


def insert_env(conn: sqlite3.Connection, scope: str, target: str, key: str, environment: str,
               values: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO environment_config (environment, scope, target, key, value, type, is_sensitive, category, "
        "description, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (environment, scope, target, key, values["value"], values["type"], values["is_sensitive"], values["category"],
         values["description"], values["version"]),
    )


def update_env(conn: sqlite3.Connection, scope: str, target: str, key: str, environment: str,
               values: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE environment_config SET value = ?, type = ?, is_sensitive = ?, category = ?, description = ?, "
        "version = ? WHERE scope = ? AND target = ? AND key = ? AND environment = ?",
        (values["value"], values["type"], values["is_sensitive"], values["category"], values["description"],
         values["version"], scope, target, key, environment),
    )


def delete_row(conn: sqlite3.Connection, scope: str, target: str, key: str, environment: str | None = None) -> None:
    if environment is not None:
        conn.execute("DELETE FROM environment_config WHERE scope = ? AND target = ? AND key = ? AND environment = ?",
                     (scope, target, key, environment))
    elif scope == "system":
        conn.execute("DELETE FROM system_config WHERE config_key = ?", (key,))
    else:
        conn.execute("DELETE FROM configurations WHERE scope = ? AND target = ? AND key = ?", (scope, target, key))


# --- making every stored value of a key secret ----------------------------------------------


def plain_values_of_key(conn: sqlite3.Connection, key: str) -> list[tuple[str, int, str | None]]:
    """(table, rowid, value) of every not-yet-sensitive value of `key`, current and historical."""
    cells: list[tuple[str, int, str | None]] = []
    for table, column, flag, key_column in (
        ("system_config", "config_value", "is_sensitive", "config_key"),
        ("configurations", "value", "is_sensitive", "key"),
        ("environment_config", "value", "is_sensitive", "key"),
        ("config_history", "value", "sensitive", "key"),
    ):
        for row in conn.execute(
            f'SELECT id, "{column}" FROM "{table}" WHERE "{key_column}" = ? AND "{flag}" = 0', (key,)
        ):
            cells.append((table, row[0], row[1]))
    return cells


def make_cell_sensitive(conn: sqlite3.Connection, table: str, rowid: int, value: str | None) -> None:
    column, flag = {
        "system_config": ("config_value", "is_sensitive"),
        "configurations": ("value", "is_sensitive"),
        "environment_config": ("value", "is_sensitive"),
        "config_history": ("value", "sensitive"),
    }[table]
    conn.execute(f'UPDATE "{table}" SET "{column}" = ?, "{flag}" = 1 WHERE id = ?', (value, rowid))


# --- history ------------------------------------------------------------------------------------


def add_history(
    conn: sqlite3.Connection,
    *,
    scope: str,
    target: str,
    key: str,
    version: int,
    value: str | None,
    value_type: str,
    sensitive: bool,
    changed_by: str,
    change: str,
    environment: str = "",
) -> None:
    conn.execute(
        "INSERT INTO config_history (scope, target, key, version, value, value_type, sensitive, changed_by, change, "
        "environment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (scope, target, key, version, value, value_type, int(sensitive), changed_by, change, environment),
    )


# The history functions below read one value's history: environment '' is the general value's.


def max_history_version(conn: sqlite3.Connection, scope: str, target: str, key: str, environment: str = "") -> int:
    row = conn.execute(
        "SELECT max(version) FROM config_history WHERE scope = ? AND target = ? AND key = ? AND environment = ?",
        (scope, target, key, environment),
    ).fetchone()
    return row[0] or 0


def history_version(
    conn: sqlite3.Connection, scope: str, target: str, key: str, version: int, environment: str = ""
) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM config_history WHERE scope = ? AND target = ? AND key = ? AND environment = ? AND version = ? "
        "ORDER BY id DESC LIMIT 1",
        (scope, target, key, environment, version),
    ).fetchone()


def history_versions(
    conn: sqlite3.Connection, scope: str, target: str, key: str, environment: str = "", limit: int = 20
) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT version FROM config_history WHERE scope = ? AND target = ? AND key = ? AND environment = ? "
            "AND change <> 'delete' ORDER BY version DESC LIMIT ?",
            (scope, target, key, environment, limit),
        )
    ]


def history_page(
    conn: sqlite3.Connection, scope: str, target: str, key: str, *, before: int | None, limit: int,
    environment: str = "",
) -> list[sqlite3.Row]:
    """History newest first, strictly older than version `before`."""
    sql = "SELECT * FROM config_history WHERE scope = ? AND target = ? AND key = ? AND environment = ?"
    params: list[Any] = [scope, target, key, environment]
    if before is not None:
        sql += " AND version < ?"
        params.append(before)
    sql += " ORDER BY version DESC, id DESC LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


# --- listing ----------------------------------------------------------------------------------


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    # Every key starting with prefix sorts in [prefix, prefix + U+10FFFF): an index range, and
    # no LIKE wildcards ('_' is common in keys).
    return prefix, prefix + "\U0010ffff"


def page_system(
    conn: sqlite3.Connection, *, category: str | None, prefix: str | None, after: str | None, limit: int
) -> list[sqlite3.Row]:
    where, params = [], []
    if category is not None:
        where.append("category = ?")
        params.append(category)
    if prefix:
        low, high = _prefix_bounds(prefix)
        where.append("config_key >= ? AND config_key < ?")
        params += [low, high]
    if after is not None:
        where.append("config_key > ?")
        params.append(after)
    sql = f"SELECT {_SYSTEM_COLUMNS}, '' AS target_name FROM system_config"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY config_key LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def page_scoped(
    conn: sqlite3.Connection,
    *,
    scope: str | None,
    target: str | None,
    category: str | None,
    prefix: str | None,
    after: tuple[str, str, str] | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Scoped settings in (scope, target, key) order, the order of the unique index."""
    return _page(conn, "configurations", _SCOPED_COLUMNS_C, ("scope", "target", "key"),
                 scope=scope, target=target, category=category, prefix=prefix, after=after, limit=limit)


def page_env(
    conn: sqlite3.Connection,
    *,
    scope: str | None,
    target: str | None,
    category: str | None,
    prefix: str | None,
    after: tuple[str, str, str, str] | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Values for one environment in (scope, target, key, environment) order, the unique index's."""
    return _page(conn, "environment_config", _ENV_COLUMNS_C, ("scope", "target", "key", "environment"),
                 scope=scope, target=target, category=category, prefix=prefix, after=after, limit=limit)


def _page(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    order: tuple[str, ...],
    *,
    scope: str | None,
    target: str | None,
    category: str | None,
    prefix: str | None,
    after: tuple[str, ...] | None,
    limit: int,
) -> list[sqlite3.Row]:
    """One page of `table` (aliased c) in the order of its unique index `order`, filtered; `after` is
    the last row's `order` values (keyset paging)."""
    where, params = [], []
    for column, value in (("scope", scope), ("target", target), ("category", category)):
        if value is not None:
            where.append(f"c.{column} = ?")
            params.append(value)
    if prefix:
        low, high = _prefix_bounds(prefix)
        where.append("c.key >= ? AND c.key < ?")
        params += [low, high]
    ordered = ", ".join(f"c.{column}" for column in order)
    if after is not None:
        where.append(f"({ordered}) > ({', '.join('?' * len(order))})")
        params += list(after)
    sql = f"SELECT {columns}, {_TARGET_NAME} AS target_name FROM {table} c"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {ordered} LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def places(conn: sqlite3.Connection, environment: str) -> list[sqlite3.Row]:
    """Every general row and every row of `environment`, with the target's name, in (scope, target, key,
    environment NULLs first) order: what environments.values_in merges into one value per place."""
    return conn.execute(
        f"SELECT {_SYSTEM_COLUMNS}, '' AS target_name FROM system_config "
        f"UNION ALL SELECT {_SCOPED_COLUMNS_C}, {_TARGET_NAME} FROM configurations c "
        f"UNION ALL SELECT {_ENV_COLUMNS_C}, {_TARGET_NAME} FROM environment_config c WHERE c.environment = ? "
        "ORDER BY scope, target, key, environment",
        (environment,),
    ).fetchall()


def switch_places(conn: sqlite3.Connection, old: str, new: str) -> Iterator[sqlite3.Row]:
    """The rows that decide what changes between environments `old` and `new`: every value held for
    either, and the general row of each place that has one, in (scope, target, key, environment
    NULLs first) order. Only those places can change; streamed, not loaded whole."""
    held = "environment IN (?, ?)"
    return conn.execute(
        f"SELECT {_SYSTEM_COLUMNS}, '' AS target_name FROM system_config WHERE config_key IN "
        f"(SELECT key FROM environment_config WHERE scope = 'system' AND {held}) "
        f"UNION ALL SELECT {_SCOPED_COLUMNS_C}, {_TARGET_NAME} FROM configurations c WHERE EXISTS ("
        f"SELECT 1 FROM environment_config e WHERE e.scope = c.scope AND e.target = c.target AND e.key = c.key "
        f"AND e.{held}) "
        f"UNION ALL SELECT {_ENV_COLUMNS_C}, {_TARGET_NAME} FROM environment_config c WHERE c.{held} "
        "ORDER BY scope, target, key, environment",
        (old, new, old, new, old, new),
    )


def scope_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute("SELECT scope, count(*) FROM configurations GROUP BY scope")}


# --- removing an object's settings together with the object -------------------------------------


def delete_for_targets(
    conn: sqlite3.Connection, scope: str, targets: Sequence[str], *, changed_by: str
) -> list[sqlite3.Row]:
    """Delete every setting of the given objects, recording each deletion in config_history.

    Called by the services that delete agents, tools, instances and users, inside their own
    transaction. Returns the removed rows (scope, target, key, is_sensitive, ...).
    """
    removed: list[sqlite3.Row] = []
    for target in targets:
        rows = conn.execute(
            f"SELECT {_SCOPED_COLUMNS} FROM configurations WHERE scope = ? AND target = ? ORDER BY key",
            (scope, target),
        ).fetchall()
        rows += conn.execute(
            f"SELECT {_ENV_COLUMNS} FROM environment_config WHERE scope = ? AND target = ? ORDER BY key, environment",
            (scope, target),
        ).fetchall()
        for row in rows:
            env = row["environment"] or ""
            version = max(row["version"], max_history_version(conn, scope, target, row["key"], env)) + 1
            add_history(conn, scope=scope, target=target, key=row["key"], version=version, value=None,
                        value_type=row["type"], sensitive=bool(row["is_sensitive"]), changed_by=changed_by,
                        change="delete", environment=env)
        conn.execute("DELETE FROM configurations WHERE scope = ? AND target = ?", (scope, target))
        conn.execute("DELETE FROM environment_config WHERE scope = ? AND target = ?", (scope, target))
        removed += rows
    return removed
