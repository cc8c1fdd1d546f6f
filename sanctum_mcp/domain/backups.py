"""Backups and restore.

Files live in a `backups/` folder beside the database (mode 0700, files 0600). Three kinds:
- full: a copy of the whole database made with SQLite's online backup API on the database's own
  connection, in steps, with progress; restorable.
- config_only: the configuration tables exported as JSON (CONFIG_TABLES). Secret values stay as
  their `fernet:` ciphertext, readable only with the key file beside the database; a sensitive
  value found in plaintext is left out of the file (and counted) rather than written.
- incremental: the history and audit rows (config_history, logs) created since the previous
  completed backup of any kind, as JSON.
Every backup's sha256 and size are recorded. Its row is committed 'In Progress' first, then set to
'Completed' or 'Failed' in a second transaction, which also writes its audit row.

Restore (full backups only) checks the file against its checksum, takes a safety backup of the
current database, and then copies the backup INTO the live connection with the backup API in one
step, so the switch is atomic and clients already connected go on being served, with the restored
data. Some things are carried over from the current database rather than rolled back: the backups
catalogue (so every backup file stays listed, including the safety backup), users and API tokens
(access control is never rolled back: a revoked token stays revoked), and the log rows written
after the backup was taken (the audit trail is append-only history), plus the restore's own audit row.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
from pydantic import BaseModel, Field

from sanctum_mcp.domain import audit, cron, governing
from sanctum_mcp.domain.clock import iso, parse_instant
from sanctum_mcp.domain.errors import Conflict, InvalidInput, NotFound, RegistryError
from sanctum_mcp.domain.identity import Caller
from sanctum_mcp.domain.names import check_name_characters
from sanctum_mcp.domain.pagination import decode_cursor, encode_cursor
from sanctum_mcp.storage import backups as sql
from sanctum_mcp.storage import logs as log_sql
from sanctum_mcp.storage.secrets import PREFIX as SECRET_PREFIX
from sanctum_mcp.storage.secrets import SECRET_CELLS

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

# progress(done, total, message): the catalogue's Call.report has this shape.
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]

BackupType = Literal["full", "incremental", "config_only"]
BackupStatus = Literal["In Progress", "Completed", "Failed"]
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")  # \Z: `$` would let a trailing newline in
FOLDER = "backups"
EXTENSIONS = {"full": ".db", "config_only": ".config.json", "incremental": ".incremental.json"}
FORMAT = "sanctum-mcp-backup"
# The configuration of the registry (users, api_tokens, logs and backups are not configuration).
CONFIG_TABLES = (
    "system_config",
    "configurations",
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
SCHEDULE_KEY = governing.BACKUP_SCHEDULE
RETENTION_KEY = governing.BACKUP_RETENTION_DAYS
# The quota: no new backup once the backups hold this many files or bytes (0 = no limit). A setting
# that is missing or unusable counts as its seeded default, never as "no limit".
MAX_COUNT_KEY = governing.BACKUP_MAX_COUNT
MAX_BYTES_KEY = governing.BACKUP_MAX_BYTES
DEFAULT_MAX_COUNT = 30
DEFAULT_MAX_BYTES = 2 * 1024**3
INTERRUPTED_AFTER = timedelta(hours=6)
CHUNK = 1 << 20
# Carried over from the current database by a restore instead of being rolled back: the backups
# catalogue (every file stays listed) and access control (a restore must never re-enable a revoked
# token or a deactivated user, nor lock out tokens made since the backup). Children before parents.
CARRIED_TABLES = ("backups", "api_tokens", "users")

NOTES = {
    "full": "A copy of the whole SQLite database; restorable with restore_backup. Secrets inside stay "
    "encrypted (fernet:) and need the key file beside the database (<database file>.key) to be read.",
    "config_only": "JSON export of the configuration tables. Secret values stay encrypted as their fernet: "
    "ciphertext and need the key file beside the database; not restorable with restore_backup.",
    # Tables are named in words here: in a message, `config_history` would read as the tool of that name.
    "incremental": "JSON of the configuration-history and log rows created since the previous backup; "
    "not restorable with restore_backup.",
}


class QuotaReached(Conflict):
    """The backups already hold backup_max_count files or backup_max_bytes bytes."""


class BackupFailed(RegistryError):
    """A backup or restore could not be completed; the message says what state things were left in."""

    kind = "failed"


class Backup(BaseModel):
    id: int
    name: str
    description: str | None = None
    type: BackupType
    status: BackupStatus
    file_path: str | None = Field(default=None, description="Absolute path of the backup file.")
    size_bytes: int | None = None
    checksum: str | None = Field(default=None, description="SHA-256 of the file, hex.")
    is_auto: bool = Field(description="true: made by the backup_schedule setting.")
    expires_at: str | None = Field(default=None, description="When the scheduler removes it (UTC); empty = kept.")
    created_at: str
    updated_at: str
    note: str = Field(description="What the file holds and how secrets are kept in it.")

    @classmethod
    def from_row(cls, row: sqlite3.Row, folder: Path) -> Backup:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            type=row["type"],
            status=row["status"],
            file_path=str(_absolute(folder, row["file_path"])) if row["file_path"] else None,
            size_bytes=row["size_bytes"],
            checksum=row["checksum"],
            is_auto=bool(row["is_auto"]),
            expires_at=row["expires_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            note=NOTES[row["type"]],
        )


class BackupPage(BaseModel):
    backups: list[Backup] = Field(description="Newest first.")
    next_cursor: str | None = Field(default=None, description="Pass to list_backups for older ones; absent on the last page.")


class BackupVerification(BaseModel):
    backup: Backup
    ok: bool = Field(description="true when the file exists and matches the recorded checksum and size.")
    actual_checksum: str | None = None
    actual_size: int | None = None
    problem: str | None = Field(default=None, description="What is wrong, when ok is false.")


class DeletedBackup(BaseModel):
    deleted: Backup
    file_removed: bool


class RestoreResult(BaseModel):
    restored: Backup
    safety_backup: Backup = Field(description="The copy of the database taken just before the restore.")
    kept_log_rows: int = Field(description="Log rows newer than the backup, carried over into the restored database.")
    message: str


def _absolute(folder: Path, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else folder.parent / path


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    """Copy source to target, hashing exactly the bytes copied."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest(), size


