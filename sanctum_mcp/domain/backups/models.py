"""What the backup tools return, and their errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from sanctum_mcp.domain.backups.files import absolute
from sanctum_mcp.domain.shared.errors import Conflict, RegistryError

# progress(done, total, message): the catalogue's Call.report has this shape.
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


BackupType = Literal["full", "incremental", "config_only"]
BackupStatus = Literal["In Progress", "Completed", "Failed"]


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
    file_path: str | None = None
    size_bytes: int | None = None
    checksum: str | None = None
    is_auto: bool
    expires_at: str | None = None
    created_at: str
    updated_at: str
    note: str

    @classmethod
    def from_row(cls, row: sqlite3.Row, folder: Path) -> Backup:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            type=row["type"],
            status=row["status"],
            file_path=str(absolute(folder, row["file_path"])) if row["file_path"] else None,
            size_bytes=row["size_bytes"],
            checksum=row["checksum"],
            is_auto=bool(row["is_auto"]),
            expires_at=row["expires_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            note=NOTES[row["type"]],
        )


class BackupPage(BaseModel):
    backups: list[Backup]
    next_cursor: str | None = None


class BackupVerification(BaseModel):
    backup: Backup
    ok: bool
    actual_checksum: str | None = None
    actual_size: int | None = None
    problem: str | None = None


class DeletedBackup(BaseModel):
    deleted: Backup
    file_removed: bool


class RestoreResult(BaseModel):
    restored: Backup
    safety_backup: Backup
    kept_log_rows: int
    message: str
