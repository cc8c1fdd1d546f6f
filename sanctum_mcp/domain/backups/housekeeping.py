"""Backups the scheduler looks after: expired ones removed, interrupted ones marked Failed, and the
automatic backup of each backup_schedule occurrence (within the quota; a skipped one is noted once)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from sanctum_mcp.domain.backups.files import absolute, unlink
from sanctum_mcp.domain.backups.models import Backup, QuotaReached
from sanctum_mcp.domain.jobs import cron
from sanctum_mcp.domain.shared import governing
from sanctum_mcp.domain.shared.clock import iso
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput
from sanctum_mcp.domain.shared.identity import SCHEDULER
from sanctum_mcp.storage import backups as sql
from sanctum_mcp.storage import logs as log_sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.backups.service import BackupService
    from sanctum_mcp.storage.database import Database

SCHEDULE_KEY = governing.BACKUP_SCHEDULE
RETENTION_KEY = governing.BACKUP_RETENTION_DAYS

INTERRUPTED_AFTER = timedelta(hours=6)


class BackupHousekeeping:
    def __init__(self, db: Database, backups: BackupService) -> None:
        self.db = db
        self.backups = backups

    async def remove_expired(self, now: datetime) -> int:
        rows = await self.db.read(sql.expired, iso(now))
        removed = 0
        for row in rows:
            def tx(conn: sqlite3.Connection, row: sqlite3.Row = row) -> bool:
                if not sql.delete(conn, row["id"]):
                    return False  # another process removed it first
                log_sql.insert(conn, {
                    "level": "INFO", "source": "backup", "source_id": str(row["id"]), "action": "backup.expire",
                    "message": f"backup {row['name']!r} expired at {row['expires_at']} and was removed",
                    "details": json.dumps({"name": row["name"], "type": row["type"], "file_path": row["file_path"]}),
                    "created_at": iso(now),
                })
                return True

            if await self.db.write(tx):
                removed += 1
                if row["file_path"]:
                    await anyio.to_thread.run_sync(unlink, absolute(self.backups.folder, row["file_path"]))
        return removed

    async def fail_interrupted(self, now: datetime) -> int:
        """Backups left 'In Progress' by a process that died mid-way become 'Failed'."""
        cutoff = iso(now - INTERRUPTED_AFTER)

        def tx(conn: sqlite3.Connection) -> int:
            rows = sql.stale_in_progress(conn, cutoff)
            for row in rows:
                sql.update(conn, row["id"], {"status": "Failed"})
                log_sql.insert(conn, {
                    "level": "WARNING", "source": "backup", "source_id": str(row["id"]), "action": "backup.interrupted",
                    "message": f"backup {row['name']!r} was still In Progress after {INTERRUPTED_AFTER}; marked Failed",
                    "created_at": iso(now),
                })
            return len(rows)

        return await self.db.write(tx)

    async def _schedule(self) -> tuple[str | None, int | None]:
        def read(conn: sqlite3.Connection) -> tuple[str | None, str | None]:
            return sql.setting(conn, SCHEDULE_KEY), sql.setting(conn, RETENTION_KEY)

        schedule, retention = await self.db.read(read)
        schedule = (schedule or "").strip() or None
        if schedule is not None:
            try:
                cron.check(schedule)
            except InvalidInput as exc:
                governing.warn_setting_once(SCHEDULE_KEY, schedule, f"is not a valid cron expression ({exc})")
                return None, None

        return schedule, governing.days_setting(RETENTION_KEY, retention)

    async def next_auto_backup(self, now: datetime) -> datetime | None:
        schedule, _ = await self._schedule()
        return cron.next_after(schedule, "UTC", now) if schedule else None

    async def auto_backup(self, now: datetime, *, since: datetime) -> Backup | None:
        """Take the automatic backup of the latest backup_schedule occurrence if nobody has yet.

        The first occurrence counted is the first after `since` (the scheduler's start) unless an
        automatic backup exists, so a new database is not backed up the moment it is created. Missed
        occurrences are coalesced into one backup. The name carries the occurrence, and names are
        unique, so two processes never both take it.
        """
        schedule, retention = await self._schedule()
        if schedule is None:
            return None
        occurrence = cron.latest_at_or_before(schedule, "UTC", now)
        if occurrence is None:
            return None
        last = await self.db.read(sql.latest_auto)
        if last is not None:
            if last["created_at"] >= iso(occurrence):
                return None
        elif occurrence < since:
            return None
        expires = iso(now + timedelta(days=retention)) if retention else None
        name = f"auto-{occurrence.strftime('%Y%m%dT%H%M')}Z"
        try:
            return await self.backups.create(
                SCHEDULER, type="full", name=name,
                description=f"automatic backup ({SCHEDULE_KEY} {schedule!r})", expires_at=expires, is_auto=True,
            )
        except QuotaReached as exc:
            await self.db.write(note_skipped, name, str(exc), iso(now))
            return None
        except Conflict:
            return None  # another process took this occurrence


def note_skipped(conn: sqlite3.Connection, name: str, reason: str, at: str) -> None:
    """One WARNING row per skipped automatic backup (the scheduler retries it on every pass)."""
    if not log_sql.has_row(conn, source="backup", source_id=name, action="backup.skipped"):
        log_sql.insert(conn, {
            "level": "WARNING", "source": "backup", "source_id": name, "action": "backup.skipped",
            "message": f"automatic backup {name!r} was skipped: {reason}", "created_at": at,
        })
