"""`sanctum-mcp console link`: a one-time sign-in link to the browser console for the local
operator (--user, else the oldest active admin), usable once within 5 minutes
(sanctum_mcp/console/links.py). Only someone who can run commands on the registry's database can
print one, as only they can act as the operator in the CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sanctum_mcp import settings


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    console = subparsers.add_parser("console", parents=[common], help="the browser console: print a sign-in link",
                                    description="The browser console served at / by `serve --transport http`.")
    verbs = console.add_subparsers(dest="console_verb", required=True, metavar="VERB")
    link = verbs.add_parser("link", parents=[common],
                            help="print a one-time sign-in link for the local operator (works once, for 5 minutes)")
    link.add_argument("--host", help=f"the server's address in the link (default: ${settings.ENV_HOST} or "
                                     f"{settings.DEFAULT_HOST}; a wildcard becomes 127.0.0.1)")
    link.add_argument("--port", type=int, help=f"the server's port (default: ${settings.ENV_PORT} or "
                                               f"{settings.DEFAULT_PORT})")
    link.set_defaults(handler=_link)


def _link(args: argparse.Namespace, db_path: Path) -> None:
    import anyio

    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.console.links import PATH, create_link
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SchemaTooNew

    port = settings.http_port(args.port)
    if not 1 <= port <= 65535:
        raise cli_error(f"--port {port} is not a port number (1-65535).")

    async def operator() -> Any:
        registry = await Registry.open(db_path)
        try:
            return registry.operator
        finally:
            await registry.close()

    try:
        caller = anyio.run(operator)
    except (RegistryError, SchemaTooNew) as exc:
        raise cli_error(exc) from None
    host = settings.http_host(args.host)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    secret = create_link(db_path, caller.user_id)
    print(f"http://{shown}:{port}{PATH}?t={secret}", flush=True)
    print(f"(signs in {caller.username!r} once, within 5 minutes; open it in a browser on this machine)",
          file=sys.stderr)
