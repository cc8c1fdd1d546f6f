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

BackupId = Field(ge=1, description="From list_backups.")


class CreateBackup(ToolInput):
    type: BackupType = Field(
        default="full",
        description="full (the database, restorable), config_only, or incremental (history and audit since "
        "the last).",
    )
    name: str | None = Field(
        default=None, max_length=100,
        description="Unique; names the file (letters, digits, '.', '_', '-').",
    )
    description: str | None = Field(default=None, max_length=2000)
    expires_at: str | None = Field(default=None, description="ISO-8601 time to delete it at (default: kept).")


@tool("create_backup", title="Create a backup", group="Backups", role="user", read_only=False)
async def create_backup(call: Call, args: CreateBackup) -> Backup:
    """Back up the registry (secrets stay encrypted); take a full one before a risky change."""
    return await call.registry.backups.create(
        call.caller, type=args.type, name=args.name, description=args.description, expires_at=args.expires_at,
        progress=call.report,
    )


class ListBackups(ToolInput):
    type: BackupType | None = None
    status: BackupStatus | None = None
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


@tool("list_backups", title="List backups", group="Backups", role="viewer", read_only=True, idempotent=True)
async def list_backups(call: Call, args: ListBackups) -> BackupPage:
    """List backups, newest first, with status and expiry."""
    return await call.registry.backups.list(type=args.type, status=args.status, cursor=args.cursor, limit=args.limit)


class BackupOnly(ToolInput):
    backup_id: int = BackupId


@tool("verify_backup", title="Verify a backup", group="Backups", role="user", read_only=True, idempotent=True)
async def verify_backup(call: Call, args: BackupOnly) -> BackupVerification:
    """Check a backup file against its checksum; ok=false: do not restore it."""
    return await call.registry.backups.verify(args.backup_id)


class DeleteBackup(ToolInput):
    backup_id: int = BackupId
    confirm: Confirm = CONFIRM


@tool("delete_backup", title="Delete a backup", group="Backups", role="admin", read_only=False, destructive=True)
async def delete_backup(call: Call, args: DeleteBackup) -> DeletedBackup:
    """Delete a backup and its file. Cannot be undone."""
    return await call.registry.backups.delete(call.caller, args.backup_id,
                                              confirm=confirmation("delete_backup", call, args))


class RestoreBackup(ToolInput):
    backup_id: int = BackupId
    confirm: Confirm = CONFIRM


# A restore rolls back every agent's objects at once.
@tool("restore_backup", title="Restore a backup", group="Backups", role="admin", read_only=False, destructive=True,
      agents=ALL_AGENTS)
async def restore_backup(call: Call, args: RestoreBackup) -> RestoreResult:
    """Replace the registry with a full backup atomically, after a safety backup; backups, users,
    tokens and newer logs are kept."""
    return await call.registry.backups.restore(call.caller, args.backup_id,
                                               confirm=confirmation("restore_backup", call, args),
                                               progress=call.report)
