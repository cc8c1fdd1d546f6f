"""Restoring a full backup: the checked copy is migrated, gets what is carried over from the live
database (the backups catalogue, users and tokens, newer log rows) and the restore's audit row, and
is then copied into the live connection in one step."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sanctum_mcp.domain.backups.models import Backup
from sanctum_mcp.domain.feed import record as feed
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import Conflict
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.storage import backups as sql

# Carried over from the current database by a restore instead of being rolled back: the backups
# catalogue (every file stays listed) and access control (a restore must never re-enable a revoked
# token or a deactivated user, nor lock out tokens made since the backup). Children before parents.
CARRIED_TABLES = ("backups", "api_tokens", "users")


def restore_into_live(live: sqlite3.Connection, work: Path, caller: Caller, backup: Backup, safety: Backup,
                      folder: Path) -> int:
    """Carry the catalogue, access control and newer log rows into the checked copy `work`, add the
    audit row, then copy it into the live connection in one step. Returns the log rows carried."""
    from sanctum_mcp.storage.migrations import SCHEMA_VERSION, SchemaTooNew, migrate

    source = sqlite3.connect(work, isolation_level=None)
    source.row_factory = sqlite3.Row
    try:
        check = source.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise Conflict(f"backup {backup.id} fails SQLite's integrity check ({check}); nothing was restored.")
        try:
            migrate(source, location=f"backup {backup.id}")
        except SchemaTooNew:
            raise Conflict(
                f"backup {backup.id} was written by a newer sanctum-mcp (schema above {SCHEMA_VERSION}); "
                "upgrade sanctum-mcp to restore it. Nothing was restored."
            ) from None
        # Off while whole tables are swapped (deleting users would SET NULL every log row's user);
        # the result is checked with foreign_key_check before anything reaches the live database.
        source.execute("PRAGMA foreign_keys = OFF")
        source.execute("BEGIN IMMEDIATE")
        try:
            newest_in_backup = sql.max_id(source, "logs")
            newer_logs = live.execute("SELECT * FROM logs WHERE id > ? ORDER BY id", (newest_in_backup,)).fetchall()
            for table in CARRIED_TABLES:  # children first when deleting, parents first when inserting
                source.execute(f'DELETE FROM "{table}"')
            for table in reversed(CARRIED_TABLES):
                sql.insert_rows(source, table, sql.all_rows(live, table))
            users = sql.existing_user_ids(source)
            carried = [
                {**dict(r), "user_id": r["user_id"] if r["user_id"] in users else None} for r in newer_logs
            ]
            sql.insert_rows(source, "logs", carried)
            source.execute("UPDATE logs SET user_id = NULL WHERE user_id IS NOT NULL "
                           "AND user_id NOT IN (SELECT id FROM users)")
            broken = source.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                tables = sorted({row[0] for row in broken})
                raise Conflict(
                    f"backup {backup.id} cannot be restored without breaking references in {', '.join(tables)} "
                    "(rows pointing at rows that would not exist); nothing was restored."
                )
            # The change feed goes on from the live database's, as the log does.
            feed.carry_over(source, live)
            restored = sql.get_by_id(source, backup.id)
            audit.record(source, caller, action="backup.restore", source="backup", source_id=backup.id,
                         message=(f"registry restored from backup {backup.name!r} (taken {backup.created_at}); "
                                  f"safety backup {safety.id} ({safety.name!r}) holds the state before"),
                         after=Backup.from_row(restored, folder) if restored else backup,
                         extra={"safety_backup_id": safety.id, "kept_log_rows": len(carried)})
            source.execute("COMMIT")
        except BaseException:
            source.execute("ROLLBACK")
            raise
        # One step (pages=-1): the live database goes from the old content to the new in one write.
        source.backup(live, pages=-1)
    finally:
        source.close()
    mode = live.execute("PRAGMA journal_mode").fetchone()[0]
    if mode.lower() != "wal":
        live.execute("PRAGMA journal_mode = WAL")
    return len(carried)
