"""How each kind of backup file is written: a full copy through SQLite's online backup API, in
steps with progress; the configuration tables as JSON; the history and audit rows since the previous
backup as JSON. Secrets stay ciphertext; a plaintext secret is left out, never written."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from sanctum_mcp.domain.backups.files import write_json
from sanctum_mcp.domain.backups.models import BackupFailed, ProgressFn
from sanctum_mcp.storage import backups as sql
from sanctum_mcp.storage import logs as log_sql
from sanctum_mcp.storage.secrets import PREFIX as SECRET_PREFIX
from sanctum_mcp.storage.secrets import SECRET_CELLS

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database

FORMAT = "sanctum-mcp-backup"

# The configuration of the registry (users, api_tokens, logs and backups are not configuration).
CONFIG_TABLES = (
    "system_config",
    "configurations",
    "environment_config",
    "config_history",
    "letta_server_config",
    "agents",
    "tools",
    "tool_instances",
    "plugins",
    "plugin_links",
    "plugin_dependencies",
    "scheduled_jobs",
)


async def full_copy(db: Database, target: Path, progress: ProgressFn | None) -> None:
    """SQLite's online backup API from the live connection, on its own thread, in steps."""
    report = thread_reporter(progress)

    def copy(conn: sqlite3.Connection) -> None:
        total = conn.execute("PRAGMA page_count").fetchone()[0]
        step = max(64, total // 20)
        dest = sqlite3.connect(target, isolation_level=None)
        try:
            conn.backup(dest, pages=step, sleep=0,
                        progress=lambda _status, remaining, count: report(count - remaining, count, "copying pages"))
            # A self-contained file: no -wal/-shm beside it when it is opened later.
            dest.execute("PRAGMA journal_mode = DELETE")
            result = dest.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise BackupFailed(f"the copy failed SQLite's check: {result}")
        finally:
            dest.close()
        os.chmod(target, 0o600)
        with open(target, "rb+") as handle:
            os.fsync(handle.fileno())

    await db.run(copy)


async def export_config(db: Database, target: Path, name: str, created_at: str, progress: ProgressFn | None) -> None:
    def read(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
        return {table: [dict(r) for r in sql.all_rows(conn, table)] for table in CONFIG_TABLES}

    tables = await db.read(read)
    omitted = drop_plaintext_secrets(tables)
    if progress is not None:
        await progress(len(tables), len(tables) + 1, "writing the JSON file")
    document = backup_document("config_only", name, created_at, tables,
                               secrets=("Secret values are kept as their fernet: ciphertext; reading them needs the "
                                        "key file beside the database (registry.db.key)."),
                               omitted_plaintext_secrets=omitted)
    await anyio.to_thread.run_sync(write_json, target, document)


async def export_incremental(db: Database, target: Path, name: str, since: str | None, until: str,
                             progress: ProgressFn | None) -> None:
    def read(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
        return {table: [dict(r) for r in log_sql.rows_between(conn, table, since, until)]
                for table in ("config_history", "logs")}

    tables = await db.read(read)
    omitted = drop_plaintext_secrets(tables)
    if progress is not None:
        await progress(1, 2, "writing the JSON file")
    document = backup_document("incremental", name, until, tables, since=since, until=until,
                               secrets="Sensitive config_history values are kept as their fernet: ciphertext.",
                               omitted_plaintext_secrets=omitted)
    await anyio.to_thread.run_sync(write_json, target, document)


def backup_document(kind: str, name: str, created_at: str, tables: dict[str, Any], **extra: Any) -> dict[str, Any]:
    from sanctum_mcp import __version__
    from sanctum_mcp.storage.migrations import SCHEMA_VERSION

    return {
        "format": FORMAT, "type": kind, "name": name, "created_at": created_at,
        "sanctum_mcp_version": __version__, "schema_version": SCHEMA_VERSION,
        **extra,
        "row_counts": {table: len(rows) for table, rows in tables.items()},
        "tables": tables,
    }


def drop_plaintext_secrets(tables: dict[str, list[dict[str, Any]]]) -> int:
    """Sensitive values must be fernet: ciphertext; any plaintext one is left out of the export.

    The cells are storage/secrets.py:SECRET_CELLS. An embedded cell (JSON whose secrets are tokens
    inside it, tool instance configs) is encrypted where it is written and exported as stored.
    """
    omitted = 0
    for cell in SECRET_CELLS:
        if cell.embedded:
            continue
        for row in tables.get(cell.table, []):
            value = row.get(cell.column)
            if value and (cell.flag is None or row.get(cell.flag)) and not str(value).startswith(SECRET_PREFIX):
                row[cell.column] = None
                omitted += 1
    return omitted


def thread_reporter(progress: ProgressFn | None):
    """A progress function callable from the database thread: it hops to the event loop and back."""
    if progress is None:
        return lambda done, total, message: None
    from anyio.from_thread import run as run_on_loop
    from anyio.lowlevel import current_token

    token = current_token()

    def report(done: float, total: float, message: str) -> None:
        try:
            run_on_loop(progress, done, total, message, token=token)
        except Exception:
            pass  # progress is best-effort; the backup goes on

    return report
