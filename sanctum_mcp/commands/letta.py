"""`sanctum-mcp letta env`: the stored Letta connection as the environment Letta's clients read.

    lines=$(sanctum-mcp letta env) && eval "$lines"

prints one `export NAME=value` line per variable and one `unset ...` line for the credentials the
connection does not have (so switching connections never leaves the previous one's password behind).
Values are quoted with shlex.quote: a password holding quotes, `$(...)` or backticks comes back byte
for byte from `eval` and runs nothing. The password and token are revealed by the domain
(LettaService.reveal: admins only, audited like get_config(reveal=true)).

The other `letta` verbs are the Letta tools' generated commands (registry_cli.py adopts this noun
and adds them); `use` is `activate` (paths.ALIASES).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from sanctum_mcp.commands import paths

# Who reads which variable:
# - Letta's clients, LETTA_BASE_URL and LETTA_API_KEY: the Python client (letta_client.Letta and
#   AsyncLetta read both, and refuse to start without an API key), the TypeScript client
#   (@letta-ai/letta-client) and Letta Code. They send the key as `Authorization: Bearer`, which a
#   password-protected Letta server accepts for its password too.
# - Sanctum's components, LETTA_SERVER_URL and LETTA_SERVER_PASSWORD (with LETTA_API_KEY): SMCP,
#   and this registry's own override (domain/letta/environment.py ENV_*; spelled out here so that
#   building the parser does not import the domain).
BASE_URL, API_KEY = "LETTA_BASE_URL", "LETTA_API_KEY"
SERVER_URL, SERVER_PASSWORD = "LETTA_SERVER_URL", "LETTA_SERVER_PASSWORD"


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    noun, help_text = paths.NOUNS["Letta"]
    letta = subparsers.add_parser(noun, parents=[common], help=help_text,
                                  description=help_text[:1].upper() + help_text[1:] + ".")
    verbs = letta.add_subparsers(dest=f"{noun}_verb", required=True, metavar="VERB")
    env = verbs.add_parser(
        "env", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="print the active Letta connection as shell variables for Letta's clients (admin; audited)",
        description="Print the active Letta connection (or --server ID) as the variables Letta's clients read:\n"
                    "LETTA_BASE_URL and LETTA_API_KEY (Letta's Python and TypeScript clients, Letta Code),\n"
                    "LETTA_SERVER_URL and LETTA_SERVER_PASSWORD (SMCP and Sanctum's other components).\n"
                    "The password and token are printed in clear: admins only, and every run is audited.\n\n"
                    "  lines=$(sanctum-mcp letta env) && eval \"$lines\"",
    )
    env.add_argument("--server", type=int, metavar="ID", help="this connection instead of the active one")
    env.set_defaults(handler=_env)


def shell_lines(url: str, password: str | None, token: str | None) -> list[str]:
    """`export` lines for what the connection has, one `unset` line for the credentials it lacks."""
    values = {BASE_URL: url, SERVER_URL: url, API_KEY: token or password, SERVER_PASSWORD: password}
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items() if value]
    missing = [name for name in (API_KEY, SERVER_PASSWORD) if not values[name]]
    if missing:
        lines.append("unset " + " ".join(missing))
    return lines


def _env(args: argparse.Namespace, db_path: Path) -> None:
    import anyio

    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SchemaTooNew

    if args.server is not None and args.server < 1:
        raise cli_error("--server takes a connection id (1 or more; sanctum-mcp letta list shows them).")

    async def reveal():
        registry = await Registry.open(db_path)
        try:
            return await registry.letta.reveal(registry.operator, args.server)
        finally:
            await registry.close()

    try:
        connection = anyio.run(reveal)
    except (RegistryError, SchemaTooNew) as exc:
        raise cli_error(exc) from None
    print("\n".join(shell_lines(connection.url, connection.password, connection.token)), flush=True)
    if sys.stdout.isatty():
        print(f"(Letta connection {connection.server_id}, {connection.url}; the lines above hold its secrets "
              "in clear. Load them with: lines=$(sanctum-mcp letta env) && eval \"$lines\")", file=sys.stderr)
