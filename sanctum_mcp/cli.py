"""The `sanctum-mcp` command. Imports stay inside the commands so `--help` and start-up stay fast."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sanctum_mcp import __version__
from sanctum_mcp import settings


def _common(*, suppress: bool = True) -> argparse.ArgumentParser:
    # Sub-commands repeat these options with SUPPRESS defaults: otherwise a sub-command's default
    # (None) would overwrite `sanctum-mcp --db X backup`'s --db, silently using the default database.
    default: dict = {"default": argparse.SUPPRESS} if suppress else {}
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        help=f"registry database file (default: ${settings.ENV_DB} or {settings.DEFAULT_DB})",
        **default,
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr", **default)
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="sanctum-mcp",
        description="The Sanctum registry as an MCP server.",
        parents=[_common(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"sanctum-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the MCP server (stdio or HTTP)")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                       help="stdio for Claude Desktop and local clients (default); http for Streamable "
                            "HTTP at /mcp and SSE at /sse on one port")
    serve.add_argument("--host", help=f"HTTP bind address (default: ${settings.ENV_HOST} or {settings.DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help=f"HTTP port (default: ${settings.ENV_PORT} or {settings.DEFAULT_PORT})")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow binding an address other machines can reach")
    serve.add_argument("--no-scheduler", action="store_true",
                       help="do not run scheduled jobs, log retention or automatic backups in this process")
    serve.add_argument("--no-db-log", action="store_true",
                       help="do not copy the server's WARNING and above log records into the logs table")

    commands.add_parser("init", parents=[common], help="create or upgrade the database, then print its path")
    commands.add_parser("tools", parents=[common], help="list every tool with the role it needs")
    for module in _command_modules():
        module.add_commands(commands, common)
    return parser


# Each area's operator commands live in sanctum_mcp/commands/<area>.py, exposing
# add_commands(subparsers, common) and setting `handler=` (args, db_path) on its parsers.
_COMMAND_MODULES: tuple[str, ...] = ("ops",)


def _command_modules():
    import importlib

    return [importlib.import_module(f"sanctum_mcp.commands.{name}") for name in _COMMAND_MODULES]


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,  # never stdout: under stdio, stdout is the protocol
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    db_path = settings.database_path(args.db)
    try:
        if args.command == "serve":
            _serve(args, db_path)
        elif args.command == "init":
            _init(db_path)
        elif args.command == "tools":
            _tools()
        else:
            args.handler(args, db_path)
    except KeyboardInterrupt:
        pass


def _serve(args: argparse.Namespace, db_path) -> None:
    import anyio

    from sanctum_mcp.storage.migrations import SchemaTooNew

    try:
        if args.transport == "stdio":
            from sanctum_mcp.transports.stdio import serve_stdio

            anyio.run(lambda: serve_stdio(db_path, scheduler=not args.no_scheduler, db_log=not args.no_db_log))
        else:
            from sanctum_mcp.transports.http import BindRefused, serve_http

            host, port = settings.http_host(args.host), settings.http_port(args.port)
            try:
                anyio.run(lambda: serve_http(db_path, host=host, port=port, allow_remote=args.allow_remote,
                                             scheduler=not args.no_scheduler, db_log=not args.no_db_log))
            except BindRefused as exc:
                raise SystemExit(f"sanctum-mcp: {exc}") from None
    except SchemaTooNew as exc:
        raise SystemExit(f"sanctum-mcp: {exc}") from None


def _init(db_path) -> None:
    import anyio

    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.storage.migrations import SCHEMA_VERSION, SchemaTooNew

    async def run() -> None:
        registry = await Registry.open(db_path)
        await registry.close()

    try:
        anyio.run(run)
    except SchemaTooNew as exc:
        raise SystemExit(f"sanctum-mcp: {exc}") from None
    print(f"registry database ready at {db_path} (schema version {SCHEMA_VERSION})")


def _tools() -> None:
    from sanctum_mcp.catalogue import all_tools

    for spec in all_tools().values():
        print(f"{spec.name:<28} {spec.role:<7} {spec.title}")
