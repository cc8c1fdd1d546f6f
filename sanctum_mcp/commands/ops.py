"""Operator commands for backups: `sanctum-mcp backup`, `backups`, `verify`, `restore`.

They run the same catalogue entries as the MCP tools (same checks, same audit rows) as the local
user (`--user`, see Registry.operator), print the result as JSON on stdout and progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    backup = subparsers.add_parser("backup", parents=[common], help="take a backup now (default: full)")
    backup.add_argument("--type", choices=["full", "config_only", "incremental"], default="full",
                        help="full: whole database (restorable); config_only / incremental: JSON exports")
    backup.add_argument("--name", help="unique name (letters, digits, '.', '_', '-'); default: type and time")
    backup.add_argument("--description", help="why the backup was taken")
    backup.add_argument("--expires-at", metavar="ISO_TIME", help="when the scheduler may delete it, e.g. 2026-12-31T00:00:00Z")
    backup.set_defaults(handler=lambda args, db: _run(db, "create_backup", {
        "type": args.type, "name": args.name, "description": args.description, "expires_at": args.expires_at,
    }))

    listing = subparsers.add_parser("backups", parents=[common], help="list backups, newest first")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=lambda args, db: _run(db, "list_backups", {"limit": args.limit}))

    verify = subparsers.add_parser("verify", parents=[common], help="recompute a backup's checksum (exit 1 if it does not match)")
    verify.add_argument("backup_id", type=int, metavar="ID")
    verify.set_defaults(handler=lambda args, db: _run(db, "verify_backup", {"backup_id": args.backup_id},
                                                      fail_unless="ok"))

    restore = subparsers.add_parser("restore", parents=[common],
                                    help="replace the registry with a full backup (a safety backup is taken first)")
    restore.add_argument("backup_id", type=int, metavar="ID")
    restore.add_argument("--yes", action="store_true",
                         help="confirm: without it, nothing is changed and the restore is previewed")
    restore.set_defaults(handler=lambda args, db: _run(db, "restore_backup", {"backup_id": args.backup_id},
                                                       confirmed=args.yes))


def _run(db_path: Path, tool_name: str, raw: dict[str, Any], *, fail_unless: str | None = None,
         confirmed: bool = False) -> None:
    import anyio

    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SchemaTooNew

    spec = all_tools()[tool_name]

    async def progress(done: float, total: float | None, message: str | None) -> None:
        shown = f"{done:g}/{total:g}" if total else f"{done:g}"
        print(f"{tool_name}: {shown} {message or ''}".rstrip(), file=sys.stderr)

    async def main() -> Any:
        registry = await Registry.open(db_path)
        try:
            args = parse_arguments(spec, {k: v for k, v in raw.items() if v is not None})
            return await run_tool(spec, Call(registry, registry.operator, progress=progress, confirmed=confirmed), args)
        finally:
            await registry.close()

    try:
        result = anyio.run(main)
    except (RegistryError, SchemaTooNew) as exc:
        raise cli_error(exc) from None
    data = result.model_dump(mode="json")
    print(json.dumps(data, indent=2))
    if fail_unless is not None and not data.get(fail_unless):
        raise SystemExit(f"sanctum-mcp: {data.get('problem') or 'check failed'}")
