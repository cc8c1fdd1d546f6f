"""The tool catalogue: one entry per tool, the single source for every surface.

An entry names the tool, its input and output models, the role it needs, its behaviour hints and
the async handler that calls the domain. The MCP server, the SMCP plugin contract, the operator
CLI, README's tool table test and the Letta schema test all read this list. No `mcp` import here.
"""

from __future__ import annotations

import inspect
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from sanctum_mcp.domain.shared.confirm import Confirmation
from sanctum_mcp.domain.shared.errors import ConfirmationNeeded, Forbidden, InvalidInput, RegistryError
from sanctum_mcp.domain.shared.identity import Caller, Role
from sanctum_mcp.storage.database import is_disk_full, trouble

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

log = logging.getLogger("sanctum_mcp.access")

# `agents=` value for a tool that acts on every agent at once (refused to agent-limited callers).
ALL_AGENTS = "*"

# `secrets=` value for a tool whose every result carries a secret in clear (a new API token).
SECRET_RESULT = True

# What a call names that an agent may own, as (kind, ref) pairs; see ToolSpec.owned.
Owned = Callable[[Any], list[tuple[str, Any]]]

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


SQLITE_INT_RANGE = (-(2**63), 2**63 - 1)


class ToolInput(BaseModel):
    """Base of every tool's arguments. Unknown arguments are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _integers_fit_sqlite(cls, value: Any) -> Any:
        # Python ints are unbounded; SQLite's are 64-bit. Refuse here, naming the field,
        # rather than failing deep in the database layer.
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, int) and not isinstance(item, bool):
                low, high = SQLITE_INT_RANGE
                if not low <= item <= high:
                    raise ValueError(f"{item} is outside the supported integer range ({low} to {high})")
        return value


def not_null(instead: str) -> BeforeValidator:
    """For an optional argument where null must not pass for "left out" (check-and-set versions):
    an explicit null is refused, saying what to give `instead`; leaving the argument out still
    gives its default. (A default is not validated, so only a null the caller sent reaches this.)"""

    def refuse(value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("null_refused", "null is not accepted here: {instead}", {"instead": instead})
        return value

    return BeforeValidator(refuse)


def _confirmation_text(value: Any) -> Any:
    # confirm=true was restore_backup's confirmation before previews; a boolean now is a mistake to name.
    if isinstance(value, bool):
        raise PydanticCustomError(
            "confirm_text", "confirm takes the confirmation a preview gave, not true or false: call without "
            "confirm first to get the preview")
    return value


# The `confirm` argument of a destructive tool (domain/shared/confirm.py): left out, the call answers
# with a preview; given, it must be that preview's confirmation.
Confirm = Annotated[str | None, BeforeValidator(_confirmation_text)]
# No length limit is needed: the value is only compared (in constant time) with the expected one.
CONFIRM = Field(default=None, description="The preview's.")


@dataclass
class Call:
    """What a handler gets besides its arguments."""

    registry: Registry
    caller: Caller
    progress: ProgressFn | None = None
    # The person confirmed in advance whatever the call changes (the CLI's --yes): a preview is
    # answered at once with its own confirmation (run_tool).
    confirmed: bool = False

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
    # Input fields that name agents (a name or id, or a list of them), or ALL_AGENTS. This is what
    # a user's permissions.agents narrows; see authorize().
    agents: tuple[str, ...] | str = ()
    # Other things the call names that may belong to an agent: args -> [(kind, ref)] with kind
    # 'agent', 'instance', 'job' or 'host' (see domain/users/access.py, check_agent_scope). Narrowed
    # the same way.
    owned: Owned | None = field(default=None, compare=False)
    # What can carry a secret in clear, in or out: SECRET_RESULT (every call: its result is one), or
    # the input fields that make a call carry one when given (a password; reveal=true). Surfaces that
    # must not carry secrets (SMCP) leave these out of what they publish and refuse such calls.
    # tests/test_smcp.py fails for a tool whose fields look like secrets and that declares nothing.
    secrets: bool | tuple[str, ...] = ()

    @property
    def mutates(self) -> bool:
        return not self.read_only

    def secrets_in(self, args: Any) -> list[str]:
        """What of this call carries a secret: ['result'], the declared fields given (not at their
        default), or []."""
        if self.secrets is True:
            return ["result"]
        if not self.secrets:
            return []
        fields = self.input.model_fields
        return [name for name in self.secrets if getattr(args, name, None) != fields[name].default]

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        return portable_schema(self.input.model_json_schema())

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        return lean_schema(self.output.model_json_schema(mode="serialization"))

    def role_needed(self, args: Any) -> Role:
        if self.extra_role is not None:
            return self.extra_role(args) or self.role
        return self.role

    def agent_refs(self, args: Any) -> list[str]:
        """The agent names/ids this call names (empty for ALL_AGENTS and agent-free tools)."""
        if self.agents == ALL_AGENTS:
            return []
        refs: list[str] = []
        for name in self.agents:
            value = getattr(args, name, None)
            if isinstance(value, str):
                refs.append(value)
            elif isinstance(value, list | tuple):
                refs.extend(str(v) for v in value)
        return refs


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
    agents: tuple[str, ...] | str = (),
    owned: Owned | None = None,
    secrets: bool | tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register a handler `async def h(call: Call, args: SomeInput) -> SomeOutput` as a tool.

    The docstring is the description a model reads: say what it does and when to use it.
    `agents` names the input fields holding agent names/ids (or is ALL_AGENTS for a tool that acts
    on every agent): a user whose permissions list agents may only name those. `owned` gives what
    else the call names that an agent may own (an instance, a job, a configuration target).
    `secrets` declares what can carry a secret in clear: SECRET_RESULT, or the input fields that do
    when given (see ToolSpec.secrets).
    """

    def register(handler: Handler) -> Handler:
        hints = get_type_hints(handler)
        params = list(inspect.signature(handler).parameters)
        if name in _CATALOGUE:
            raise ValueError(f"tool {name!r} registered twice")
        if read_only and destructive:
            raise ValueError(f"tool {name!r} cannot be both read-only and destructive")
        input_model = hints[params[1]]
        if agents != ALL_AGENTS:
            unknown = [f for f in agents if f not in input_model.model_fields]
            if unknown:
                raise ValueError(f"tool {name!r} declares agents={unknown} that are not fields of its input")
        if secrets is not True and secrets is not False:
            unknown = [f for f in secrets if f not in input_model.model_fields]
            if unknown:
                raise ValueError(f"tool {name!r} declares secrets={unknown} that are not fields of its input")
        _CATALOGUE[name] = ToolSpec(
            name=name,
            title=title,
            description=inspect.cleandoc(handler.__doc__ or ""),
            group=group,
            input=input_model,
            output=hints["return"],
            handler=handler,
            role=role,
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
            extra_role=extra_role,
            agents=agents,
            owned=owned,
            secrets=secrets,
        )
        return handler

    return register


