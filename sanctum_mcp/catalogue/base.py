"""The tool catalogue: one entry per tool, the single source for every surface.

An entry names the tool, its input and output models, the role it needs, its behaviour hints and
the async handler that calls the domain. The MCP server, the SMCP plugin contract, the operator
CLI, README's tool table test and the Letta schema test all read this list. No `mcp` import here.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError

from sanctum_mcp.domain.errors import Forbidden, InvalidInput
from sanctum_mcp.domain.identity import Caller, Role

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


class ToolInput(BaseModel):
    """Base of every tool's arguments. Unknown arguments are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Call:
    """What a handler gets besides its arguments."""

    registry: Registry
    caller: Caller
    progress: ProgressFn | None = None

    async def report(self, done: float, total: float | None = None, message: str | None = None) -> None:
        if self.progress is not None:
            await self.progress(done, total, message)


Handler = Callable[[Call, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    group: str
    input: type[ToolInput]
    output: type[BaseModel]
    handler: Handler
    role: Role
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = False
    # Extra role check that depends on the arguments (e.g. sensitive config needs admin).
    extra_role: Callable[[Any], Role | None] | None = field(default=None, compare=False)

    @property
    def mutates(self) -> bool:
        return not self.read_only

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        return portable_schema(self.input.model_json_schema())

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        return compact_output_schema(self.output.model_json_schema())

    def role_needed(self, args: Any) -> Role:
        if self.extra_role is not None:
            return self.extra_role(args) or self.role
        return self.role


_CATALOGUE: dict[str, ToolSpec] = {}


def tool(
    name: str,
    *,
    title: str,
    group: str,
    role: Role,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    extra_role: Callable[[Any], Role | None] | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler `async def h(call: Call, args: SomeInput) -> SomeOutput` as a tool.

    The docstring is the description a model reads: say what it does and when to use it.
    """

    def register(handler: Handler) -> Handler:
        hints = get_type_hints(handler)
        params = list(inspect.signature(handler).parameters)
        if name in _CATALOGUE:
            raise ValueError(f"tool {name!r} registered twice")
        if read_only and destructive:
            raise ValueError(f"tool {name!r} cannot be both read-only and destructive")
        _CATALOGUE[name] = ToolSpec(
            name=name,
            title=title,
            description=inspect.cleandoc(handler.__doc__ or ""),
            group=group,
            input=hints[params[1]],
            output=hints["return"],
            handler=handler,
            role=role,
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
            extra_role=extra_role,
        )
        return handler

    return register


def registered_tools() -> dict[str, ToolSpec]:
    return _CATALOGUE


def authorize(spec: ToolSpec, caller: Caller, args: Any) -> None:
    """The one role gate: every surface passes through here before a handler runs."""
    needed = spec.role_needed(args)
    if not caller.has_role(needed):
        raise Forbidden(
            f"{spec.name} needs the {needed!r} role; {caller.username!r} has {caller.role!r}. "
            "Ask an admin to run it or to raise your role."
        )


async def run_tool(spec: ToolSpec, call: Call, args: Any) -> BaseModel:
    """Run a tool whose arguments are already an instance of spec.input."""
    authorize(spec, call.caller, args)
    return await spec.handler(call, args)


def parse_arguments(spec: ToolSpec, raw: dict[str, Any]) -> ToolInput:
    """Validate raw arguments (from the CLI or the SMCP contract) into spec.input."""
    try:
        return spec.input.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(spec.name, exc)) from None


def describe_validation_error(tool_name: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {error['msg']}")
    return f"invalid arguments for {tool_name}: " + "; ".join(problems)


def portable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite pydantic's JSON Schema into the shape strict MCP clients (Letta) accept.

    Letta refuses a property without a `type`; pydantic renders `str | None = None` as
    `anyOf: [{type: string}, {type: null}]`. An optional argument is expressed by leaving it out
    of `required`, so the null branch is dropped, `$ref`s are inlined and titles removed.
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = resolve(defs[node["$ref"].split("/")[-1]])
                rest = {k: resolve(v) for k, v in node.items() if k != "$ref"}
                return {**target, **rest}
            node = {k: resolve(v) for k, v in node.items() if k not in ("title", "$defs")}
            for union in ("anyOf", "oneOf"):
                options = node.get(union)
                if options:
                    non_null = [o for o in options if o.get("type") != "null"]
                    if len(non_null) == 1 and len(non_null) < len(options):
                        node.pop(union)
                        node = {**non_null[0], **node}
            if node.get("default", "x") is None:
                node.pop("default")
            return node
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    properties = {name: resolve(prop) for name, prop in schema.get("properties", {}).items()}
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if schema.get("required"):
        result["required"] = list(schema["required"])
    if schema.get("additionalProperties") is False:
        result["additionalProperties"] = False
    return result


def compact_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same output schema, cheaper for clients to validate every result against.

    Python MCP clients (the SDK's Client, Letta) re-validate each structured result with
    `jsonschema`, at roughly 10 microseconds per schema node visited. `$ref`s are inlined (no
    reference resolution per node) and a nullable `anyOf: [{type: X}, {type: null}]` becomes
    `type: [X, "null"]` (one node instead of three; the same meaning). Titles are dropped;
    descriptions stay.
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = resolve(defs[node["$ref"].split("/")[-1]])
                rest = {k: resolve(v) for k, v in node.items() if k != "$ref"}
                return {**target, **rest}
            node = {k: resolve(v) for k, v in node.items() if k not in ("title", "$defs")}
            options = node.get("anyOf")
            if options and all(set(o) == {"type"} and isinstance(o["type"], str) for o in options):
                node.pop("anyOf")
                node["type"] = [o["type"] for o in options]
            return node
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)
