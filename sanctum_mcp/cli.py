"""The `sanctum-mcp` command. Imports stay inside the commands so `--help` and start-up stay fast."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from sanctum_mcp import __version__, log_setup, settings


def _common() -> argparse.ArgumentParser:
    # Defaults are SUPPRESS: these options are accepted before and after the command, and a
    # subcommand's parser must not overwrite a value given before it with its own default.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--db",
        metavar="PATH",
        help=f"registry database file (default: ${settings.ENV_DB} or {settings.DEFAULT_DB})",
    )
    common.add_argument(
        "--user",
        metavar="NAME",
        help=f"act as this registry user (default: ${settings.ENV_USER}, else the oldest active admin; on a "
        "new database the admin 'operator' is created first, or NAME if given)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="sanctum-mcp",
        description="The Sanctum registry as an MCP server.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"sanctum-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the MCP server (stdio or HTTP)")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                       help="stdio for Claude Desktop and local clients (default); http for Streamable "
                            "HTTP at /mcp and SSE at /sse on one port")
    serve.add_argument("--host", help=f"HTTP bind address (default: ${settings.ENV_HOST} or {settings.DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help=f"HTTP port (default: ${settings.ENV_PORT} or {settings.DEFAULT_PORT})")
    serve.add_argument("--trust-loopback", action="store_true",
                       help="HTTP: a client on this machine (127.0.0.1/::1) that sends no token acts as the "
                            "local user (--user); every other request needs 'Authorization: Bearer <token>'")
    serve.add_argument("--stream-responses", action="store_true",
                       help="HTTP: answer each /mcp request with an SSE stream, which carries progress "
                            "notifications (backups, restores) before the result; default: one JSON body per "
                            "request, faster for every client")
    serve.add_argument("--no-scheduler", action="store_true",
                       help="do not run scheduled jobs, log retention or automatic backups in this process")
    serve.add_argument("--no-db-log", action="store_true",
                       help="do not copy the server's WARNING and above log records into the logs table")
    serve.add_argument("--log-file", metavar="PATH",
                       help="write the log to this file instead of stderr (masked the same way; created owner-only; "
                            "reopened when logrotate moves it away)")
    _add_selection(serve)
    _add_http_limits(serve)

    init = commands.add_parser("init", parents=[common], help="create or upgrade the database, then print its path")
    init.add_argument("--example", action="store_true",
                      help="also load the example Sanctum (Athena, Monday, Timbre, the Configurator's tools, a few "
                           "instances and a job) into an empty registry")
    for module in _command_modules():
        module.add_commands(commands, common)
    return parser


def _add_selection(serve: argparse.ArgumentParser) -> None:
    """Which tools this server publishes (catalogue/toolsets.py); each also an environment variable."""
    chosen = serve.add_argument_group("tool selection (what clients see and may call)")
    chosen.add_argument("--toolsets", metavar="NAMES",
                        help="comma list of toolsets (agents, config, tools, plugins, letta, users, jobs, logs, "
                             "backups) and profiles (all, assistant, readonly) (default: $SANCTUM_MCP_TOOLSETS, "
                             "else all)")
    chosen.add_argument("--tools", metavar="NAMES",
                        help="comma list of single tools, added to --toolsets (default: $SANCTUM_MCP_TOOLS)")
    chosen.add_argument("--read-only", dest="read_only", action="store_true",
                        help="only tools that change nothing, whatever else is chosen "
                             "($SANCTUM_MCP_READ_ONLY=1)")


def _add_http_limits(serve: argparse.ArgumentParser) -> None:
    """HTTP limits under attack; checked by transports/limits.py (each also an environment variable)."""
    from sanctum_mcp.transports.limits import DEFAULT_MAX_CONNECTIONS, HttpLimits  # light: no mcp, no uvicorn

    default = HttpLimits()
    limits = serve.add_argument_group("HTTP limits (each also $SANCTUM_MCP_<NAME>, e.g. SANCTUM_MCP_MAX_SESSIONS)")
    limits.add_argument("--max-sessions-per-user", dest="max_sessions_per_user", metavar="N",
                        help="open MCP sessions one user may hold; one more closes their least recently used idle "
                             f"session (default {default.max_sessions_per_user})")
    limits.add_argument("--max-sessions", dest="max_sessions", metavar="N",
                        help="open MCP sessions in all; beyond it non-admin users get 503 (admins are still let in) "
                             f"(default {default.max_sessions})")
    limits.add_argument("--session-idle-minutes", dest="session_idle_minutes", metavar="M",
                        help=f"close a session after M minutes without a request (default {default.session_idle_minutes:g})")
    limits.add_argument("--max-connections", dest="max_connections", metavar="N",
                        help="open connections; one more gets 503 (default: half the open-files limit, at most "
                             f"{DEFAULT_MAX_CONNECTIONS})")
    limits.add_argument("--header-timeout", dest="header_timeout", metavar="SECONDS",
                        help="close a connection whose request head is not complete by then "
                             f"(default {default.header_timeout:g})")
    limits.add_argument("--body-timeout", dest="body_timeout", metavar="SECONDS",
                        help="close a connection whose request body is not complete by then "
                             f"(default {default.body_timeout:g})")
    limits.add_argument("--allowed-host", dest="allowed_hosts", metavar="NAME[:PORT]", action="append",
                        help="also answer this Host name, e.g. a reverse proxy's (repeatable; "
                             "$SANCTUM_MCP_ALLOWED_HOSTS: a comma list)")


# Each area's operator commands live in sanctum_mcp/commands/<area>.py, exposing
# add_commands(subparsers, common) and setting `handler=` (args, db_path) on its parsers.
# registry_cli comes last: it adds the catalogue's commands, adopting the ones above (config ...,
# letta env).
_COMMAND_MODULES: tuple[str, ...] = ("config", "access", "smcp", "ops", "service", "letta", "console", "registry_cli")


def _command_modules():
    import importlib

    return [importlib.import_module(f"sanctum_mcp.commands.{name}") for name in _COMMAND_MODULES]


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for option, default in (("db", None), ("user", None), ("verbose", False)):
        if not hasattr(args, option):
            setattr(args, option, default)
    # -v turns on sanctum-mcp's own detail only: third-party loggers at DEBUG write tool arguments
    # and results (tokens, revealed secrets). See log_setup.py.
    try:
        log_setup.configure(verbose=args.verbose, log_file=getattr(args, "log_file", None))
    except log_setup.LogFileUnusable as exc:
        raise SystemExit(f"sanctum-mcp: {exc}") from None
    db_path = settings.database_path(args.db)
    args.user = settings.local_user(args.user)
    if args.user:
        # Every Registry.open in this process (any area's command) acts as this user.
        os.environ[settings.ENV_USER] = args.user
    try:
        if args.command == "serve":
            _serve(args, db_path)
        elif args.command == "init":
            _init(db_path, args.user, example=args.example)
        else:
            args.handler(args, db_path)
    except KeyboardInterrupt:
        pass


def _serve(args: argparse.Namespace, db_path) -> None:
    import anyio

    from sanctum_mcp.catalogue.toolsets import UnknownSelection, serve_selection
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SchemaTooNew

    try:
        selection = serve_selection(args.toolsets, args.tools, args.read_only, dict(os.environ))
    except UnknownSelection as exc:  # refused at start, before anything is opened
        raise SystemExit(f"sanctum-mcp: {exc}") from None
    try:
        if args.transport == "stdio":
            from sanctum_mcp.transports.stdio import serve_stdio

            anyio.run(lambda: serve_stdio(db_path, args.user, scheduler=not args.no_scheduler,
                                          db_log=not args.no_db_log, selection=selection))
        else:
            from sanctum_mcp.transports.http import BindRefused, serve_http
            from sanctum_mcp.transports.limits import InvalidLimit, http_limits
            from sanctum_mcp.transports.listen import CannotListen

            host, port = settings.http_host(args.host), settings.http_port(args.port)
            try:
                limits = http_limits(vars(args))
            except InvalidLimit as exc:
                raise SystemExit(f"sanctum-mcp: {exc}") from None
            try:
                anyio.run(lambda: serve_http(db_path, host=host, port=port, trust_loopback=args.trust_loopback,
                                             stream_responses=args.stream_responses, user=args.user,
                                             scheduler=not args.no_scheduler, db_log=not args.no_db_log,
                                             limits=limits, selection=selection))
            except (BindRefused, CannotListen) as exc:
                raise SystemExit(f"sanctum-mcp: {exc}") from None
    except (SchemaTooNew, RegistryError) as exc:
        raise cli_error(exc) from None


def _init(db_path, user: str | None = None, *, example: bool = False) -> None:
    import anyio

    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SCHEMA_VERSION, SchemaTooNew

    async def run() -> str | None:
        registry = await Registry.open(db_path, user=user)
        try:
            if example:
                from sanctum_mcp.commands.example import load_example

                return await load_example(registry, db_path)
            return None
        finally:
            await registry.close()

    try:
        loaded = anyio.run(run)
    except (SchemaTooNew, RegistryError) as exc:
        raise cli_error(exc) from None
    print(f"registry database ready at {db_path} (schema version {SCHEMA_VERSION})")
    if loaded:
        print(loaded)
