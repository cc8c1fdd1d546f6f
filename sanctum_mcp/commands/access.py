"""`sanctum-mcp user add|list|token|revoke-token`: users and API tokens from the terminal.

Each command runs the same catalogue tool an MCP client would, through the same role gate, as the
local user (--user, else the oldest active admin; on a new database the admin `operator` is
created first). `user token` prints the token alone on stdout, so `TOKEN=$(sanctum-mcp user token
letta)` works; it is shown once and stored only as a hash.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    user = subparsers.add_parser("user", parents=[common], help="manage users and their API tokens")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", parents=[common], help="create a user")
    add.add_argument("username")
    add.add_argument("--role", choices=["viewer", "user", "admin"], default="viewer",
                     help="viewer reads; user also changes non-sensitive data; admin does everything (default viewer)")
    add.add_argument("--email")
    add.add_argument("--agents", metavar="A,B", help="limit agent tools to these agents (comma-separated)")
    add.add_argument("--tools", metavar="T,U", help="limit the user to these tools (comma-separated)")
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", parents=[common], help="list users and their tokens")
    listing.set_defaults(handler=_list)

    token = actions.add_parser("token", parents=[common], help="create an API token for a user (printed once)")
    token.add_argument("username")
    token.add_argument("--name", help="a label for the token, e.g. 'letta'")
    token.set_defaults(handler=_token)

    revoke = actions.add_parser("revoke-token", parents=[common], help="revoke an API token by id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(handler=_revoke)


def _run(db_path: Path, tool_name: str, raw: dict[str, Any]) -> Any:
    import anyio

    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SchemaTooNew

    async def run() -> Any:
        registry = await Registry.open(db_path)
        try:
            spec = all_tools()[tool_name]
            return await run_tool(spec, Call(registry, registry.operator), parse_arguments(spec, raw))
        finally:
            await registry.close()

    try:
        return anyio.run(run)
    except (RegistryError, SchemaTooNew) as exc:
        raise cli_error(exc) from None


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _add(args: argparse.Namespace, db_path: Path) -> None:
    raw: dict[str, Any] = {"username": args.username, "role": args.role}
    if args.email:
        raw["email"] = args.email
    permissions = {k: v for k, v in (("agents", _split(args.agents)), ("tools", _split(args.tools))) if v is not None}
    if permissions:
        raw["permissions"] = permissions
    user = _run(db_path, "create_user", raw)
    print(f"user {user.username!r} created (id {user.id}, role {user.role}); "
          f"give it HTTP access with: sanctum-mcp user token {user.username}")


def _list(args: argparse.Namespace, db_path: Path) -> None:
    cursor = None
    print(f"{'id':>4}  {'username':<24} {'role':<7} {'active':<6} {'last login':<25} tokens (id:name, * = revoked)")
    while True:
        page = _run(db_path, "list_users", {"limit": 500} | ({"cursor": cursor} if cursor else {}))
        for user in page.users:
            tokens = ", ".join(f"{t.id}:{t.name or '-'}{'' if t.active else '*'}" for t in user.tokens) or "-"
            limits = f"  limited to {user.permissions.model_dump(exclude_none=True)}" if user.permissions else ""
            print(f"{user.id:>4}  {user.username:<24} {user.role:<7} {'yes' if user.is_active else 'no':<6} "
                  f"{user.last_login or '-':<25} {tokens}{limits}")
        cursor = page.next_cursor
        if not cursor:
            break


def _token(args: argparse.Namespace, db_path: Path) -> None:
    raw: dict[str, Any] = {"user": args.username}
    if args.name:
        raw["name"] = args.name
    new = _run(db_path, "create_api_token", raw)
    print(new.token)
    print(f"token {new.token_id} for {new.username!r}: shown only this once. Send it as "
          "'Authorization: Bearer <token>'; revoke it with: sanctum-mcp user revoke-token "
          f"{new.token_id}", file=sys.stderr)


def _revoke(args: argparse.Namespace, db_path: Path) -> None:
    result = _run(db_path, "revoke_api_token", {"token_id": args.token_id})
    state = "was already revoked" if result.already_revoked else "revoked"
    print(f"token {result.token.id} of {result.username!r} {state} ({result.token.revoked_at})")