def registered_tools() -> dict[str, ToolSpec]:
    return _CATALOGUE


async def authorize(spec: ToolSpec, call: Call, args: Any) -> None:
    """The one gate: every surface passes through here (via run_tool) before a handler runs.

    0. a caller whose surface serves only some tools (`Caller.serves`) may call only those, with the
       endpoint's own refusal; a caller whose surface must not carry secrets (`Caller.no_secrets`)
       may not make a call that carries one (`ToolSpec.secrets_in`);
    1. role: the caller's role must reach the tool's declared role (`role_needed`, which may
       depend on the arguments);
    2. permissions.tools: if set, the tool must be listed;
    3. permissions.agents: if set, every agent the call names (the spec's `agents` fields) and
       every agent owning what it names (`owned`: instances, jobs, configuration targets) must be
       listed; host-wide objects are read-only; a tool declared ALL_AGENTS is refused.
    """
    caller = call.caller
    if caller.serves is not None and not caller.serves.admits(spec.name):
        raise Forbidden(caller.serves.refusal(spec.name))
    if caller.no_secrets is not None:
        carried = spec.secrets_in(args)
        if carried:
            what = "returns a secret in clear" if carried == ["result"] else f"with {', '.join(carried)} carries a secret in clear"
            raise Forbidden(f"{spec.name} {what}, and {caller.no_secrets}")
    needed = spec.role_needed(args)
    if not caller.has_role(needed):
        raise Forbidden(
            f"{spec.name} needs the {needed!r} role; {caller.username!r} has {caller.role!r}. "
            "Ask an admin to run it or to raise your role."
        )
    permissions = caller.permissions
    if permissions is None:
        return
    if permissions.tools is not None and spec.name not in permissions.tools:
        raise Forbidden(
            f"{spec.name} is not among the tools {caller.username!r} may call (their permissions list the "
            "allowed tools). Ask an admin to add it with update_user."
        )
    if permissions.agents is None:
        return
    if spec.agents == ALL_AGENTS:
        raise Forbidden(
            f"{spec.name} acts on every agent at once, and {caller.username!r} is limited to the agents "
            f"{', '.join(sorted(permissions.agents))}. Ask an admin to run it."
        )
    refs = [("agent", ref) for ref in spec.agent_refs(args)]
    if spec.owned is not None:
        refs += [(kind, str(ref)) for kind, ref in spec.owned(args) if ref is not None]
    refs = [(kind, ref) for kind, ref in refs if ref != ""]  # '' clears a link; what it leaves is checked
    if refs:
        await call.registry.access.check_agent_scope(caller, spec.name, refs, mutating=spec.mutates)


