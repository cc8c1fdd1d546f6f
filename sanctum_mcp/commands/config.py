"""`sanctum-mcp config get|set|list|history|delete|reset|rollback` and `sanctum-mcp rotate-key`.

The config commands run the very same catalogue entries as the MCP tools (same validation, role
gate, domain rules, audit and masking), as the local operator (admin on their own machine).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    config = subparsers.add_parser(
        "config", help="read and change settings (the same rules and masking as the MCP tools)",
        description="Read and change Sanctum's layered settings as the local operator.",
    )
    actions = config.add_subparsers(dest="config_action", required=True, metavar="ACTION")

    get = actions.add_parser("get", parents=[common], help="the effective value of a key and where it comes from")
    get.add_argument("key")
    get.add_argument("--agent", help="resolve for this agent (name or id)")
    get.add_argument("--tool", help="resolve for this tool (name or id)")
    get.add_argument("--instance", help="resolve for this tool instance (id)")
    get.add_argument("--for-user", help="apply this user's preferences first (user scope)")
    get.add_argument("--reveal", action="store_true", help="print a sensitive value in clear (audited)")
    get.add_argument("--json", action="store_true", help="print the result as JSON")
    get.set_defaults(handler=_get)

    put = actions.add_parser(
        "set", parents=[common], help="set a key at one scope",
        description="Set a key. VALUE '-' reads the value from standard input (without echo on a terminal), "
        "which keeps secrets out of the shell history.",
    )
    put.add_argument("key")
    put.add_argument("value", help="the value as text, or - to read it from standard input")
    _scope_arguments(put)
    put.add_argument("--type", choices=["string", "integer", "number", "boolean", "json"], help="type of a new key")
    put.add_argument("--description", help="what the setting is for")
    put.add_argument("--category", help="grouping (system scope: api_keys, paths, ports, general)")
    put.add_argument("--sensitive", action="store_true", default=None, help="the value is a secret")
    put.add_argument("--expected-version", type=int, help="check-and-set: the version you last read")
    put.add_argument("--create", action="store_true", default=None,
                     help="the key is new on purpose (a new key one slip from an existing one is refused without it)")
    put.add_argument("--json", action="store_true", help="print the result as JSON")
    put.set_defaults(handler=_set)

    listing = actions.add_parser("list", parents=[common], help="stored settings (masked)")
    listing.add_argument("--category")
    listing.add_argument("--scope", choices=["system", "agent", "tool", "instance", "user"])
    listing.add_argument("--target")
    listing.add_argument("--prefix", help="only keys starting with this text")
    listing.add_argument("--json", action="store_true", help="print the entries as JSON")
    listing.set_defaults(handler=_list)

    history = actions.add_parser("history", parents=[common], help="every version of a key at one scope")
    history.add_argument("key")
    _scope_arguments(history)
    history.add_argument("--json", action="store_true", help="print the entries as JSON")
    history.set_defaults(handler=_history)

    delete = actions.add_parser("delete", parents=[common], help="remove a key at one scope")
    delete.add_argument("key")
    _scope_arguments(delete)
    delete.add_argument("--expected-version", type=int)
    delete.add_argument("--json", action="store_true")
    delete.set_defaults(handler=_delete)

    reset = actions.add_parser("reset", parents=[common], help="restore a seeded system key to its default")
    reset.add_argument("key")
    _environment_argument(reset)
    reset.add_argument("--expected-version", type=int)
    reset.add_argument("--json", action="store_true")
    reset.set_defaults(handler=_reset)

    rollback = actions.add_parser("rollback", parents=[common], help="restore the value of an earlier version")
    rollback.add_argument("key")
    rollback.add_argument("version", type=int)
    _scope_arguments(rollback)
    rollback.add_argument("--expected-version", type=int)
    rollback.add_argument("--yes", action="store_true",
                          help="confirm: without it, nothing is changed and the rollback is previewed")
    rollback.add_argument("--json", action="store_true")
    rollback.set_defaults(handler=_rollback)

    from sanctum_mcp.commands import config_transfer

    config_transfer.add_commands(actions, common)

    rotate = subparsers.add_parser(
        "rotate-key", parents=[common], help="re-encrypt every stored secret under a new key",
        description="Re-encrypt every stored secret under a new key in one transaction. The old key keeps "
        "decrypting until the rotation has committed; then the key file holds only the new key.",
    )
    rotate.set_defaults(handler=_rotate)


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scope", default="system", choices=["system", "agent", "tool", "instance", "user"],
                        help="default: system")
    parser.add_argument("--target", help="agent or tool name (or id), instance id, user name; not for system")
    _environment_argument(parser)


def _environment_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--environment", choices=["development", "staging", "production"],
                        help="the value for this environment only (default: the general value)")


# --- running a catalogue entry as the operator ------------------------------------------------------


def run_as_operator(db_path, tool_name: str, raw: dict[str, Any], *, confirmed: bool = False) -> Any:
    """Run one tool through the catalogue (validation, role gate, domain) as the local operator.
    `confirmed`: the command had --yes (a destructive tool's preview is confirmed at once)."""
    import anyio

    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
    from sanctum_mcp.domain.registry import Registry

    spec = all_tools()[tool_name]
    arguments = {k: v for k, v in raw.items() if v is not None}

    async def go() -> Any:
        registry = await Registry.open(db_path)
        try:
            return await run_tool(spec, Call(registry, _operator(registry), confirmed=confirmed),
                                  parse_arguments(spec, arguments))
        finally:
            await registry.close()

    return _guarded(lambda: anyio.run(go))


def _operator(registry):
    """Who the CLI acts as: the registry's local user when it has one, else the local operator."""
    from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR

    return getattr(registry, "operator", LOCAL_OPERATOR)


def _guarded(fn):
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SchemaTooNew

    try:
        return fn()
    except (RegistryError, SchemaTooNew) as exc:
        raise cli_error(exc) from None


def _print_json(model: Any) -> None:
    print(model.model_dump_json(indent=2))


def _targets(args: argparse.Namespace) -> dict[str, Any]:
    return {"scope": args.scope, "target": args.target, "environment": args.environment}


# --- handlers ----------------------------------------------------------------------------------------


def _get(args: argparse.Namespace, db_path) -> None:
    result = run_as_operator(db_path, "get_config", {
        "key": args.key, "agent": args.agent, "tool": args.tool, "instance": args.instance, "user": args.for_user,
        "reveal": args.reveal or None,
    })
    if args.json:
        return _print_json(result)
    print(f"{result.key} = {result.value}")
    print(result.explanation)
    if result.revealed_value is not None:
        print(f"revealed: {result.revealed_value}")


def _read_value(value: str) -> str:
    if value != "-":
        return value
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("value: ")
    text = sys.stdin.read()
    # One trailing newline is how `echo` and files end; anything else is part of the value.
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _set(args: argparse.Namespace, db_path) -> None:
    result = run_as_operator(db_path, "set_config", {
        "key": args.key, "value": _read_value(args.value), **_targets(args), "type": args.type,
        "description": args.description, "category": args.category, "sensitive": args.sensitive,
        "expected_version": args.expected_version, "create": args.create,
    })
    _print_change(result, args.json)


def _delete(args: argparse.Namespace, db_path) -> None:
    result = run_as_operator(db_path, "delete_config", {
        "key": args.key, **_targets(args), "expected_version": args.expected_version,
    })
    _print_change(result, args.json)


def _reset(args: argparse.Namespace, db_path) -> None:
    result = run_as_operator(db_path, "reset_config", {"key": args.key, "expected_version": args.expected_version,
                                                       "environment": args.environment})
    _print_change(result, args.json)


def _rollback(args: argparse.Namespace, db_path) -> None:
    result = run_as_operator(db_path, "rollback_config", {
        "key": args.key, "version": args.version, **_targets(args), "expected_version": args.expected_version,
    }, confirmed=args.yes)
    _print_change(result, args.json)


def _print_change(result: Any, as_json: bool) -> None:
    if as_json:
        return _print_json(result)
    print(result.message)


def _list(args: argparse.Namespace, db_path) -> None:
    entries, cursor = [], None
    while True:
        page = run_as_operator(db_path, "list_config", {
            "category": args.category, "scope": args.scope, "target": args.target, "prefix": args.prefix,
            "cursor": cursor, "limit": 500,
        })
        entries += page.entries
        cursor = page.next_cursor
        if not cursor:
            break
    if args.json:
        import json

        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    rows = [("KEY", "SCOPE", "TARGET", "ENVIRONMENT", "VALUE", "TYPE", "VERSION")]
    rows += [(e.key, e.scope, e.target, e.environment or "all", str(e.value), e.type, str(e.version)) for e in entries]
    _print_table(rows)


def _history(args: argparse.Namespace, db_path) -> None:
    entries, cursor = [], None
    while True:
        page = run_as_operator(db_path, "config_history", {
            "key": args.key, **_targets(args), "cursor": cursor, "limit": 500,
        })
        entries += page.entries
        cursor = page.next_cursor
        if not cursor:
            break
    if args.json:
        import json

        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    rows = [("VERSION", "CHANGE", "VALUE", "BY", "AT")]
    rows += [(str(e.version), e.change, str(e.value), e.changed_by or "", e.created_at) for e in entries]
    _print_table(rows)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _rotate(args: argparse.Namespace, db_path) -> None:
    import anyio

    from sanctum_mcp.domain.keys import rotate_key
    from sanctum_mcp.domain.registry import Registry

    async def go():
        registry = await Registry.open(db_path)
        try:
            return await rotate_key(registry, _operator(registry))
        finally:
            await registry.close()

    print(_guarded(lambda: anyio.run(go)).message)
