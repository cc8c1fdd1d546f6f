"""The SMCP plugin entry point, following SMCP's plugin contract v1.

    python -m sanctum_mcp.smcp --describe
        prints the contract-v1 JSON: one command per tool of the live catalogue, its input fields
        as parameters (type, description, required, default, items, enum).
    python -m sanctum_mcp.smcp <command> --flag value ...
        parses argv as SMCP renders it (`--agent-id` for `agent_id`, booleans `true|false`, objects
        as one JSON string, arrays as a repeated flag), runs the tool as the local user
        ($SANCTUM_MCP_USER, else the oldest active admin) through the same role gate as every
        surface, against the registry at $SANCTUM_MCP_DB (or the default), prints the result JSON
        and exits 0.
        On any failure: exit 1 and `{"status": "error", "error": "<string>", "error_type": "<kind>"}`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.errors import InvalidInput

if TYPE_CHECKING:
    from pydantic import BaseModel

    from sanctum_mcp.catalogue.base import ToolSpec

PLUGIN_NAME = "sanctum"
TOOL_PREFIX = PLUGIN_NAME + "__"
PLUGIN_DESCRIPTION = (
    "The Sanctum registry: agents, tools and tool instances, plugins, configuration, scheduled jobs "
    "and more, as SMCP commands."
)
JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object")


# --- --describe ----------------------------------------------------------------------------------


def parameter(name: str, prop: dict[str, Any], required: bool) -> dict[str, Any]:
    declared = prop.get("type")
    param: dict[str, Any] = {
        "name": name,
        "type": declared if declared in JSON_TYPES else "string",
        "description": prop.get("description", ""),
        "required": required,
    }
    if "default" in prop:
        param["default"] = prop["default"]
    if "enum" in prop:
        param["enum"] = prop["enum"]
    if declared == "array":
        param["items"] = prop.get("items") or {"type": "string"}
    return param


def command(spec: ToolSpec) -> dict[str, Any]:
    schema = spec.input_schema
    required = set(schema.get("required", []))
    return {
        "name": spec.name,
        "description": spec.description,
        "parameters": [parameter(name, prop, name in required) for name, prop in schema["properties"].items()],
    }


def describe_payload() -> dict[str, Any]:
    from sanctum_mcp import __version__
    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.domain.smcp import CONTRACT_VERSION

    return {
        "contract_version": CONTRACT_VERSION,
        "plugin": {"name": PLUGIN_NAME, "version": __version__, "description": PLUGIN_DESCRIPTION},
        "commands": [command(spec) for spec in all_tools().values()],
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
    kind = prop.get("type")
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


async def _run(spec: ToolSpec, args: Any) -> BaseModel:
    from sanctum_mcp import settings
    from sanctum_mcp.catalogue.base import Call, run_tool
    from sanctum_mcp.domain.registry import Registry

    # The local user, as for stdio and the CLI: $SANCTUM_MCP_USER, else the oldest active admin.
    registry = await Registry.open(settings.database_path())
    try:
        return await run_tool(spec, Call(registry, registry.operator), args)
    finally:
        await registry.close()


def run_command(name: str, argv: Sequence[str]) -> str:
    """Run one command; returns the result JSON or raises."""
    import asyncio

    from sanctum_mcp.catalogue import find_tool
    from sanctum_mcp.catalogue.base import parse_arguments

    spec = find_tool(name)
    if spec is None:
        raise InvalidInput(f"unknown command {name[:60]!r}; run with --describe to list the commands.")
    args = parse_arguments(spec, parse_argv(spec, argv))
    return asyncio.run(_run(spec, args)).model_dump_json()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv else ""
    try:
        if argv == ["--describe"]:
            output = json.dumps(describe_payload())
        elif not argv or name.startswith("-"):
            raise InvalidInput("usage: --describe, or <command> --flag value ... (see --describe for the commands).")
        else:
            output = run_command(name, argv[1:])
    except Exception as exc:  # every failure is a JSON answer with a string error, never a traceback
        from sanctum_mcp.catalogue.base import explain_failure
        from sanctum_mcp.storage.migrations import SchemaTooNew

        if isinstance(exc, SchemaTooNew):
            kind, message = "unavailable", str(exc)
        else:
            kind, message = explain_failure(name or "sanctum", exc)
        sys.stdout.write(json.dumps({"status": "error", "error": message, "error_type": kind}) + "\n")
        return 1
    sys.stdout.write(output + "\n")
    return 0
