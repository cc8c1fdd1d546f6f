"""BackupService: the backup tools (list, get, verify, create, delete, restore). A backup's row is
committed 'In Progress' first, then set to 'Completed' or 'Failed' in a second transaction, which
also writes its audit row."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from sanctum_mcp.domain.backups.files import EXTENSIONS, FOLDER, absolute, copy_hashing, sha256, unlink
from sanctum_mcp.domain.backups.models import (
    NOTES,
    Backup,
    BackupFailed,
    BackupPage,
    BackupVerification,
    DeletedBackup,
    ProgressFn,
    RestoreResult,
)
from sanctum_mcp.domain.backups.quota import check_quota
from sanctum_mcp.domain.backups.restore import restore_into_live
from sanctum_mcp.domain.backups.writers import export_config, export_incremental, full_copy
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.clock import iso, parse_instant
from sanctum_mcp.domain.shared.confirm import Confirmation
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.names import check_name_characters
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.storage import backups as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.jobs.wakeup import Wakeup
    from sanctum_mcp.storage.database import Database

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")  # \Z: `$` would let a trailing newline in


def resolve(conn: sqlite3.Connection, backup_id: int) -> sqlite3.Row:
    row = sql.get_by_id(conn, backup_id)
    if row is None:
        raise NotFound(f"no backup with id {backup_id}; call list_backups to see the backups.")
    return row


def _deletion(backup: Backup) -> str:
    """delete_backup's preview: which backup, as list_backups shows it, and its file."""
    facts = [backup.type, *(["automatic"] if backup.is_auto else []),
             *([backup.status] if backup.status != "Completed" else []), f"taken {backup.created_at}"]
    if backup.description:
        # Shortened: the name already tells the backups apart.
        facts.append(f"described as {backup.description[:60] + ('…' if len(backup.description) > 60 else '')!r}")
    size = f" ({backup.size_bytes:,} bytes)" if backup.size_bytes is not None else ""
    file = f"its file {Path(backup.file_path).name}{size}" if backup.file_path else "it has no file"
    return f"delete backup {backup.id} {backup.name!r} ({', '.join(facts)}) and {file}; this cannot be undone"