async def _record_refusal(spec: ToolSpec, call: Call, args: Any, exc: Forbidden) -> None:
    try:
        await call.registry.access.record_refusal(call.caller, tool=spec.name, reason=str(exc),
                                                 needed=spec.role_needed(args))
    except Exception:  # the refusal stands even if its audit row cannot be written
        log.warning("could not audit the refusal of %s for %s", spec.name, call.caller.username, exc_info=True)


def may_call_some(spec: ToolSpec, caller: Caller) -> bool:
    """Whether authorize() could admit some call of spec by this caller: the surface serves it, its
    declared role (arguments can only ask for more) and permissions.tools. For what must not audit a
    probe (completion offers, server/completions.py); permissions.agents narrows those offers in
    domain/completions.py."""
    permissions = caller.permissions
    if caller.serves is not None and not caller.serves.admits(spec.name):
        return False
    return caller.has_role(spec.role) and (permissions is None or permissions.tools is None
                                           or spec.name in permissions.tools)


async def admit(spec: ToolSpec, call: Call, args: Any) -> None:
    """authorize() alone, a refusal audited as run_tool audits it: for the resources and prompts,
    which show a tool's data without calling it."""
    try:
        await authorize(spec, call, args)
    except Forbidden as exc:
        await _record_refusal(spec, call, args, exc)
        raise


def confirmation(tool: str, call: Call, args: Any) -> Confirmation:
    """The Confirmation a destructive handler passes to its domain call (domain/shared/confirm.py)."""
    return Confirmation(tool=tool, caller=call.caller.username,
                        arguments=args.model_dump(mode="json", exclude={"confirm"}), given=args.confirm)


async def run_tool(spec: ToolSpec, call: Call, args: Any) -> BaseModel:
    """Run a tool whose arguments are already an instance of spec.input.

    A refusal, by the gate or by the domain inside the call's transaction (a cascade reaching
    another agent's objects, a sensitive or governing setting), is audited in a small transaction
    of its own: the refused call's transaction was rolled back, so it changed nothing.
    A call confirmed in advance (`call.confirmed`) that is answered with a preview runs again at
    once with that preview's confirmation."""
    try:
        await authorize(spec, call, args)
        try:
            return await spec.handler(call, args)
        except ConfirmationNeeded as need:
            if not call.confirmed or getattr(args, "confirm", None) is not None:
                raise
            return await spec.handler(call, args.model_copy(update={"confirm": need.token}))
    except Forbidden as exc:
        await _record_refusal(spec, call, args, exc)
        raise


