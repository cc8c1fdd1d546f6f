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
    install.add_argument("--allow-secrets", action="store_true",
                         help="let secrets pass through SMCP (new API tokens, reveal, sensitive settings, passwords); "
                              "SMCP logs every argument and result in clear, so by default they are left out")
    install.add_argument("--toolsets", metavar="NAMES",
                         help="publish only these toolsets and profiles through SMCP, as `serve --toolsets` "
                              "(e.g. assistant, or config,logs); default every tool")
    install.set_defaults(handler=_install)
    # --db (from the common options) pins that database in the shim; without it the shim follows
    # $SANCTUM_MCP_DB or the default at run time. --user (common too) names the user the plugin acts
    # as; without it, the dedicated user 'smcp' (role user, created if missing).

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
    import os

    import anyio

    from sanctum_mcp import settings
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.smcp.install import InstallRefused, install
    from sanctum_mcp.storage.migrations import SchemaTooNew

    # Here --user (or $SANCTUM_MCP_USER) names the user the PLUGIN acts as, for every client of SMCP.
    # The install itself acts as the local admin (it may create the default user): main() exported
    # --user for every Registry.open of the process, which must not apply here (on a database without
    # users it would make that name the first admin).
    chosen = args.user
    os.environ.pop(settings.ENV_USER, None)
    if args.toolsets is not None:  # refused before the plugin's user is created
        from sanctum_mcp.catalogue.toolsets import UnknownSelection, select

        try:
            select(toolsets=args.toolsets)
        except UnknownSelection as exc:
            raise SystemExit(f"sanctum-mcp: --toolsets: {exc}") from None
    try:
        user, created = anyio.run(_plugin_user, db_path, chosen)
    except (RegistryError, SchemaTooNew) as exc:
        raise SystemExit(f"sanctum-mcp: {exc}") from None
    database = Path(args.db) if args.db else None
    try:
        cli = install(Path(args.plugins_dir), user=user.username, allow_secrets=args.allow_secrets,
                      database=database, force=args.force, toolsets=args.toolsets)
    except InstallRefused as exc:
        raise SystemExit(f"sanctum-mcp: {exc}") from None
    pinned = f", database pinned to {database.expanduser().resolve()}" if database else ""
    print(f"wrote {cli} (runs {sys.executable}{pinned}); restart SMCP to load the 'sanctum' plugin")
    print(f"every SMCP call acts as the registry user {user.username!r} (role {user.role}"
          f"{', created now' if created else ''}){'' if chosen else '; choose another with --user NAME'}")
    if user.role == "admin":
        print(f"warning: {user.username!r} is an admin, so every client of SMCP (which needs no credentials on "
              "loopback) can do anything an admin can. Prefer a user of role 'user': sanctum-mcp smcp install "
              "--user NAME", file=sys.stderr)
    if args.allow_secrets:
        print("warning: --allow-secrets: new API tokens, revealed settings and passwords pass through SMCP, which "
              "logs every argument and result in clear", file=sys.stderr)
    else:
        print("secrets stay out of SMCP (it logs every argument and result): tools and arguments that carry one are "
              "not offered; --allow-secrets lets them through")


async def _plugin_user(db_path: Path, chosen: str | None):
    """The user the plugin will act as: `chosen` (it must exist and be active), else the dedicated
    user 'smcp' of role user, created now if missing. Returns (User, created)."""
    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import Forbidden, NotFound
    from sanctum_mcp.smcp.install import DEFAULT_SMCP_ROLE, DEFAULT_SMCP_USER

    name = chosen or DEFAULT_SMCP_USER
    registry = await Registry.open(db_path)
    try:
        created = False
        try:
            user = await registry.users.get(name)
        except NotFound:
            if chosen:
                raise NotFound(f"no user named {chosen!r} in {db_path}: create it first (sanctum-mcp user add "
                               f"{chosen} --role user), then install again; every SMCP call will act as it.") from None
            spec = all_tools()["create_user"]
            raw = {"username": DEFAULT_SMCP_USER, "role": DEFAULT_SMCP_ROLE}
            user = await run_tool(spec, Call(registry, registry.operator), parse_arguments(spec, raw))
            created = True
        if not user.is_active:
            raise Forbidden(f"the user {user.username!r} is deactivated; reactivate it (sanctum-mcp user list shows "
                            "users; update_user active=true) or install with another --user NAME.")
        return user, created
    finally:
        await registry.close()


def _scan(args: argparse.Namespace, db_path: Path) -> None:
    import anyio

    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import RegistryError

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