class BackupService:
    PAGE_DEFAULT = 50

    def __init__(self, db: Database, clock: Callable[[], datetime], wakeup: Wakeup) -> None:
        self.db = db
        self.clock = clock
        self.wakeup = wakeup  # set after a restore: the jobs table changed under the scheduler

    @property
    def folder(self) -> Path:
        return self.db.path.parent / FOLDER

    def _folder(self) -> Path:
        folder = self.folder
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def _model(self, row: sqlite3.Row) -> Backup:
        return Backup.from_row(row, self.folder)

    # --- reads -------------------------------------------------------------------------------

    async def list(self, *, type: str | None = None, status: str | None = None, cursor: str | None = None,
                   limit: int = PAGE_DEFAULT) -> BackupPage:
        key = decode_cursor("list_backups", cursor, arity=2)
        rows = await self.db.read(
            lambda conn: sql.page(conn, type=type, status=status, before=(key[0], key[1]) if key else None, limit=limit + 1)
        )
        backups = [self._model(r) for r in rows[:limit]]
        next_cursor = encode_cursor("list_backups", [backups[-1].created_at, backups[-1].id]) if len(rows) > limit else None
        return BackupPage(backups=backups, next_cursor=next_cursor)

    async def get(self, backup_id: int) -> Backup:
        return self._model(await self.db.read(resolve, backup_id))

    async def verify(self, backup_id: int) -> BackupVerification:
        backup = await self.get(backup_id)
        problem, checksum, size = None, None, None
        if backup.status != "Completed" or not backup.file_path or not backup.checksum:
            problem = f"backup {backup.id} is {backup.status}, so it has no complete file to check"
        else:
            path = Path(backup.file_path)
            try:
                checksum, size = await anyio.to_thread.run_sync(sha256, path)
            except FileNotFoundError:
                problem = f"the file {path} is missing"
            except OSError as exc:
                problem = f"the file {path} cannot be read ({exc.strerror})"
            else:
                if checksum != backup.checksum:
                    problem = "the file's SHA-256 differs from the recorded checksum: it is damaged or was changed"
                elif size != backup.size_bytes:
                    problem = f"the file is {size} bytes, {backup.size_bytes} were recorded"
        return BackupVerification(backup=backup, ok=problem is None, actual_checksum=checksum, actual_size=size,
                                  problem=problem)

    # --- create ------------------------------------------------------------------------------

    async def create(
        self,
        caller: Caller,
        *,
        type: str,
        name: str | None = None,
        description: str | None = None,
        expires_at: str | None = None,
        progress: ProgressFn | None = None,
        is_auto: bool = False,
        audited: bool = True,
        within_quota: bool = True,
    ) -> Backup:
        """Take a backup. `within_quota=False` only for the safety copy a restore takes first: a
        full quota must not stand in the way of recovering."""
        now = self.clock()
        if type not in EXTENSIONS:
            raise InvalidInput(f"backup type {type!r} is not one of full, config_only, incremental.")
        name = name if name is not None else f"{type.replace('_', '-')}-{now.strftime('%Y%m%dT%H%M%S')}{now.microsecond // 1000:03d}Z"
        check_name_characters(name, "backup")
        if not NAME_RE.match(name):
            raise InvalidInput(
                f"backup name {name!r} may only hold letters, digits, '.', '_' and '-' (starting with a letter or "
                "digit, at most 100 characters): it also names the file."
            )
        expires = None
        if expires_at is not None:
            moment = parse_instant(expires_at, field="expires_at")
            if moment <= now:
                raise InvalidInput(f"expires_at {expires_at} is not in the future; give a later time or leave it out.")
            expires = iso(moment)
        folder = self._folder()
        relative = f"{FOLDER}/{name}{EXTENSIONS[type]}"
        target = folder / f"{name}{EXTENSIONS[type]}"
        created_at = iso(now)

        def start(conn: sqlite3.Connection) -> tuple[int, str | None]:
            if within_quota:
                # In the transaction that inserts the row: concurrent calls each see the others' rows.
                check_quota(conn)
            if sql.get_by_name(conn, name) is not None:
                raise Conflict(f"a backup named {name!r} already exists; choose another name (or leave name out).")
            if target.exists():
                raise Conflict(f"a file {target} already exists; choose another backup name.")
            previous = sql.previous_completed(conn, created_at) if type == "incremental" else None
            backup_id = sql.insert(conn, {
                "name": name, "description": description, "type": type, "status": "In Progress",
                "file_path": relative, "is_auto": int(is_auto), "expires_at": expires, "created_at": created_at,
            })
            return backup_id, (previous["created_at"] if previous is not None else None)

        backup_id, since = await self.db.write(start)
        partial_file = target.with_name(target.name + ".part")
        try:
            if type == "full":
                await full_copy(self.db, partial_file, progress)
            elif type == "config_only":
                await export_config(self.db, partial_file, name, created_at, progress)
            else:
                await export_incremental(self.db, partial_file, name, since, created_at, progress)
            os.replace(partial_file, target)
            checksum, size = await anyio.to_thread.run_sync(sha256, target)
        except BaseException as exc:
            unlink(partial_file)
            unlink(target)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or exc.__class__.__name__
            with anyio.CancelScope(shield=True):
                await self.db.write(self._finish_failed, caller, backup_id, reason, audited)
            if isinstance(exc, Exception):
                raise BackupFailed(
                    f"backup {name!r} failed ({reason}); it is recorded as backup {backup_id} with status Failed "
                    "and no file was kept. Fix the cause (disk space, permissions) and call create_backup again."
                ) from None
            raise

        def finish(conn: sqlite3.Connection) -> Backup:
            sql.update(conn, backup_id, {"status": "Completed", "checksum": checksum, "size_bytes": size})
            done = self._model(sql.get_by_id(conn, backup_id))
            if audited:
                audit.record(conn, caller, action="backup.create", source="backup", source_id=backup_id,
                             message=f"{type} backup {name!r} completed ({size} bytes)", after=done)
            return done

        done = await self.db.write(finish)
        if progress is not None:
            await progress(1, 1, f"backup {name!r} completed")
        return done

    def _finish_failed(self, conn: sqlite3.Connection, caller: Caller, backup_id: int, reason: str, audited: bool) -> None:
        sql.update(conn, backup_id, {"status": "Failed", "checksum": None, "size_bytes": None})
        if audited:
            failed = self._model(sql.get_by_id(conn, backup_id))
            audit.record(conn, caller, action="backup.create", source="backup", source_id=backup_id,
                         message=f"backup {failed.name!r} failed: {reason}", after=failed, level="ERROR")

    # --- delete ------------------------------------------------------------------------------

    async def delete(self, caller: Caller, backup_id: int, *, confirm: Confirmation | None) -> DeletedBackup:
        def tx(conn: sqlite3.Connection) -> tuple[Backup, Path | None]:
            row = resolve(conn, backup_id)
            if row["status"] == "In Progress":
                raise Conflict(f"backup {backup_id} is still being written; wait for it to finish, then delete it.")
            before = self._model(row)
            if confirm is not None:
                confirm.check(_deletion(before))
            sql.delete(conn, backup_id)
            audit.record(conn, caller, action="backup.delete", source="backup", source_id=backup_id,
                         message=f"backup {before.name!r} deleted", before=before)
            return before, (absolute(self.folder, row["file_path"]) if row["file_path"] else None)

        before, path = await self.db.write(tx)
        removed = await anyio.to_thread.run_sync(unlink, path) if path is not None else False
        return DeletedBackup(deleted=before, file_removed=removed)

    # --- restore -----------------------------------------------------------------------------

    async def restore(self, caller: Caller, backup_id: int, *, confirm: Confirmation | None,
                      progress: ProgressFn | None = None) -> RestoreResult:
        backup = await self.get(backup_id)
        if backup.type != "full":
            raise InvalidInput(
                f"backup {backup_id} ({backup.name!r}) is {backup.type}: {NOTES[backup.type]} Only full backups can "
                "be restored; pick one with list_backups type=full."
            )
        if backup.status != "Completed" or not backup.file_path:
            raise Conflict(f"backup {backup_id} is {backup.status}; only a Completed backup can be restored.")
        if confirm is not None:
            # Checked before the safety backup; what changes during the restore's own steps is in that backup.
            await self.db.write(lambda conn: confirm.check(
                f"replace the registry's content ({sql.content_summary(conn)}) with backup {backup.id} {backup.name!r} "
                f"(taken {backup.created_at}, sha256 {backup.checksum[:12] if backup.checksum else 'unknown'}); a "
                "safety backup of the current content is taken first"))

        async def step(n: int, message: str) -> None:
            if progress is not None:
                await progress(n, 4, message)

        # 1. A private copy of the file, hashed while copied: what gets restored is what was checked.
        work = self._folder() / f".restore-{backup_id}-{os.getpid()}.tmp"
        try:
            try:
                checksum, size = await anyio.to_thread.run_sync(copy_hashing, Path(backup.file_path), work)
            except FileNotFoundError:
                raise Conflict(f"backup {backup_id}'s file {backup.file_path} is missing; nothing was restored.") from None
            if checksum != backup.checksum or size != backup.size_bytes:
                raise Conflict(
                    f"backup {backup_id} ({backup.name!r}) does not match its recorded checksum: the file is damaged "
                    "or was changed, so it was not restored and nothing was changed. Run verify_backup to see the "
                    "details, and restore another backup (list_backups type=full)."
                )
            await step(1, "checksum verified")
            # 2. A safety copy of the database as it is now.
            safety = await self.create(
                caller, type="full", name=f"pre-restore-{backup_id}-{self.clock().strftime('%Y%m%dT%H%M%S%f')}",
                description=f"safety copy taken before restoring backup {backup_id} ({backup.name})", audited=False,
                within_quota=False,
            )
            await step(2, f"safety backup {safety.id} taken")
            # 3. Prepare the copy (carry over catalogue and newer log rows, add the audit row), then one atomic step.
            await step(3, "replacing the database content")
            kept = await self.db.run(restore_into_live, work, caller, backup, safety, self.folder)
            await step(4, "restored")
        finally:
            unlink(work)
            for suffix in ("-journal", "-wal", "-shm"):
                unlink(work.with_name(work.name + suffix))
        self.wakeup.set()  # the jobs table changed under the scheduler
        restored = await self.get(backup_id)
        return RestoreResult(
            restored=restored, safety_backup=await self.get(safety.id), kept_log_rows=kept,
            message=(f"the registry now holds the content of backup {backup.name!r} (taken {backup.created_at}); "
                     f"the state before the restore is in backup {safety.id} ({safety.name!r})."),
        )