def _write_json(path: Path, document: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, ensure_ascii=False, default=str)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _unlink(path: Path) -> bool:
    """Remove a file if it is there; never fails (clean-up must not hide the error being handled)."""
    try:
        path.unlink()
        return True
    except OSError:
        return False


class BackupService:
    PAGE_DEFAULT = 50

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @property
    def folder(self) -> Path:
        return self.registry.db.path.parent / FOLDER

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
        rows = await self.registry.db.read(
            lambda conn: sql.page(conn, type=type, status=status, before=(key[0], key[1]) if key else None, limit=limit + 1)
        )
        backups = [self._model(r) for r in rows[:limit]]
        next_cursor = encode_cursor("list_backups", [backups[-1].created_at, backups[-1].id]) if len(rows) > limit else None
        return BackupPage(backups=backups, next_cursor=next_cursor)

    async def get(self, backup_id: int) -> Backup:
        return self._model(await self.registry.db.read(_resolve, backup_id))

    async def verify(self, backup_id: int) -> BackupVerification:
        backup = await self.get(backup_id)
        problem, checksum, size = None, None, None
        if backup.status != "Completed" or not backup.file_path or not backup.checksum:
            problem = f"backup {backup.id} is {backup.status}, so it has no complete file to check"
        else:
            path = Path(backup.file_path)
            try:
                checksum, size = await anyio.to_thread.run_sync(_sha256, path)
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
        now = self.registry.clock()
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

        backup_id, since = await self.registry.db.write(start)
        partial_file = target.with_name(target.name + ".part")
        try:
            if type == "full":
                await self._full_copy(partial_file, progress)
            elif type == "config_only":
                await self._export_config(partial_file, name, created_at, progress)
            else:
                await self._export_incremental(partial_file, name, since, created_at, progress)
            os.replace(partial_file, target)
            checksum, size = await anyio.to_thread.run_sync(_sha256, target)
        except BaseException as exc:
            _unlink(partial_file)
            _unlink(target)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or exc.__class__.__name__
            with anyio.CancelScope(shield=True):
                await self.registry.db.write(self._finish_failed, caller, backup_id, reason, audited)
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

        done = await self.registry.db.write(finish)
        if progress is not None:
            await progress(1, 1, f"backup {name!r} completed")
        return done

    def _finish_failed(self, conn: sqlite3.Connection, caller: Caller, backup_id: int, reason: str, audited: bool) -> None:
        sql.update(conn, backup_id, {"status": "Failed", "checksum": None, "size_bytes": None})
        if audited:
            failed = self._model(sql.get_by_id(conn, backup_id))
            audit.record(conn, caller, action="backup.create", source="backup", source_id=backup_id,
                         message=f"backup {failed.name!r} failed: {reason}", after=failed, level="ERROR")

    async def _full_copy(self, target: Path, progress: ProgressFn | None) -> None:
        """SQLite's online backup API from the live connection, on its own thread, in steps."""
        report = _thread_reporter(progress)

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

        await self.registry.db.run(copy)

    async def _export_config(self, target: Path, name: str, created_at: str, progress: ProgressFn | None) -> None:
        def read(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
            return {table: [dict(r) for r in sql.all_rows(conn, table)] for table in CONFIG_TABLES}

        tables = await self.registry.db.read(read)
        omitted = _drop_plaintext_secrets(tables)
        if progress is not None:
            await progress(len(tables), len(tables) + 1, "writing the JSON file")
        document = self._document("config_only", name, created_at, tables,
                                  secrets=("Secret values are kept as their fernet: ciphertext; reading them needs the "
                                           "key file beside the database (registry.db.key)."),
                                  omitted_plaintext_secrets=omitted)
        await anyio.to_thread.run_sync(_write_json, target, document)

    async def _export_incremental(self, target: Path, name: str, since: str | None, until: str,
                                  progress: ProgressFn | None) -> None:
        def read(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
            return {table: [dict(r) for r in log_sql.rows_between(conn, table, since, until)]
                    for table in ("config_history", "logs")}

        tables = await self.registry.db.read(read)
        omitted = _drop_plaintext_secrets(tables)
        if progress is not None:
            await progress(1, 2, "writing the JSON file")
        document = self._document("incremental", name, until, tables, since=since, until=until,
                                  secrets="Sensitive config_history values are kept as their fernet: ciphertext.",
                                  omitted_plaintext_secrets=omitted)
        await anyio.to_thread.run_sync(_write_json, target, document)

    def _document(self, kind: str, name: str, created_at: str, tables: dict[str, Any], **extra: Any) -> dict[str, Any]:
        from sanctum_mcp import __version__
        from sanctum_mcp.storage.migrations import SCHEMA_VERSION

        return {
            "format": FORMAT, "type": kind, "name": name, "created_at": created_at,
            "sanctum_mcp_version": __version__, "schema_version": SCHEMA_VERSION,
            **extra,
            "row_counts": {table: len(rows) for table, rows in tables.items()},
            "tables": tables,
        }

    # --- delete ------------------------------------------------------------------------------

    async def delete(self, caller: Caller, backup_id: int) -> DeletedBackup:
        def tx(conn: sqlite3.Connection) -> tuple[Backup, Path | None]:
            row = _resolve(conn, backup_id)
            if row["status"] == "In Progress":
                raise Conflict(f"backup {backup_id} is still being written; wait for it to finish, then delete it.")
            before = self._model(row)
            sql.delete(conn, backup_id)
            audit.record(conn, caller, action="backup.delete", source="backup", source_id=backup_id,
                         message=f"backup {before.name!r} deleted", before=before)
            return before, (_absolute(self.folder, row["file_path"]) if row["file_path"] else None)

        before, path = await self.registry.db.write(tx)
        removed = await anyio.to_thread.run_sync(_unlink, path) if path is not None else False
        return DeletedBackup(deleted=before, file_removed=removed)

    # --- restore -----------------------------------------------------------------------------

    async def restore(self, caller: Caller, backup_id: int, *, confirm: bool,
                      progress: ProgressFn | None = None) -> RestoreResult:
        if not confirm:
            raise InvalidInput(
                "restore_backup replaces the whole registry with the backup's content (a safety backup is taken "
                "first); call it again with confirm=true to go ahead."
            )
        backup = await self.get(backup_id)
        if backup.type != "full":
            raise InvalidInput(
                f"backup {backup_id} ({backup.name!r}) is {backup.type}: {NOTES[backup.type]} Only full backups can "
                "be restored; pick one with list_backups type=full."
            )
        if backup.status != "Completed" or not backup.file_path:
            raise Conflict(f"backup {backup_id} is {backup.status}; only a Completed backup can be restored.")

        async def step(n: int, message: str) -> None:
            if progress is not None:
                await progress(n, 4, message)

        # 1. A private copy of the file, hashed while copied: what gets restored is what was checked.
        work = self._folder() / f".restore-{backup_id}-{os.getpid()}.tmp"
        try:
            try:
                checksum, size = await anyio.to_thread.run_sync(_copy_hashing, Path(backup.file_path), work)
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
                caller, type="full", name=f"pre-restore-{backup_id}-{self.registry.clock().strftime('%Y%m%dT%H%M%S%f')}",
                description=f"safety copy taken before restoring backup {backup_id} ({backup.name})", audited=False,
                within_quota=False,
            )
            await step(2, f"safety backup {safety.id} taken")
            # 3. Prepare the copy (carry over catalogue and newer log rows, add the audit row), then one atomic step.
            await step(3, "replacing the database content")
            kept = await self.registry.db.run(self._restore_into_live, work, caller, backup, safety)
            await step(4, "restored")
        finally:
            _unlink(work)
            for suffix in ("-journal", "-wal", "-shm"):
                _unlink(work.with_name(work.name + suffix))
        self.registry.jobs.wakeup.set()  # the jobs table changed under the scheduler
        restored = await self.get(backup_id)
        return RestoreResult(
            restored=restored, safety_backup=await self.get(safety.id), kept_log_rows=kept,
            message=(f"the registry now holds the content of backup {backup.name!r} (taken {backup.created_at}); "
                     f"the state before the restore is in backup {safety.id} ({safety.name!r})."),
        )

    def _restore_into_live(self, live: sqlite3.Connection, work: Path, caller: Caller, backup: Backup,
                           safety: Backup) -> int:
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
                restored = sql.get_by_id(source, backup.id)
                audit.record(source, caller, action="backup.restore", source="backup", source_id=backup.id,
                             message=(f"registry restored from backup {backup.name!r} (taken {backup.created_at}); "
                                      f"safety backup {safety.id} ({safety.name!r}) holds the state before"),
                             after=Backup.from_row(restored, self.folder) if restored else backup,
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

    # --- housekeeping (called by the scheduler) ----------------------------------------------

    async def remove_expired(self, now: datetime) -> int:
        rows = await self.registry.db.read(sql.expired, iso(now))
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

            if await self.registry.db.write(tx):
                removed += 1
                if row["file_path"]:
                    await anyio.to_thread.run_sync(_unlink, _absolute(self.folder, row["file_path"]))
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

        return await self.registry.db.write(tx)

    async def _schedule(self) -> tuple[str | None, int | None]:
        def read(conn: sqlite3.Connection) -> tuple[str | None, str | None]:
            return sql.setting(conn, SCHEDULE_KEY), sql.setting(conn, RETENTION_KEY)

        schedule, retention = await self.registry.db.read(read)
        from sanctum_mcp.domain.logs import _days, warn_setting_once

        schedule = (schedule or "").strip() or None
        if schedule is not None:
            try:
                cron.check(schedule)
            except InvalidInput as exc:
                warn_setting_once(SCHEDULE_KEY, schedule, f"is not a valid cron expression ({exc})")
                return None, None

        return schedule, _days(RETENTION_KEY, retention)

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
        from sanctum_mcp.domain.scheduler import SCHEDULER

        schedule, retention = await self._schedule()
        if schedule is None:
            return None
        occurrence = cron.latest_at_or_before(schedule, "UTC", now)
        if occurrence is None:
            return None
        last = await self.registry.db.read(sql.latest_auto)
        if last is not None:
            if last["created_at"] >= iso(occurrence):
                return None
        elif occurrence < since:
            return None
        expires = iso(now + timedelta(days=retention)) if retention else None
        name = f"auto-{occurrence.strftime('%Y%m%dT%H%M')}Z"
        try:
            return await self.create(
                SCHEDULER, type="full", name=name,
                description=f"automatic backup ({SCHEDULE_KEY} {schedule!r})", expires_at=expires, is_auto=True,
            )
        except QuotaReached as exc:
            await self.registry.db.write(_note_skipped, name, str(exc), iso(now))
            return None
        except Conflict:
            return None  # another process took this occurrence


def check_quota(conn: sqlite3.Connection) -> None:
    """Refuse a new backup once the backups hold backup_max_count files or backup_max_bytes bytes."""
    from sanctum_mcp.domain.logs import whole_number_setting

    max_count = whole_number_setting(MAX_COUNT_KEY, sql.setting(conn, MAX_COUNT_KEY), "backups")
    max_bytes = whole_number_setting(MAX_BYTES_KEY, sql.setting(conn, MAX_BYTES_KEY), "bytes")
    max_count = DEFAULT_MAX_COUNT if max_count is None else max_count
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    count, used = sql.usage(conn)
    reached = []
    if max_count and count >= max_count:
        reached.append((MAX_COUNT_KEY, f"{count} backups ({MAX_COUNT_KEY} is {max_count})"))
    if max_bytes and used >= max_bytes:
        reached.append((MAX_BYTES_KEY, f"{_size(used)} of backups ({MAX_BYTES_KEY} is {max_bytes}, {_size(max_bytes)})"))
    if reached:
        raise QuotaReached(
            f"backup quota reached: {' and '.join(text for _, text in reached)}. Nothing was created. Delete old "
            f"backups with delete_backup (admin role), or ask an admin to raise {' / '.join(k for k, _ in reached)}."
        )


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # unreachable


def _note_skipped(conn: sqlite3.Connection, name: str, reason: str, at: str) -> None:
    """One WARNING row per skipped automatic backup (the scheduler retries it on every pass)."""
    if not log_sql.has_row(conn, source="backup", source_id=name, action="backup.skipped"):
        log_sql.insert(conn, {
            "level": "WARNING", "source": "backup", "source_id": name, "action": "backup.skipped",
            "message": f"automatic backup {name!r} was skipped: {reason}", "created_at": at,
        })


def _resolve(conn: sqlite3.Connection, backup_id: int) -> sqlite3.Row:
    row = sql.get_by_id(conn, backup_id)
    if row is None:
        raise NotFound(f"no backup with id {backup_id}; call list_backups to see the backups.")
    return row


def _drop_plaintext_secrets(tables: dict[str, list[dict[str, Any]]]) -> int:
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


def _thread_reporter(progress: ProgressFn | None):
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