errors_log = logging.getLogger("sanctum_mcp.errors")


def explain_failure(tool_name: str, exc: BaseException) -> tuple[str, str]:
    """(kind, message) for any failure, shared by every surface (MCP tool errors, the SMCP plugin).

    Domain errors keep their message; database refusals are named; anything else becomes a generic
    message with a reference, and its traceback goes to the log only.
    """
    if isinstance(exc, RegistryError):
        return exc.kind, str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        # A constraint the domain did not pre-check. SQLite names the constraint, not the values.
        return "conflict", f"{tool_name} was refused by the database ({exc}); nothing was changed."
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return "busy", f"{tool_name}: the database is busy with another writer; nothing was changed. Retry."
    if is_disk_full(exc):
        # Not "failed unexpectedly": the caller (or whoever reads the log) can act on this one.
        errors_log.warning("%s refused: the disk holding the registry database is full", tool_name)
        return "unavailable", (f"{tool_name} was not done and nothing was changed: the disk that holds the "
                               "registry database is full. Free some space on it, then retry.")
    cause = trouble(exc)
    if cause is not None:
        errors_log.warning("%s refused: the registry database cannot be used (%s)", tool_name, exc)
        return "unavailable", f"{tool_name} was not done and nothing was changed: the registry database cannot be used: {cause}."
    reference = uuid.uuid4().hex[:12]
    errors_log.error("unexpected failure in %s (reference %s)", tool_name, reference, exc_info=exc)
    return "internal", (
        f"{tool_name} failed unexpectedly and nothing was changed (reference {reference}); "
        "the server log has the details."
    )


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


_INPUT_DROPPED = ("title", "$defs", "minLength", "maxLength")


