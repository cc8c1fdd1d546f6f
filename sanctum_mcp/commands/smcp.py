"""`sanctum-mcp smcp install | scan | manifest`: sanctum-mcp and SMCP, Sanctum's plugin host."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    smcp = subparsers.add_parser("smcp", parents=[common], help="SMCP plugin: install the shim, scan plugins, manifest")
    actions = smcp.add_subparsers(dest="smcp_command", required=True, metavar="ACTION")

    install = actions.add_parser(
        "install", parents=[common],
        help="write DIR/sanctum/cli.py, a shim SMCP can run with any Python (re-executes this one)",
    )
    install.add_argument("--plugins-dir", required=True, metavar="DIR", help="SMCP's plugins folder ($MCP_PLUGINS_DIR)")
    install.add_argument("--force", action="store_true", help="replace a cli.py that sanctum-mcp did not write")
    install.set_defaults(handler=_install)
    # --db (from the common options) pins that database in the shim; without it the shim follows
    # $SANCTUM_MCP_DB or the default at run time.

    scan = actions.add_parser(
        "scan", parents=[common],
        help="register every plugin of DIR (runs each cli.py --describe), mark failures Error and vanished ones Inactive",
    )
    scan.add_argument("--plugins-dir", required=True, metavar="DIR", help="SMCP's plugins folder ($MCP_PLUGINS_DIR)")
    scan.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                      help="limit for each --describe (default 10, SMCP's own)")
    scan.add_argument("--python", metavar="PATH",
                      help="the Python SMCP runs plugins with (its venv's), so plugins find their imports "
                           "(default: sanctum-mcp's own)")
    scan.add_argument("--json", action="store_true", help="print the full report as JSON")
    scan.set_defaults(handler=_scan)

    manifest = actions.add_parser("manifest", parents=[common], help="print (or write) smcp_manifest.json")
    manifest.add_argument("--output", metavar="PATH", help="write the manifest there instead of printing it")
    manifest.set_defaults(handler=_manifest)


def _install(args: argparse.Namespace, db_path: Path) -> None:
    from sanctum_mcp.smcp.install import InstallRefused, install

    database = Path(args.db) if args.db else None
    try:
        cli = install(Path(args.plugins_dir), database=database, force=args.force)
    except InstallRefused as exc:
        raise SystemExit(f"sanctum-mcp: {exc}") from None
    pinned = f", database pinned to {database.expanduser().resolve()}" if database else ""
    print(f"wrote {cli} (runs {sys.executable}{pinned}); restart SMCP to load the 'sanctum' plugin")


def _scan(args: argparse.Namespace, db_path: Path) -> None:
    import anyio

    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.errors import RegistryError
    from sanctum_mcp.domain.registry import Registry

    raw = {"plugins_dir": str(Path(args.plugins_dir).expanduser().resolve())}
    if args.timeout is not None:
        raw["timeout_seconds"] = args.timeout
    if args.python:
        raw["python"] = args.python

    async def run():
        # The sync_smcp_plugins tool itself, through the same gate, as the local user.
        registry = await Registry.open(db_path)
        try:
            spec = all_tools()["sync_smcp_plugins"]
            return await run_tool(spec, Call(registry, registry.operator), parse_arguments(spec, raw))
        finally:
            await registry.close()

    try:
        report = anyio.run(run)
    except RegistryError as exc:
        raise cli_error(exc) from None
    if args.json:
        print(report.model_dump_json(indent=2))
        return
    print(f"plugins in {report.plugins_dir}:")
    for entry in report.entries:
        detail = entry.error or (f"{len(entry.commands)} command(s)" if entry.commands else "")
        print(f"  {entry.name:<24} {entry.outcome:<10} {entry.status or '-':<8} {entry.version or '-':<10} {detail}")
        for warning in entry.warnings:
            print(f"  {'':<24} warning: {warning}")


def _manifest(args: argparse.Namespace, db_path: Path) -> None:
    from sanctum_mcp.smcp.manifest import manifest_text

    text = manifest_text()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)

