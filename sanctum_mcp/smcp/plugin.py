"""The SMCP plugin entry point, following SMCP's plugin contract v1.

    python -m sanctum_mcp.smcp [--user NAME] [--allow-secrets] [--toolsets NAMES] [--] --describe
        prints the contract-v1 JSON: one command per tool of the live catalogue, its input fields
        as parameters (type, description, required, default, items, enum).
    python -m sanctum_mcp.smcp --user NAME [--allow-secrets] [--smcp-plugins-dir DIR --smcp-python PY] [--]
            <command> --flag value ...
        parses argv as SMCP renders it (`--agent-id` for `agent_id`, booleans `true|false`, objects
        as one JSON string, arrays as a repeated flag), runs the tool as the registry user NAME
        through the same gate as every surface, against the registry at $SANCTUM_MCP_DB (or the
        default), prints the result JSON and exits 0.
        On any failure: exit 1 and `{"status": "error", "error": "<kind>: <message>", "error_type": "<kind>"}`
        (SMCP passes on only `error`, so it carries the kind too).

The options before `--` are the shim's (`sanctum-mcp smcp install` pins them); SMCP's argv follows.
Any client of SMCP can run a command (SMCP needs no credentials on loopback), so the plugin acts as
the user chosen at install, never as an ambient one ($SANCTUM_MCP_USER is ignored, and nobody is
created), and SMCP logs every argument and result in clear, so without --allow-secrets no secret
passes: tools and arguments declared with `secrets=` in the catalogue are left out of --describe and
refused, and so are sensitive settings and writeOnly instance secrets (`Caller.no_secrets`).
--toolsets (pinned by `smcp install --toolsets`) publishes and serves only that selection.
--smcp-plugins-dir and --smcp-python (the shim passes them on every run: the folder it sits in and the
Python SMCP runs it with) are the defaults of sync_smcp_plugins's plugins_dir and python through SMCP.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.shared.errors import InvalidInput

if TYPE_CHECKING:
    from pydantic import BaseModel

    from sanctum_mcp.catalogue.base import ToolSpec
    from sanctum_mcp.catalogue.toolsets import Selection

PLUGIN_NAME = "sanctum"
TOOL_PREFIX = PLUGIN_NAME + "__"
PLUGIN_DESCRIPTION = (
    "The Sanctum registry: agents, tools and tool instances, plugins, configuration, scheduled jobs "
    "and more, as SMCP commands."
)
JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object")
SECRETS_REFUSED = (
    "the 'sanctum' SMCP plugin passes no secrets: SMCP logs every argument and result in clear. Use the "
    "operator CLI (e.g. `sanctum-mcp config set KEY -`, `sanctum-mcp user token NAME`) or an MCP client of "
    "`sanctum-mcp serve` for secrets, or reinstall the plugin with `sanctum-mcp smcp install --allow-secrets`."
)


# --- --describe ----------------------------------------------------------------------------------


def parameter(name: str, prop: dict[str, Any], required: bool) -> dict[str, Any]:
    """One input property as a contract-v1 parameter, written for what SMCP 3.1.0 keeps of it: its
    `type`, `description` and `default` (it drops `enum`, limits and an object's properties)."""
    from sanctum_mcp.catalogue.base import JSON_TEXT_NOTE

    declared = prop.get("type")
    description = prop.get("description", "")
    allowed = prop.get("enum") or (prop.get("items") or {}).get("enum")
    if allowed:
        description = f"{description} Allowed values: {', '.join(str(v) for v in allowed)}.".lstrip()
    if declared == "object":
        # SMCP would publish {"type": "object"} with none of its properties: a free-form object that
        # Letta grades non-strict. JSON text keeps the tool strict; the command decodes it (convert).
        declared, description = "string", description + JSON_TEXT_NOTE
    param: dict[str, Any] = {
        "name": name,
        "type": declared if declared in JSON_TYPES else "string",
        "description": description,
        "required": required,
    }
    if "default" in prop:
        param["default"] = prop["default"]
    if "enum" in prop:
        param["enum"] = prop["enum"]
    if declared == "array":
        param["items"] = prop.get("items") or {"type": "string"}
    return param


def command(spec: ToolSpec, *, allow_secrets: bool = True) -> dict[str, Any]:
    schema = spec.input_schema
    required = set(schema.get("required", []))
    hidden = [] if allow_secrets or spec.secrets is True else list(spec.secrets)
    # The description may mention a withheld argument: say why a model cannot pass it here.
    note = (f" (Through SMCP, which logs every argument, {' and '.join(hidden)} "
            f"{'are' if len(hidden) > 1 else 'is'} not offered: {'they carry' if len(hidden) > 1 else 'it carries'} a secret.)")
    return {
        "name": spec.name,
        "description": spec.description + (note if hidden else ""),
        "parameters": [_smcp_default(spec.name, parameter(name, prop, name in required))
                       for name, prop in schema["properties"].items() if name not in hidden],
    }


def _smcp_default(command_name: str, param: dict[str, Any]) -> dict[str, Any]:
    if param["name"] in SMCP_DEFAULTS.get(command_name, {}):
        param["description"] += " Through SMCP, omitted: SMCP's own."
    return param


def describe_payload(*, allow_secrets: bool = False, toolsets: str | None = None) -> dict[str, Any]:
    """Without allow_secrets: no tool whose result is a secret, and no argument that carries one.
    toolsets (pinned at install): only the tools that selection names (catalogue/toolsets.py)."""
    from sanctum_mcp import __version__
    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.domain.smcp.contract import CONTRACT_VERSION

    chosen = _selection(toolsets)

    return {
        "contract_version": CONTRACT_VERSION,
        "plugin": {"name": PLUGIN_NAME, "version": __version__, "description": PLUGIN_DESCRIPTION},
        "commands": [command(spec, allow_secrets=allow_secrets) for spec in all_tools().values()
                     if (allow_secrets or spec.secrets is not True) and chosen.admits(spec.name)],
    }


# --- argv -> arguments -------------------------------------------------------------------------------


def parse_argv(spec: ToolSpec, argv: Sequence[str]) -> dict[str, Any]:
    """SMCP-rendered flags back into the raw arguments of spec.input (validated afterwards)."""
    properties: dict[str, Any] = spec.input_schema["properties"]
    flags = ", ".join("--" + name.replace("_", "-") for name in properties) or "none"
    raw: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or token == "--":
            raise InvalidInput(f"unexpected argument {token[:40]!r}: {spec.name} takes --flag value pairs ({flags}).")
        flag, has_inline, inline = token[2:].partition("=")
        name = flag.replace("-", "_")
        if name not in properties:
            raise InvalidInput(f"{spec.name} has no argument --{flag[:40]}; its arguments are {flags}.")
        if has_inline:
            value, i = inline, i + 1
        elif i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
        else:
            raise InvalidInput(f"--{flag} needs a value.")
        prop = properties[name]
        if prop.get("type") == "array":
            raw.setdefault(name, []).append(convert(value, prop.get("items") or {}, flag))
        elif name in raw:
            raise InvalidInput(f"--{flag} is given twice; it takes one value.")
        else:
            raw[name] = convert(value, prop, flag)
    return raw


def convert(value: str, prop: dict[str, Any], flag: str) -> Any:
    from sanctum_mcp.catalogue.base import json_kind

    kind = json_kind(prop)
    if kind == "boolean":
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidInput(f"--{flag} takes true or false.")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"--{flag} takes a whole number.") from None
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            raise InvalidInput(f"--{flag} takes a number.") from None
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if kind in ("object", "array"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidInput(f"--{flag} takes a JSON {kind} as one argument.") from None
        if not isinstance(parsed, dict if kind == "object" else list):
            raise InvalidInput(f"--{flag} takes a JSON {kind}.")
        return parsed
    return value


# --- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the shim pins before SMCP's argv."""

    user: str | None = None
    allow_secrets: bool = False
    toolsets: str | None = None  # the selection pinned at install (None: every tool)
    # What the shim sees of SMCP on each run: the plugins folder it sits in and SMCP's Python.
    smcp_plugins_dir: str | None = None
    smcp_python: str | None = None


# Arguments that default to what SMCP itself is, when a command runs through SMCP (Options fields).
SMCP_DEFAULTS = {"sync_smcp_plugins": {"plugins_dir": "smcp_plugins_dir", "python": "smcp_python"}}


def _selection(toolsets: str | None) -> Selection:
    from sanctum_mcp.catalogue.toolsets import UnknownSelection, select

    try:
        return select(toolsets=toolsets)
    except UnknownSelection as exc:  # a hand-edited shim: say so, as any other bad input
        raise InvalidInput(f"the shim's toolsets: {exc}; run `sanctum-mcp smcp install --toolsets ...` again") from None


VALUED_OPTIONS = {"--user": "user", "--toolsets": "toolsets", "--smcp-plugins-dir": "smcp_plugins_dir",
                  "--smcp-python": "smcp_python"}


def split_options(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """`[--user NAME] [--allow-secrets] [--toolsets NAMES] [--smcp-plugins-dir DIR] [--smcp-python PY]
    [--] ARGV` -> (options, ARGV). Each option once; after `--` (which the shim always writes)
    everything is SMCP's, so a client cannot add options."""
    values: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        field = VALUED_OPTIONS.get(token)
        if field is not None and field not in values and i + 1 < len(argv):
            values[field], i = argv[i + 1], i + 2
        elif token == "--allow-secrets" and "allow_secrets" not in values:
            values["allow_secrets"], i = True, i + 1
        else:
            if token == "--":
                i += 1
            break
    return Options(**values), list(argv[i:])


async def _run(spec: ToolSpec, args: Any, options: Options) -> BaseModel:
    from sanctum_mcp import settings
    from sanctum_mcp.catalogue.base import Call, run_tool
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.errors import Forbidden, NotFound

    user = options.user
    if not user:
        raise Forbidden(
            "the 'sanctum' SMCP plugin acts as a registry user chosen at install, and this shim names none (it "
            "predates that choice): run `sanctum-mcp smcp install --plugins-dir DIR [--user NAME]` again, or pass "
            "--user NAME before the command."
        )
    path = settings.database_path()
    chosen = f"the 'sanctum' SMCP plugin acts as the registry user {user!r} (chosen by `sanctum-mcp smcp install`)"
    try:
        # Exactly that user: never $SANCTUM_MCP_USER, never the oldest admin, and on a database without
        # users nobody is created (the first user of a database is an admin).
        registry = await Registry.open(path, user=user, create_first_user=False)
    except NotFound:
        raise NotFound(f"{chosen}, and {path} has no such user. Create it (`sanctum-mcp user add {user} --role "
                       "user`) or run `sanctum-mcp smcp install --user NAME` again.") from None
    except Forbidden:
        raise Forbidden(f"{chosen}, which is deactivated. Reactivate it (update_user active=true) or run "
                        "`sanctum-mcp smcp install --user NAME` again.") from None
    caller = replace(registry.operator, no_secrets=None if options.allow_secrets else SECRETS_REFUSED)
    try:
        return await run_tool(spec, Call(registry, caller), args)
    finally:
        await registry.close()


def run_command(name: str, argv: Sequence[str], options: Options) -> str:
    """Run one command; returns the result JSON or raises."""
    import asyncio

    from sanctum_mcp.catalogue import find_tool
    from sanctum_mcp.catalogue.base import parse_arguments

    # Outside the pinned selection reads exactly as a command that does not exist: nothing to probe.
    spec = find_tool(name) if _selection(options.toolsets).admits(name) else None
    if spec is None:
        raise InvalidInput(f"unknown command {name[:60]!r}; run with --describe to list the commands.")
    raw = parse_argv(spec, argv)
    for argument, field in SMCP_DEFAULTS.get(spec.name, {}).items():
        if raw.get(argument) is None and getattr(options, field):
            raw[argument] = getattr(options, field)
    args = parse_arguments(spec, raw)
    return asyncio.run(_run(spec, args, options)).model_dump_json()


def main(argv: Sequence[str] | None = None) -> int:
    options, argv = split_options(list(sys.argv[1:] if argv is None else argv))
    name = argv[0] if argv else ""
    try:
        if argv == ["--describe"]:
            output = json.dumps(describe_payload(allow_secrets=options.allow_secrets, toolsets=options.toolsets))
        elif not argv or name.startswith("-"):
            raise InvalidInput("usage: [--user NAME] [--allow-secrets] [--] --describe | <command> --flag value ... "
                               "(see --describe for the commands).")
        else:
            output = run_command(name, argv[1:], options)
    except Exception as exc:  # every failure is a JSON answer with a string error, never a traceback
        from sanctum_mcp.catalogue.base import explain_failure
        from sanctum_mcp.storage.migrations import SchemaTooNew

        if isinstance(exc, SchemaTooNew):
            kind, message = "unavailable", str(exc)
        else:
            kind, message = explain_failure(name or "sanctum", exc)
        # SMCP shows a client only the `error` string (as its own code plugin_error): it starts with the kind.
        sys.stdout.write(json.dumps({"status": "error", "error": f"{kind}: {message}", "error_type": kind}) + "\n")
        return 1
    sys.stdout.write(output + "\n")
    return 0
