"""Backup and restore tools."""

from __future__ import annotations

from pydantic import Field

from sanctum_mcp.catalogue.base import ALL_AGENTS, CONFIRM, Call, Confirm, ToolInput, confirmation, tool
from sanctum_mcp.domain.backups.models import (
    Backup,
    BackupPage,
    BackupStatus,
    BackupType,
    BackupVerification,
    DeletedBackup,
    RestoreResult,
)

BackupId = Field(ge=1, description="The backup's id (from list_backups).")


class CreateBackup(ToolInput):
    type: BackupType = Field(
        default="full",
        description="full: a copy of the whole database (restorable); config_only: the configuration tables as "
        "JSON; incremental: history and audit rows since the previous backup, as JSON.",
    )
    name: str | None = Field(
        default=None, max_length=100,
        description="Unique name (letters, digits, '.', '_', '-'); it also names the file. Default: type and time.",
    )
    description: str | None = Field(default=None, max_length=2000, description="Why the backup was taken.")
    expires_at: str | None = Field(
        default=None, description="ISO-8601 time after which the scheduler deletes it, e.g. '2026-12-31T00:00:00Z'; default: kept."
    )


@tool("create_backup", title="Create a backup", group="Backups", role="user", read_only=False)
async def create_backup(call: Call, args: CreateBackup) -> Backup:
    """Back up the registry into the backups folder beside the database, with a SHA-256 checksum.
    Take a full backup before a risky change. Secrets stay encrypted in every kind of backup.
    Sends progress notifications while it runs."""
    return await call.registry.backups.create(
        call.caller, type=args.type, name=args.name, description=args.description, expires_at=args.expires_at,
        progress=call.report,
    )


class ListBackups(ToolInput):
    type: BackupType | None = Field(default=None, description="Only backups of this type.")
    status: BackupStatus | None = Field(default=None, description="Only backups with this status.")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the newest.")
    limit: int = Field(default=50, ge=1, le=500, description="Backups per page (1-500).")


@tool("list_backups", title="List backups", group="Backups", role="viewer", read_only=True, idempotent=True)
async def list_backups(call: Call, args: ListBackups) -> BackupPage:
    """List backups newest first: type, status, file, size, checksum, whether automatic, expiry."""
    return await call.registry.backups.list(type=args.type, status=args.status, cursor=args.cursor, limit=args.limit)


class BackupOnly(ToolInput):
    backup_id: int = BackupId


@tool("verify_backup", title="Verify a backup", group="Backups", role="user", read_only=True, idempotent=True)
async def verify_backup(call: Call, args: BackupOnly) -> BackupVerification:
    """Recompute a backup file's SHA-256 and size and compare them with what was recorded.
    ok=false means the file is missing, damaged or changed: do not restore it."""
    return await call.registry.backups.verify(args.backup_id)


@tool("delete_backup", title="Delete a backup", group="Backups", role="admin", read_only=False, destructive=True)
async def delete_backup(call: Call, args: BackupOnly) -> DeletedBackup:
    """Delete a backup and its file. Cannot be undone."""
    return await call.registry.backups.delete(call.caller, args.backup_id)


class RestoreBackup(ToolInput):
    backup_id: int = BackupId
    confirm: Confirm = CONFIRM


# A restore rolls back every agent's objects at once.
@tool("restore_backup", title="Restore a backup", group="Backups", role="admin", read_only=False, destructive=True,
      agents=ALL_AGENTS)
async def restore_backup(call: Call, args: RestoreBackup) -> RestoreResult:
    """Replace the registry's content with a full backup, atomically, while serving. A file that does
    not match its checksum is refused. A safety backup of the current state is taken first. Kept as
    now: the backups list, users and API tokens, and log rows newer than the backup."""
    return await call.registry.backups.restore(call.caller, args.backup_id,
                                               confirm=confirmation("restore_backup", call, args),
                                               progress=call.report)
