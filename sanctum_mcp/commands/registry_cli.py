"""`sanctum-mcp agents|config|tools|plugins|letta|users|jobs|logs|backups ...`: every catalogue tool
as a command, generated from the catalogue like the MCP and SMCP surfaces.

Each tool gets one path (paths.py: `agents list`, `tools instances create`, `plugins scan`). Its
input fields become arguments: the main identifier by position (every positional also has its
`--flag` form, which messages use), other fields as `--flags`, booleans as `--x/--no-x`, `confirm`
as `--yes`, arrays as a repeated flag, objects as JSON text. A command runs through
catalogue.base.run_tool as the local user (--user), so roles, audit, masking and errors are the
MCP tools' own. Results print as a table or `field  value` lines (tables.py), or as JSON with
`--json`; a failure prints its message in CLI words (wording.py) on stderr and exits with status 1
(2 for a command line argparse cannot read).

Commands that already existed keep their names and code: `config get|set|...` are the config
tools' paths (adopted here, not generated twice); `sanctum-mcp tools` with no verb still lists the
MCP tools with their roles; `sanctum-mcp backups` with no verb still lists backups as JSON; `user`,
`backup`, `verify`, `restore` and `smcp scan` stay beside the new paths.

The catalogue takes most of a second to import, so a noun's verbs are built only when that noun is
used (_LazyNoun): `sanctum-mcp --help` and `serve` never import it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanctum_mcp.commands import paths

if TYPE_CHECKING:
    from pydantic import BaseModel

    from sanctum_mcp.catalogue.base import ToolSpec

# Nouns that did something on their own before they had verbs; that stays their behaviour.
_NOUNS_WITHOUT_VERB = ("tools", "backups")
# A result that reports a failed check exits with status 1 (like `sanctum-mcp verify`).
_EXIT_UNLESS = {"verify_backup": ("ok", "problem")}
# Result fields that are advice from the registry (what a status means, what to do next): shown in
# CLI words like errors are. Not for log_event, whose message is what the caller wrote.
_HINTS = ("message", "usage", "problem", "explanation")
_CALLER_TEXT = ("log_event",)


def add_commands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    for noun, help_text in paths.NOUNS.values():
        parser = subparsers.choices.get(noun)
        if parser is None:
            parser = subparsers.add_parser(noun, parents=[common], help=help_text,
                                           description=help_text[:1].upper() + help_text[1:] + ".")
        if noun == "tools":
            parser.set_defaults(handler=_list_mcp_tools)
        parser.__class__ = _LazyNoun
        parser.populate = _populator(parser, noun, common)


class _LazyNoun(argparse.ArgumentParser):
    """A noun whose verbs are built from the catalogue the first time it parses or shows help."""

    populate: Callable[[], None] | None = None

    def _ready(self) -> None:
        populate, self.populate = self.populate, None
        if populate is not None:
            populate()

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._ready()
        return super().parse_known_args(*args, **kwargs)

    def format_help(self) -> str:
        self._ready()
        return super().format_help()

    def format_usage(self) -> str:
        self._ready()
        return super().format_usage()


def _populator(parser: argparse.ArgumentParser, noun: str, common: argparse.ArgumentParser) -> Callable[[], None]:
    def populate() -> None:
        from sanctum_mcp.catalogue import all_tools

        for spec in all_tools().values():
            path = paths.cli_path(spec)
            if path[0] != noun:
                continue
            where = parser
            for sub in path[1:-1]:
                verbs = _verbs(where, required=not (where is parser and noun in _NOUNS_WITHOUT_VERB))
                if sub not in verbs.choices:
                    verbs.add_parser(sub, parents=[common], help=f"{noun} {sub}: " + ", ".join(
                        paths.cli_path(s)[-1] for s in all_tools().values() if paths.cli_path(s)[:-1] == path[:-1]))
                where = verbs.choices[sub]
            verbs = _verbs(where, required=not (where is parser and noun in _NOUNS_WITHOUT_VERB))
            if path[-1] in verbs.choices:
                # A command that existed before (config get, ...): it already runs this tool.
                verbs.choices[path[-1]].set_defaults(cli_tool=spec.name)
            else:
                add_tool_command(verbs, path[-1], spec, common)

    return populate


def _verbs(parser: argparse.ArgumentParser, *, required: bool) -> argparse._SubParsersAction:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=f"{parser.prog.split()[-1]}_verb", required=required, metavar="VERB")


# --- one tool as one command -------------------------------------------------------------------------


def add_tool_command(verbs: argparse._SubParsersAction, verb: str, spec: ToolSpec,
                     common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from sanctum_mcp.commands.wording import for_cli

    description = for_cli(spec.description)
    parser = verbs.add_parser(verb, aliases=list(paths.ALIASES.get(spec.name, ())), parents=[common],
                              help=_summary(description),
                              description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    schema = spec.input_schema
    required = set(schema.get("required", []))
    positional = paths.positionals(spec)
    for name, prop in schema["properties"].items():
        flag = paths.flag(name)
        if flag in paths.RESERVED_FLAGS:
            raise paths.PathError(f"tool {spec.name!r}: field {name!r} would be {flag}, which every command has; "
                                  "add it to paths.FLAGS")
        kind = paths.field_kind(prop)
        help_text = (for_cli(prop.get("description", "")) + _default_note(prop)).lstrip()
        if flag == "--yes":
            # A destructive tool's confirmation: the CLI asks for none by text, --yes confirms in advance
            # whatever this run would change (catalogue/base.py run_tool, Call.confirmed).
            parser.add_argument(flag, dest="cli_yes", action="store_true",
                                help="confirm: without it, nothing is changed and the change is previewed")
            continue
        typed = {"type": {"integer": int, "number": float}.get(kind, str)}
        if "enum" in prop:
            typed["choices"] = prop["enum"]
        if kind == "boolean":
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                                required=name in required, help=help_text)
        elif kind == "array":
            items = paths.field_kind(prop.get("items") or {})
            parser.add_argument(flag, dest=name, action="append", default=None, required=name in required,
                                type={"integer": int, "number": float}.get(items, str),
                                metavar=paths.metavar(name.rstrip("s") or name),
                                help=help_text + " (repeat the flag for several)")
        elif kind == "object":
            parser.add_argument(flag, dest=name, default=None, required=name in required, metavar="JSON",
                                help=help_text + " (JSON text)")
        elif name in positional:
            # By position, and by flag too (hidden), so `--agent Athena` in a hint works as well.
            parser.add_argument(f"{name}@position", nargs="?", default=None, metavar=paths.metavar(name),
                                help=help_text, **typed)
            parser.add_argument(flag, dest=name, default=None, help=argparse.SUPPRESS, **typed)
        else:
            if paths.is_secret(name):
                help_text += "; - reads it from standard input (without echo on a terminal)"
            parser.add_argument(flag, dest=name, default=None, required=name in required,
                                metavar=None if "choices" in typed else paths.metavar(name), help=help_text, **typed)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=lambda args, db_path: _handle(parser, spec, args, db_path), cli_tool=spec.name)
    return parser


def _summary(description: str) -> str:
    """The first sentence of the first paragraph, for the list of verbs."""
    first = " ".join(description.split("\n\n")[0].split())
    end = first.find(". ")
    return first if end < 0 else first[:end + 1]


def _default_note(prop: dict[str, Any]) -> str:
    if "default" not in prop or prop["default"] in (None, False):
        return ""
    default = prop["default"]
    return f" (default: {json.dumps(default) if not isinstance(default, str) else default})"


def _handle(parser: argparse.ArgumentParser, spec: ToolSpec, args: argparse.Namespace, db_path: Path) -> None:
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.shared.errors import InvalidInput

    schema = spec.input_schema
    raw: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        value = getattr(args, name, None)
        by_position = getattr(args, f"{name}@position", None)
        if by_position is not None:
            if value is not None and value != by_position:
                parser.error(f"{paths.metavar(name)} is given twice, by position and as {paths.flag(name)}; give it once")
            value = by_position
        if value is None:
            if name in schema.get("required", []):
                parser.error(f"the following arguments are required: {paths.argument_text(spec, name)}")
            continue
        if paths.is_secret(name) and value == "-":
            value = _read_secret(name)
        if paths.field_kind(prop) == "object":
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise cli_error(InvalidInput(
                    f"{paths.flag(name)} takes a JSON object, e.g. {paths.flag(name)} '{{\"key\": \"value\"}}'; "
                    f"the text given is not JSON ({exc.msg} at character {exc.pos}). Nothing was changed.")) from None
            if not isinstance(value, dict):
                raise cli_error(InvalidInput(f"{paths.flag(name)} takes a JSON object ({{...}}), not a "
                                             f"{type(value).__name__}. Nothing was changed.")) from None
        raw[name] = value
    confirmed = getattr(args, "cli_yes", False)
    if confirmed and spec.input_schema["properties"].get("confirm", {}).get("type") == "boolean":
        # A tool whose preview is an answer of its own (switch_environment) takes confirm=true itself.
        raw["confirm"] = True
    result = run_as_local_user(db_path, spec, raw, confirmed=confirmed)
    data = result.model_dump(mode="json")
    if args.json:
        _emit(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        from sanctum_mcp.commands.tables import render
        from sanctum_mcp.commands.wording import for_cli

        if spec.name not in _CALLER_TEXT:
            data = {k: for_cli(v) if k in _HINTS and isinstance(v, str) else v for k, v in data.items()}
        _emit(render(data))
        if data.get("next_cursor"):
            print(f"(more: {paths.command_text(spec)} ... --cursor {data['next_cursor']})", file=sys.stderr)
    if spec.name in _EXIT_UNLESS:
        field, reason = _EXIT_UNLESS[spec.name]
        if not data.get(field):
            raise SystemExit(f"sanctum-mcp: {data.get(reason) or 'check failed'}")


def _read_secret(name: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"{name}: ")
    text = sys.stdin.read()
    # One trailing newline is how `echo` and files end; anything else is part of the value.
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def _emit(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from failing again on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def run_as_local_user(db_path: Path, spec: ToolSpec, raw: dict[str, Any], *, confirmed: bool = False) -> BaseModel:
    """Validate `raw`, then run the tool through the catalogue's gate as the local user (--user).
    Bad arguments are refused before the database is opened. `confirmed`: the command had --yes."""
    import anyio

    from sanctum_mcp.catalogue.base import Call, explain_failure, parse_arguments, run_tool
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import RegistryError
    from sanctum_mcp.storage.migrations import SchemaTooNew

    async def progress(done: float, total: float | None, message: str | None) -> None:
        shown = f"{done:g}/{total:g}" if total else f"{done:g}"
        print(f"{paths.command_text(spec)}: {shown} {message or ''}".rstrip(), file=sys.stderr)

    async def main() -> BaseModel:
        registry = await Registry.open(db_path)
        try:
            return await run_tool(spec, Call(registry, registry.operator, progress=progress, confirmed=confirmed),
                                  arguments)
        finally:
            await registry.close()

    try:
        arguments = parse_arguments(spec, raw)
        return anyio.run(main)
    except (RegistryError, SchemaTooNew) as exc:
        raise cli_error(exc) from None
    except sqlite3.Error as exc:
        # A constraint the domain did not pre-check, or another writer holding the database: the
        # surfaces' shared message. Anything else is a defect and goes to cli.py's top level.
        kind, message = explain_failure(spec.name, exc) if _named_database_refusal(exc) else ("", "")
        if not kind:
            raise
        raise cli_error(message) from None


def _named_database_refusal(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) or (isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc))


# --- `sanctum-mcp tools` with no verb -------------------------------------------------------------------


def _list_mcp_tools(args: argparse.Namespace, db_path: Path) -> None:
    """What `sanctum-mcp tools` printed before it had verbs: every MCP tool with the role it needs."""
    from sanctum_mcp.catalogue import all_tools

    _emit("\n".join(f"{spec.name:<28} {spec.role:<7} {spec.title}" for spec in all_tools().values()))
