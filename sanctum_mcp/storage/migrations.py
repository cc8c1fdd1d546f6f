"""Schema versions tracked by PRAGMA user_version.

`schema.sql` (top of the repository, shipped inside the package) is always the whole CURRENT
schema: a new database gets it in one go. An older database is brought forward by the steps in
MIGRATIONS, each taking version N-1 to N. Either way it is one transaction: a failure leaves the
file exactly as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path


class SchemaTooNew(Exception):
    """The database was written by a newer sanctum-mcp than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _v2(conn: sqlite3.Connection) -> None:
    """Version 2: what schema.sql and seeds.sql gained after version 1, so that a migrated database
    equals a new one. Indexes: logs(source, created_at) (query_logs by source, newest first) and
    configurations(key) (configuration). Seeds: the settings the scheduler applies (log retention,
    automatic backups), version-1 config_history of seeded settings, ollama_base_url's URI check."""
    conn.execute("CREATE INDEX IF NOT EXISTS idx_logs_source_created_at ON logs(source, created_at)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_configurations_key ON configurations(key)")
    conn.execute(
        "UPDATE system_config SET constraint_json = '{\"type\":\"string\",\"format\":\"uri\"}' "
        "WHERE config_key = 'ollama_base_url' AND constraint_json IS NULL"
    )
    for statement in split_statements(_section(seeds_text(), "v2")):
        conn.execute(statement)


OLD_LOG_RETENTION_TEXT = "Days the logs table (audit trail and events) keeps a row; 0 keeps everything"
NEW_LOG_RETENTION_TEXT = (
    "Days the logs table keeps a row; rows naming a user (the audit trail) stay at least 90 days; 0 keeps everything"
)


def _v3(conn: sqlite3.Connection) -> None:
    """Version 3: the audit trail's retention floor and the backup quota. Index logs(created_at) for
    rows naming no user (what retention deletes early); log_retention_days' description says the
    floor (where it is still the seeded text); seeds: backup_max_count, backup_max_bytes."""
    conn.execute(
        "CREATE INDEX IF NOT EXISTS idx_logs_unattributed ON logs(created_at) WHERE user_id IS NULL"
    )
    conn.execute(
        "UPDATE system_config SET description = ? WHERE config_key = 'log_retention_days' AND description = ?",
        (NEW_LOG_RETENTION_TEXT, OLD_LOG_RETENTION_TEXT),
    )
    for statement in split_statements(_section(seeds_text(), "v3")):
        conn.execute(statement)


def _v4(conn: sqlite3.Connection) -> None:
    """Version 4: logs_fts, the trigram index of logs.message and logs.action behind
    query_logs(text=...), with its triggers (the `-- [v4]` part of schema.sql), filled from the rows
    already there ('rebuild' reads every row once: about 6 s per million rows here)."""
    for statement in split_statements(_marked(schema_text(), "v4")):
        conn.execute(statement)
    conn.execute("INSERT INTO logs_fts (logs_fts) VALUES ('rebuild')")


def _v5(conn: sqlite3.Connection) -> None:
    """Version 5 belongs to the environments branch (per-environment config values); this branch
    (change-feed) numbers its own step 6 and holds 5 empty until both are merged and renumbered."""


def _v6(conn: sqlite3.Connection) -> None:
    """Version 6: `changes`, the change feed's table (the `-- [v6]` part of schema.sql). It starts
    empty: revisions count from the first change made after the upgrade."""
    for statement in split_statements(_marked(schema_text(), "v6")):
        conn.execute(statement)


def _marked(script: str, name: str) -> str:
    """The part of schema.sql between `-- [name]` and `-- [/name]`."""
    start = script.index(f"-- [{name}]")
    return script[start:script.index(f"-- [/{name}]", start)]


def _section(script: str, name: str) -> str:
    """The part of seeds.sql between `-- [name]` and the next `-- [` marker."""
    start = script.index(f"-- [{name}]")
    end = script.find("-- [", start + 1)
    return script[start:] if end < 0 else script[start:end]


# Steps from older schema versions. Append here when schema.sql changes, and bump
# SCHEMA_VERSION; schema.sql itself must equal the result of every step applied in order.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "logs(source, created_at) and configurations(key) indexes; scheduler settings; seed history", _v2),
    Migration(3, "audit retention floor (logs index for rows naming no user); backup quota settings", _v3),
    Migration(4, "logs_fts: trigram text index of logs.message and logs.action, with its triggers", _v4),
    Migration(5, "(held for the environments branch)", _v5),
    Migration(6, "changes: the change feed (one revision per committed change)", _v6),
)
SCHEMA_VERSION = 6


@cache
def schema_text() -> str:
    """The text of schema.sql, from the installed package or, in a checkout, the repo root."""
    packaged = resources.files("sanctum_mcp.storage").joinpath("schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "schema.sql"
    return checkout.read_text(encoding="utf-8")


@cache
def seeds_text() -> str:
    return resources.files("sanctum_mcp.storage").joinpath("seeds.sql").read_text(encoding="utf-8")


def split_statements(script: str) -> list[str]:
    """Split a script into statements with SQLite's own parser (triggers keep their BEGIN..END).

    executescript() would COMMIT first, breaking the one-transaction guarantee, so statements
    are run one by one inside the migration's transaction instead.
    """
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement.rstrip(";").strip() and not _only_comments(statement):
                statements.append(statement)
            pending = ""
    if pending.strip() and not _only_comments(pending):
        raise ValueError(f"incomplete SQL statement at the end of the script: {pending.strip()[:80]!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def run_script(conn: sqlite3.Connection, script: str) -> None:
    for statement in split_statements(script):
        conn.execute(statement)


def user_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(
    conn: sqlite3.Connection,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    target: int = SCHEMA_VERSION,
    location: str = "the database",
) -> tuple[int, int]:
    """Bring the database to `target`; returns (version before, version after).

    Must be called outside a transaction. Seeds the defaults on a brand-new database.
    """
    current = user_version(conn)
    if current > target:
        raise SchemaTooNew(
            f"{location} has schema version {current}, but this sanctum-mcp only knows versions up to "
            f"{target}. Upgrade sanctum-mcp, or point --db at another database."
        )
    if current == target:
        return current, current
    steps = {m.version: m for m in migrations}
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        current = user_version(conn)
        if current == 0:
            run_script(conn, schema_text())
            run_script(conn, seeds_text())
        else:
            for version in range(current + 1, target + 1):
                if version not in steps:
                    raise RuntimeError(f"no migration step to schema version {version}")
                steps[version].apply(conn)
        # PRAGMA takes no parameters; target is an int from code, never input.
        conn.execute(f"PRAGMA user_version = {int(target)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return current, target