def portable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite pydantic's JSON Schema into the shape strict MCP clients (Letta) accept.

    Letta refuses a property without a `type`; pydantic renders `str | None = None` as
    `anyOf: [{type: string}, {type: null}]`. An optional argument is expressed by leaving it out
    of `required`, so the null branch is dropped, `$ref`s are inlined and titles removed.

    String length limits (`minLength`, `maxLength`) are left out of what is published: they guard
    the server against oversized input and never shape a correct call, yet every model reads them
    in every listing (issue 16's context budget). The input model still enforces them, and a value
    past one is refused with a message naming the field and the limit. Numeric ranges stay.
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = resolve(defs[node["$ref"].split("/")[-1]])
                rest = {k: resolve(v) for k, v in node.items() if k != "$ref"}
                return {**target, **rest}
            node = {k: resolve(v) for k, v in node.items() if k not in _INPUT_DROPPED}
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

    properties = {name: as_json_text(resolve(prop)) for name, prop in schema.get("properties", {}).items()}
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if schema.get("required"):
        result["required"] = list(schema["required"])
    if schema.get("additionalProperties") is False:
        result["additionalProperties"] = False
    return result


# A free-form JSON object argument is published as JSON text (a string whose content is JSON).
# Letta grades a tool NON_STRICT_ONLY (unusable in strict mode) for any object that may hold keys its
# schema does not list, and `{"type": "object", "additionalProperties": false}` would tell a strict
# model to send {} only. The value may still be sent as an object: the MCP server (the SDK's
# pre_parse_json), the CLI and the SMCP plugin (json_kind) decode the text into the object the
# input model validates.
JSON_TEXT = "application/json"
JSON_TEXT_NOTE = " JSON object as text."


def as_json_text(prop: dict[str, Any]) -> dict[str, Any]:
    """A top-level free-form object property as JSON text; any other property unchanged."""
    if prop.get("type") != "object" or prop.get("additionalProperties", True) is False:
        return prop
    return {"type": "string", "contentMediaType": JSON_TEXT,
            "description": prop.get("description", "A JSON object.") + JSON_TEXT_NOTE}


def json_kind(prop: dict[str, Any]) -> str:
    """The JSON type of an input property's value once decoded: 'object' for JSON text (as_json_text)."""
    if prop.get("contentMediaType") == JSON_TEXT:
        return "object"
    kind = prop.get("type")
    return kind if isinstance(kind, str) else "string"


OUTPUT_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
_OUTPUT_DROPPED = ("title", "default", "$defs")


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The output schema clients validate every result against, in its cheapest equivalent form.

    MCP clients (the SDK's included) check structuredContent against outputSchema with JSON Schema
    on every call, and read it again in every new session. pydantic's `anyOf: [X, null]` and `$ref`s
    make that several times slower than `type: [X, "null"]` with definitions inlined, for the same set
    of valid documents. A definition used in more than one place (a recursive one always) stays one
    `$ref` target in `$defs` rather than being written out at each use. Keywords that change nothing
    are left out: `title` and `default` (say nothing about a result), `additionalProperties: true`
    (the default), and `type` beside an `enum` whose values all have that type. Property names are
    kept whatever they are. tests/test_tool_contract.py checks that each lean schema accepts and
    rejects exactly what pydantic's own schema does.

    The schema names its dialect, JSON Schema draft-07 (`$schema`). Every keyword it uses means the
    same there as in 2020-12 (MCP's default dialect), but a client that compiles a validator per
    session (the Python SDK does, on each new session's first call of a tool) checks the schema
    against the draft-07 meta-schema 4-8 times faster than against 2020-12's, and validates each
    result about a third faster; the TypeScript SDK's Ajv takes draft-07 as its default.
    benchmarks/README.md has the figures. (In draft-07 a `$ref`'s sibling keywords are ignored: only
    annotations such as `description` ever stand beside one here.)
    """
    defs = schema.get("$defs", {})
    kept = {name for name in defs if _reaches(defs, name, name)}
    while True:  # keep as references the definitions that would otherwise be written out twice
        inlined: dict[str, int] = {}
        result = _lean(schema, defs, kept, inlined)
        twice = {name for name, count in inlined.items() if count > 1}
        if not twice:
            break
        kept |= twice
    result = {"$schema": OUTPUT_SCHEMA_DIALECT, **result}
    if kept:
        result["$defs"] = {name: _lean(defs[name], defs, kept, {}) for name in sorted(kept)}
    return result


def _lean(node: Any, defs: dict[str, Any], kept: set[str], inlined: dict[str, int]) -> Any:
    if isinstance(node, list):
        return [_lean(item, defs, kept, inlined) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        siblings = {k: _lean(v, defs, kept, inlined) for k, v in node.items() if k != "$ref" and k not in _OUTPUT_DROPPED}
        if name in kept:
            return {"$ref": f"#/$defs/{name}", **siblings}
        inlined[name] = inlined.get(name, 0) + 1
        return {**_lean(defs[name], defs, kept, inlined), **siblings}
    node = {
        k: {name: _lean(sub, defs, kept, inlined) for name, sub in v.items()} if k == "properties"
        else _lean(v, defs, kept, inlined)
        for k, v in node.items()
        if k not in _OUTPUT_DROPPED and not (k == "additionalProperties" and v is True)
    }
    options = node.get("anyOf")
    if options and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        if "anyOf" not in other and (isinstance(other.get("type"), str) or ("enum" in other and "type" not in other)):
            node.pop("anyOf")
            merged = {**other, **node}
            if "type" in other:
                merged["type"] = [other["type"], "null"]
            if "enum" in merged:
                merged["enum"] = [*merged["enum"], None]
            node = merged
    if "enum" in node and "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if all(_json_type(value) in types for value in node["enum"]):
            node.pop("type")  # the enum alone admits exactly these values
    return node


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    return "other"  # numbers and containers: keep the type beside them


def _reaches(defs: dict[str, Any], start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether definition `start` refers (directly or through others) to `goal`."""
    found: list[str] = []

    def refs(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                found.append(node["$ref"].split("/")[-1])
            for v in node.values():
                refs(v)
        elif isinstance(node, list):
            for v in node:
                refs(v)

    refs(defs[start])
    return any(name == goal or (name not in seen and _reaches(defs, name, goal, seen | {start})) for name in found)
