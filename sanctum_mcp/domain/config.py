"""Configuration: one key namespace, five scopes, typed values, secrets, history and rollback.

Model
- `system_config` is the system scope; `configurations` holds the agent, tool, instance and user
  scopes (target = the object's numeric id as text, so a rename never orphans a setting).
- A key means the same thing at every scope: it has ONE type and ONE sensitivity everywhere, and
  a constraint on the system row applies to overrides at every scope.
- Resolution, highest priority first: user (only when asked for) -> instance -> tool -> agent ->
  system. An instance brings its own tool and agent into the chain.
- Every change bumps the row's version (never reused, even across delete and re-create), writes a
  config_history row and one audit row, in one transaction.

Secrets: a sensitive value is stored encrypted (value column and history alike) and leaves this
module only through `present()`, the masking choke point, except through the audited reveal.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain import audit
from sanctum_mcp.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sanctum_mcp.domain.identity import Caller, Role
from sanctum_mcp.domain.governing import GOVERNING_KEYS
from sanctum_mcp.domain.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.secrets import SecretBox, SecretUnreadable, mask
from sanctum_mcp.storage import config as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

ConfigScope = Literal["system", "agent", "tool", "instance", "user"]
ConfigType = Literal["string", "integer", "number", "boolean", "json"]
ChangeKind = Literal["set", "delete", "rollback", "reset", "unchanged"]
SCOPES: tuple[str, ...] = ConfigScope.__args__  # type: ignore[attr-defined]
TYPES: tuple[str, ...] = ConfigType.__args__  # type: ignore[attr-defined]
SYSTEM_CATEGORIES = ("api_keys", "paths", "ports", "general")
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_.\-]{0,127}")
MAX_VALUE = 65_536

# --- presentation: the masking choke point ---------------------------------------------------


def present(stored: str | None, sensitive: bool, box: SecretBox) -> str | None:
    """What any caller may see of a stored value: the value itself, or for a sensitive one the mask.

    Every model in this module is built through here. A secret that cannot be decrypted (wrong
    key) still shows as the bare mask, so listings keep working.
    """
    if not sensitive or stored is None:
        return stored
    if SecretBox.is_encrypted(stored):
        try:
            return mask(box.decrypt(stored))
        except SecretUnreadable:
            return mask(None)
    return mask(stored)


# --- models ----------------------------------------------------------------------------------


class ConfigEntry(BaseModel):
    key: str
    scope: ConfigScope
    target: str = Field(description="The agent, tool, instance or user name; '' at system scope.")
    target_id: int | None = Field(default=None, description="The object's id; null at system scope.")
    value: str | None = Field(description="The value as text (see type). A sensitive value is masked.")
    type: ConfigType
    sensitive: bool
    has_value: bool = Field(description="False when the value is empty (e.g. an API key not set yet).")
    category: str | None = None
    description: str | None = None
    version: int
    updated_at: str | None = None
    default_value: str | None = Field(default=None, description="Seeded default (system scope); reset_config restores it.")
    constraint: dict[str, Any] | None = Field(default=None, description="Allowed values or JSON Schema (system scope).")


class ConfigLayer(BaseModel):
    scope: ConfigScope
    target: str
    target_id: int | None = None
    value: str | None = Field(description="Masked when sensitive.")
    version: int


class ResolvedConfig(BaseModel):
    key: str
    value: str | None = Field(description="The effective value as text; masked when sensitive.")
    type: ConfigType
    sensitive: bool
    has_value: bool
    scope: ConfigScope = Field(description="The scope the effective value comes from.")
    target: str = Field(description="The object at that scope ('' for system).")
    target_id: int | None = None
    version: int
    overrides: list[ConfigLayer] = Field(
        default_factory=list, description="Lower-priority levels that also set this key and are overridden."
    )
    explanation: str = Field(description="Where the value comes from, in words you can repeat to a person.")
    category: str | None = None
    description: str | None = None
    revealed_value: str | None = Field(
        default=None, description="The plaintext of a sensitive value: only with reveal=true, for admins, audited."
    )


class ConfigPage(BaseModel):
    entries: list[ConfigEntry]
    next_cursor: str | None = Field(default=None, description="Pass to list_config for the next page; absent on the last page.")


class ConfigChange(BaseModel):
    key: str
    scope: ConfigScope
    target: str
    target_id: int | None = None
    change: ChangeKind = Field(description="What happened; 'unchanged' when the setting already had this value.")
    version: int = Field(description="The version now recorded (pass as expected_version for the next change).")
    previous_version: int = Field(description="The version before this change; 0 when the setting did not exist.")
    entry: ConfigEntry | None = Field(default=None, description="The setting after the change; null after a delete.")
    message: str


class HistoryEntry(BaseModel):
    version: int
    change: Literal["set", "delete", "rollback", "reset"]
    value: str | None = Field(description="The value after the change (null for a deletion); masked when sensitive.")
    type: ConfigType
    sensitive: bool
    changed_by: str | None = None
    created_at: str


class ConfigHistory(BaseModel):
    key: str
    scope: ConfigScope
    target: str
    target_id: int | None = None
    entries: list[HistoryEntry] = Field(description="Newest first.")
    next_cursor: str | None = Field(default=None, description="Pass to config_history for older entries; absent at the end.")


# --- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    scope: str
    id: str  # as stored in configurations.target ('' for system)
    name: str  # for people

    @property
    def target_id(self) -> int | None:
        return int(self.id) if self.id else None

    @property
    def label(self) -> str:
        if self.scope == "system":
            return "the system level"
        if self.scope == "instance":
            return f"instance {self.name!r} (id {self.id})"
        return f"{self.scope} {self.name!r}"


SYSTEM = Target("system", "", "")
_LISTING = {"agent": "list_agents", "tool": "list_tools", "instance": "list_tool_instances", "user": "list_users"}


def resolve_target(conn: sqlite3.Connection, scope: str, ref: str | None, *, allow_gone: bool = False) -> Target:
    """Turn (scope, name-or-id) into the stored target, or say how to find the right one."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope {scope!r} is not one of {', '.join(SCOPES)}.")
    if scope == "system":
        if ref not in (None, ""):
            raise InvalidInput("the system scope has no target; leave target out (or empty) for system settings.")
        return SYSTEM
    if ref is None or ref == "":
        what = "an instance id" if scope == "instance" else f"the {scope}'s name or id"
        raise InvalidInput(f"scope {scope!r} needs a target: {what}.")
    if scope == "instance":
        if not ref.isdigit():
            raise InvalidInput(
                f"tool instances are addressed by numeric id, not {ref!r}; call {_LISTING['instance']} to find the id."
            )
        row = sql.find_instance(conn, int(ref))
        kind = "tool instance with id"
    elif scope == "agent":
        row, kind = sql.find_agent(conn, ref), "agent named"
    elif scope == "tool":
        row, kind = sql.find_tool(conn, ref), "tool named"
    else:
        row, kind = sql.find_user(conn, ref), "user named"
    if row is None:
        if allow_gone and ref.isdigit():
            return Target(scope, str(int(ref)), f"#{int(ref)} (deleted)")
        raise NotFound(f"no {kind} {ref!r}; call {_LISTING[scope]} to see what exists.")
    return Target(scope, str(row["id"]), row["name"])


def _instance_chain(conn: sqlite3.Connection, instance: str, tool: str | None, agent: str | None) -> list[Target]:
    inst = resolve_target(conn, "instance", instance)
    row = sql.find_instance(conn, int(inst.id))
    tool_t = Target("tool", str(row["tool_id"]), row["tool_name"])
    if tool is not None:
        given = resolve_target(conn, "tool", tool)
        if given.id != tool_t.id:
            raise InvalidInput(
                f"{inst.label} is an instance of tool {tool_t.name!r}, not {given.name!r}; "
                "leave tool out when you pass instance (the instance brings its own tool)."
            )
    chain = [inst, tool_t]
    agent_t = Target("agent", str(row["agent_id"]), row["agent_name"]) if row["agent_id"] is not None else None
    if agent is not None:
        given = resolve_target(conn, "agent", agent)
        if agent_t is None or given.id != agent_t.id:
            owner = f"agent {agent_t.name!r}" if agent_t else "no agent (a master instance)"
            raise InvalidInput(
                f"{inst.label} belongs to {owner}, not {given.name!r}; "
                "leave agent out when you pass instance (the instance brings its own agent)."
            )
    if agent_t is not None:
        chain.append(agent_t)
    return chain


# --- values --------------------------------------------------------------------------------------

_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _shown(text: str, sensitive: bool) -> str:
    if sensitive:
        return "the value"
    return repr(text if len(text) <= 60 else text[:57] + "...")


def coerce(key: str, text: str, value_type: str, *, sensitive: bool) -> tuple[str, Any]:
    """Validate text against a type; return (text to store, typed value). Refuses, never repairs.

    string: as is. integer: digits with an optional leading '-' ("8080"; not "8080.0", " 8080").
    number: an integer or decimal, optionally with an exponent ("0.5", "1e3"), finite.
    boolean: true/false, 1/0, yes/no in any case; stored as "true" or "false".
    json: any JSON text that parses (NaN and Infinity are refused); stored as written.
    """
    shown = _shown(text, sensitive)
    if value_type == "string":
        return text, text
    if value_type == "integer":
        if not _INTEGER.fullmatch(text) or len(text) > 40:
            raise InvalidInput(
                f"{key} is an integer, and {shown} is not one: write whole-number digits only, e.g. \"8080\" "
                "(no decimals, spaces or units)."
            )
        number = int(text)
        return str(number), number
    if value_type == "number":
        if not _NUMBER.fullmatch(text) or len(text) > 400 or not math.isfinite(float(text)):
            raise InvalidInput(
                f"{key} is a number, and {shown} is not one: write e.g. \"0.5\", \"12\" or \"1e3\" "
                "(no units, spaces or commas)."
            )
        if _INTEGER.fullmatch(text):
            return str(int(text)), int(text)
        number = float(text)
        return repr(number), number
    if value_type == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return "true", True
        if lowered in _FALSE:
            return "false", False
        raise InvalidInput(
            f"{key} is a boolean, and {shown} is not one: write true or false (1/0 and yes/no are accepted too)."
        )
    if value_type == "json":
        def refuse_constant(name: str) -> Any:
            raise ValueError(name)

        try:
            parsed = json.loads(text, parse_constant=refuse_constant)
        except (ValueError, RecursionError):
            raise InvalidInput(
                f"{key} holds JSON, and {shown} does not parse as JSON: write e.g. '{{\"a\": 1}}', '[1, 2]' or "
                "'\"text\"' (strings in double quotes)."
            ) from None
        return text, parsed
    raise InvalidInput(f"type {value_type!r} is not one of {', '.join(TYPES)}.")


@lru_cache(maxsize=64)
def _validator(constraint_json: str) -> Any:
    from urllib.parse import urlsplit

    import referencing
    from jsonschema import Draft202012Validator, FormatChecker

    from sanctum_mcp.domain.schemas import re2_validator_class

    checker = FormatChecker(formats=())

    @checker.checks("uri")
    @checker.checks("url")
    def _is_url(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if any(c.isspace() for c in value):
            return False
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            return False
        return bool(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.\-]*", parts.scheme or "")) and bool(parts.hostname)

    # Patterns in RE2 (as in tool schemas), and a registry that never fetches a $ref.
    validator = re2_validator_class(Draft202012Validator)
    return validator(constraint_document(constraint_json), format_checker=checker, registry=referencing.Registry())


def constraint_document(constraint_json: str | None) -> dict[str, Any] | None:
    """A constraint as a JSON Schema: a bare list means "one of these values"."""
    if not constraint_json:
        return None
    document = json.loads(constraint_json)
    if isinstance(document, list):
        return {"enum": document}
    return document


def check_constraint(key: str, constraint_json: str | None, typed: Any, text: str, *, sensitive: bool,
                     stored: bool = False) -> None:
    """Refuse a value its key's constraint does not allow. `stored`: the value is a stored one (a
    rollback), not what the caller just sent; when it is a secret the message does not say which
    rule it broke (that would describe a secret)."""
    if not constraint_json:
        return
    errors = sorted(_validator(constraint_json).iter_errors(typed), key=lambda e: list(e.path))
    if not errors:
        return
    if sensitive and stored:
        raise InvalidInput(
            f"{key}: the stored secret of that version does not satisfy the key's constraint (which rule, is not "
            "said about a secret); set a new value with set_config instead."
        )
    error = errors[0]
    rule = _describe_rule(error.validator, error.validator_value)
    got = "" if sensitive else f" (got {_shown(text, False)})"
    raise InvalidInput(f"{key} must be {rule}{got}. Its constraint is {constraint_json}.")


def _describe_rule(validator: str, expected: Any) -> str:
    if validator == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in expected)
    if validator == "const":
        return f"exactly {json.dumps(expected)}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[validator]
        return f"{op} {expected}"
    if validator == "format":
        if expected in ("uri", "url"):
            return "a URL with a scheme and a host, e.g. http://localhost:11434"
        return f"a valid {expected}"
    if validator == "pattern":
        return f"text matching the pattern {expected}"
    if validator in ("minLength", "maxLength"):
        return f"{'at least' if validator == 'minLength' else 'at most'} {expected} characters long"
    if validator == "type":
        return f"of JSON type {expected}"
    return f"valid under the constraint's {validator!r} rule"


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            f"key {key[:60]!r} is not a valid key: use 1-128 characters, lower-case letters, digits, '_', '.' or '-', "
            "starting with a letter (e.g. 'smcp_port')."
        )
    return key


# --- the service ---------------------------------------------------------------------------------


@dataclass
class _KeyInfo:
    """What the whole namespace says about a key."""

    exists: bool
    type: str | None
    type_where: str  # e.g. "the system level" for messages
    sensitive: bool
    category: str | None
    description: str | None
    constraint_json: str | None


def _key_info(conn: sqlite3.Connection, key: str) -> _KeyInfo:
    rows = sql.key_definitions(conn, key)
    if not rows:
        return _KeyInfo(False, None, "", False, None, None, None)
    first = rows[0]
    return _KeyInfo(
        exists=True,
        type=first["type"],
        type_where="the system level" if first["scope"] == "system" else f"{first['scope']} scope",
        sensitive=any(r["sensitive"] for r in rows),
        category=first["category"],
        description=next((r["description"] for r in rows if r["description"]), None),
        constraint_json=next((r["constraint_json"] for r in rows if r["constraint_json"]), None),
    )


def _unknown_key(conn: sqlite3.Connection, key: str) -> NotFound:
    close = difflib.get_close_matches(key, sql.all_keys(conn), n=3, cutoff=0.5)
    hint = f"closest existing keys: {', '.join(close)}" if close else "no existing key is close"
    return NotFound(f"unknown configuration key {key!r} ({hint}); call list_config to see every key.")


def _check_own_preferences(caller: Caller, tool: str, t: Target) -> None:
    """User-scope settings are one person's preferences: only they, or an admin, may change them."""
    if t.scope == "user" and not caller.has_role("admin") and caller.user_id != t.target_id:
        raise Forbidden(
            f"{tool}: the settings of user {t.name!r} are their own preferences; {caller.username!r} may change "
            "only their own (scope user, target their username). Ask an admin to change someone else's."
        )


def role_for_key(key: str, *, sensitive: bool | None = None) -> Role | None:
    """The role a change of `key` needs beyond the tool's own: admin for a secret or a governing key.
    The catalogue declares it (`extra_role`), so the gate refuses before anything runs."""
    return "admin" if sensitive or key in GOVERNING_KEYS else None


def _check_governing(caller: Caller, tool: str, key: str) -> None:
    if key in GOVERNING_KEYS and not caller.has_role("admin"):
        raise Forbidden(
            f"{tool} on {key!r}, a setting that governs the audit trail, log retention or automatic backups, "
            f"needs the 'admin' role; {caller.username!r} has {caller.role!r}. Ask an admin to change it."
        )


def _need_admin(caller: Caller, tool: str, key: str) -> None:
    if not caller.has_role("admin"):
        raise Forbidden(
            f"{tool} on the sensitive key {key!r} needs the 'admin' role; {caller.username!r} has {caller.role!r}. "
            "Ask an admin to run it."
        )


def _check_version(expected: int | None, current: int, key: str, target: Target, retry_with: str) -> None:
    if expected is not None and expected != current:
        now = f"version {current}" if current else "not set (version 0)"
        raise Conflict(
            f"{key} at {target.label} is now {now}, not version {expected}: someone changed it since you read it. "
            f"Nothing was changed. Read it again with {retry_with}, check the new value with the person, then "
            f"retry with expected_version={current}."
        )


class ConfigService:
    PAGE_DEFAULT = 100

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @property
    def box(self) -> SecretBox:
        return self.registry.secrets

    # --- building models (always through present()) ---------------------------------------------

    def entry(self, row: sqlite3.Row, target: Target | None = None, *, sensitive: bool | None = None) -> ConfigEntry:
        secret = bool(row["is_sensitive"]) if sensitive is None else sensitive
        if target is None:
            target = Target(row["scope"], row["target"], row["target_name"] or (f"#{row['target']} (deleted)" if row["target"] else ""))
        return ConfigEntry(
            key=row["key"],
            scope=row["scope"],
            target=target.name,
            target_id=target.target_id,
            value=present(row["value"], secret, self.box),
            type=row["type"],
            sensitive=secret,
            has_value=bool(row["value"]),
            category=row["category"],
            description=row["description"],
            version=row["version"],
            updated_at=row["updated_at"],
            default_value=present(row["default_value"], secret, self.box),
            constraint=constraint_document(row["constraint_json"]),
        )

    # --- reading ------------------------------------------------------------------------------------

    async def get(
        self,
        caller: Caller,
        key: str,
        *,
        agent: str | None = None,
        tool: str | None = None,
        instance: str | None = None,
        user: str | None = None,
        reveal: bool = False,
    ) -> ResolvedConfig:
        if reveal and not caller.has_role("admin"):
            raise Forbidden(
                f"revealing a value needs the 'admin' role; {caller.username!r} has {caller.role!r}. "
                "Call get_config without reveal to see the masked value."
            )

        def work(conn: sqlite3.Connection) -> ResolvedConfig:
            chain: list[Target] = []
            if user is not None:
                chain.append(resolve_target(conn, "user", user))
            if instance is not None:
                chain += _instance_chain(conn, instance, tool, agent)
            else:
                if tool is not None:
                    chain.append(resolve_target(conn, "tool", tool))
                if agent is not None:
                    chain.append(resolve_target(conn, "agent", agent))
            rows = sql.resolve_chain(conn, key, [(t.scope, t.id) for t in chain])
            if not rows:
                raise self._not_set(conn, key, chain)
            resolved = self._resolved(key, rows, [*chain, SYSTEM])
            if reveal and resolved.sensitive:
                winner = rows[0]
                resolved.revealed_value = self._plaintext(winner["value"])
                audit.record(conn, caller, action="config.reveal", source="config",
                             source_id=f"{resolved.scope}:{resolved.target_id or ''}:{key}",
                             message=f"sensitive value of {key} at {_label(resolved)} revealed to {caller.username!r}",
                             extra={"key": key, "scope": resolved.scope, "target": resolved.target,
                                    "version": resolved.version})
            elif reveal:
                resolved.revealed_value = rows[0]["value"]
            return resolved

        if reveal:
            return await self.registry.db.write(work)
        # A handful of point lookups: run inline, without a thread hop (see Database.read_now).
        return await self.registry.db.read_now(work)

    def _plaintext(self, stored: str | None) -> str | None:
        if stored is None or not SecretBox.is_encrypted(stored):
            return stored
        try:
            return self.box.decrypt(stored)
        except SecretUnreadable as exc:
            raise Conflict(str(exc)) from None

    def _not_set(self, conn: sqlite3.Connection, key: str, chain: list[Target]) -> NotFound:
        where = sql.where_key_is_set(conn, key, limit=5)
        if not where:
            return _unknown_key(conn, key)
        places = ", ".join(Target(r["scope"], r["target"], r["target_name"] or f"#{r['target']}").label for r in where)
        asked = " / ".join(t.label for t in chain) or "the system level"
        return NotFound(
            f"{key} has no value for {asked}: it is set only at {places}, and not at the system level. "
            f"Set it with set_config (scope system for everyone), or ask for one of those targets."
        )

    def _resolved(self, key: str, rows: list[sqlite3.Row], chain: list[Target]) -> ResolvedConfig:
        by_level = {(t.scope, t.id): t for t in chain}
        sensitive = any(r["is_sensitive"] for r in rows)
        levels = [by_level[(r["scope"], r["target"])] for r in rows]
        values = [present(r["value"], sensitive, self.box) for r in rows]
        winner, win_t = rows[0], levels[0]
        layers = [
            ConfigLayer(scope=r["scope"], target=t.name, target_id=t.target_id, value=v, version=r["version"])
            for r, t, v in zip(rows[1:], levels[1:], values[1:])
        ]
        shown = values[0] if values[0] is not None else "null"
        text = f"{key} = {shown} ({winner['type']}{', sensitive, masked' if sensitive else ''}) comes from {win_t.label}"
        if layers:
            text += "; it overrides " + ", ".join(f"{t.label} ({v})" for t, v in zip(levels[1:], values[1:]))
        higher = chain[: chain.index(win_t)]  # asked-for levels above the winner: none of them sets the key
        if higher:
            text += "; " + " and ".join(t.label for t in higher) + (" do" if len(higher) > 1 else " does") + " not set it"
        text += "."
        return ResolvedConfig(
            key=key,
            value=values[0],
            type=winner["type"],
            sensitive=sensitive,
            has_value=bool(winner["value"]),
            scope=winner["scope"],
            target=win_t.name,
            target_id=win_t.target_id,
            version=winner["version"],
            overrides=layers,
            explanation=text,
            category=winner["category"],
            description=winner["description"],
        )

    async def list(
        self,
        *,
        category: str | None = None,
        scope: str | None = None,
        target: str | None = None,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> ConfigPage:
        """System settings first (by key), then scoped ones by (scope, target id, key)."""
        key = decode_cursor("list_config", cursor, arity=4)
        if target is not None and scope is None:
            raise InvalidInput("target needs scope too (e.g. scope='agent', target='Athena').")

        def work(conn: sqlite3.Connection) -> ConfigPage:
            target_id: str | None = None
            if scope is not None and scope != "system":
                target_id = resolve_target(conn, scope, target).id if target is not None else None
            elif scope == "system":
                resolve_target(conn, "system", target)
            rows: list[sqlite3.Row] = []
            phase = key[0] if key else 0
            if phase == 0 and scope in (None, "system"):
                rows += sql.page_system(conn, category=category, prefix=prefix,
                                        after=key[3] if key else None, limit=limit + 1)
            if len(rows) <= limit and scope != "system":
                after = (key[1], key[2], key[3]) if key and key[0] == 1 else None
                rows += sql.page_scoped(conn, scope=scope, target=target_id, category=category, prefix=prefix,
                                        after=after, limit=limit + 1 - len(rows))
            entries = [self.entry(r) for r in rows[:limit]]
            next_cursor = None
            if len(rows) > limit:
                last = rows[limit - 1]
                phase_of_last = 0 if last["scope"] == "system" else 1
                next_cursor = encode_cursor("list_config", [phase_of_last, last["scope"], last["target"], last["key"]])
            return ConfigPage(entries=entries, next_cursor=next_cursor)

        return await self.registry.db.read(work)

    async def history(
        self, key: str, *, scope: str, target: str | None, cursor: str | None = None, limit: int = 50
    ) -> ConfigHistory:
        position = decode_cursor("config_history", cursor, arity=1)

        def work(conn: sqlite3.Connection) -> ConfigHistory:
            t = resolve_target(conn, scope, target, allow_gone=True)
            rows = sql.history_page(conn, scope, t.id, key, before=position[0] if position else None, limit=limit + 1)
            if not rows and position is None:
                if not sql.key_definitions(conn, key):
                    raise _unknown_key(conn, key)
                raise NotFound(
                    f"{key} has no recorded history at {t.label}; list_config shows where it is set, and "
                    "config_history needs that scope and target."
                )
            entries = [
                HistoryEntry(
                    version=r["version"],
                    change=r["change"],
                    value=present(r["value"], bool(r["sensitive"]), self.box),
                    type=r["value_type"],
                    sensitive=bool(r["sensitive"]),
                    changed_by=r["changed_by"],
                    created_at=r["created_at"],
                )
                for r in rows[:limit]
            ]
            next_cursor = encode_cursor("config_history", [entries[-1].version]) if len(rows) > limit else None
            return ConfigHistory(key=key, scope=t.scope, target=t.name, target_id=t.target_id, entries=entries,
                                 next_cursor=next_cursor)

        return await self.registry.db.read(work)

    async def entries_at(self, scope: str, target: str | None) -> list[ConfigEntry]:
        """Every setting stored at one scope and target (for resources)."""
        entries: list[ConfigEntry] = []
        cursor = None
        while True:
            page = await self.list(scope=scope, target=target, cursor=cursor, limit=500)
            entries += page.entries
            cursor = page.next_cursor
            if not cursor:
                return entries

    async def summary(self) -> tuple[list[ConfigEntry], dict[str, int]]:
        system = await self.entries_at("system", None)
        counts = await self.registry.db.read(sql.scope_counts)
        return system, counts

    # --- writing --------------------------------------------------------------------------------------

    async def set(
        self,
        caller: Caller,
        key: str,
        value: str,
        *,
        scope: str,
        target: str | None = None,
        value_type: str | None = None,
        description: str | None = None,
        category: str | None = None,
        sensitive: bool | None = None,
        expected_version: int | None = None,
    ) -> ConfigChange:
        check_key(key)
        _check_governing(caller, "set_config", key)
        if len(value) > MAX_VALUE:
            raise InvalidInput(f"the value is {len(value)} characters long; the limit is {MAX_VALUE}.")
        if sensitive and not caller.has_role("admin"):
            _need_admin(caller, "set_config", key)
        if scope == "system" and category is not None and category not in SYSTEM_CATEGORIES:
            raise InvalidInput(
                f"system settings have category one of {', '.join(SYSTEM_CATEGORIES)}, not {category!r}."
            )

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            t = resolve_target(conn, scope, target)
            _check_own_preferences(caller, "set_config", t)
            current = sql.get_row(conn, t.scope, t.id, key)
            info = _key_info(conn, key)
            if value_type is not None and info.type is not None and value_type != info.type:
                raise InvalidInput(
                    f"{key} is a {info.type} key (as set at {info.type_where}); a key has one type at every scope. "
                    f"Leave type out or pass type='{info.type}'. To change its type, delete it everywhere first "
                    "(delete_config)."
                )
            final_type = value_type or info.type or "string"
            if sensitive is False and info.sensitive:
                raise InvalidInput(
                    f"{key} is sensitive, and a sensitive key stays sensitive at every scope; leave sensitive out."
                )
            secret = info.sensitive or bool(sensitive)
            if secret and caller.no_secrets is not None:
                raise Forbidden(f"set_config on the sensitive key {key!r} carries a secret in clear, and "
                                f"{caller.no_secrets}")
            if secret:
                _need_admin(caller, "set_config", key)
            previous = current["version"] if current else 0
            _check_version(expected_version, previous, key, t, "get_config or list_config")
            text, typed = coerce(key, value, final_type, sensitive=secret)
            check_constraint(key, info.constraint_json, typed, text, sensitive=secret)

            if t.scope == "system":
                new_category = category or (current["category"] if current else None) or info.category
                if new_category not in SYSTEM_CATEGORIES:
                    new_category = "general"
            else:
                new_category = category if category is not None else (current["category"] if current else info.category)
            new_description = description if description is not None else (
                current["description"] if current else info.description
            )

            if current is not None and (
                current["type"] == final_type
                and bool(current["is_sensitive"]) == secret
                and current["category"] == new_category
                and current["description"] == new_description
                and self._same_value(current["value"], text, secret)
            ):
                entry = self.entry(current, t)
                return ConfigChange(key=key, scope=t.scope, target=t.name, target_id=t.target_id, change="unchanged",
                                    version=previous, previous_version=previous, entry=entry,
                                    message=f"{key} at {t.label} already is {entry.value}; nothing changed "
                                            f"(version {previous}).")

            before = self.entry(current, t, sensitive=secret) if current else None
            if secret and not info.sensitive and info.exists:
                self._make_key_sensitive(conn, key)
            stored = self.box.encrypt(text) if secret and text != "" else text
            version = max(previous, sql.max_history_version(conn, t.scope, t.id, key)) + 1
            values = {"value": stored, "type": final_type, "is_sensitive": int(secret), "category": new_category,
                      "description": new_description, "version": version}
            self._write(conn, t, key, values, exists=current is not None)
            return self._finish(conn, caller, t, key, "set", version, previous, before, stored, final_type, secret)

        return await self.registry.db.write(tx)

    def _same_value(self, stored: str | None, text: str, secret: bool) -> bool:
        if secret and SecretBox.is_encrypted(stored):
            try:
                return self.box.decrypt(stored) == text
            except SecretUnreadable:
                return False
        return stored == text

    def _make_key_sensitive(self, conn: sqlite3.Connection, key: str) -> None:
        """A key becomes sensitive: encrypt every value it holds now and in its history."""
        for table, rowid, stored in sql.plain_values_of_key(conn, key):
            if stored and not SecretBox.is_encrypted(stored):
                stored = self.box.encrypt(stored)
            sql.make_cell_sensitive(conn, table, rowid, stored)

    def _write(self, conn: sqlite3.Connection, t: Target, key: str, values: dict[str, Any], *, exists: bool) -> None:
        if t.scope == "system":
            (sql.update_system if exists else sql.insert_system)(conn, key, values)
        elif exists:
            sql.update_scoped(conn, t.scope, t.id, key, values)
        else:
            sql.insert_scoped(conn, t.scope, t.id, key, values)

    def _finish(
        self,
        conn: sqlite3.Connection,
        caller: Caller,
        t: Target,
        key: str,
        change: str,
        version: int,
        previous: int,
        before: ConfigEntry | None,
        stored: str | None,
        value_type: str,
        secret: bool,
    ) -> ConfigChange:
        """History row, audit row and the result of a mutation (all inside its transaction)."""
        sql.add_history(conn, scope=t.scope, target=t.id, key=key, version=version, value=stored,
                        value_type=value_type, sensitive=secret, changed_by=caller.username, change=change)
        row = sql.get_row(conn, t.scope, t.id, key)
        after = self.entry(row, t) if row is not None else None
        verb = {"set": "set", "delete": "deleted", "rollback": "rolled back", "reset": "reset to its default"}[change]
        if after is not None:
            was = f"; was {before.value}" if before is not None else "; it was not set here before"
            message = f"{key} {verb} at {t.label}: now {after.value} (version {version}{was})."
        else:
            message = f"{key} {verb} at {t.label} (was {before.value if before else None}, version {previous}); " \
                      "lower levels now apply."
        audit.record(conn, caller, action=f"config.{change}", source="config",
                     source_id=f"{t.scope}:{t.id}:{key}", message=message, before=before, after=after,
                     extra={"key": key, "scope": t.scope, "target": t.name, "version": version})
        return ConfigChange(key=key, scope=t.scope, target=t.name, target_id=t.target_id, change=change,
                            version=version, previous_version=previous, entry=after, message=message)

    async def delete(
        self, caller: Caller, key: str, *, scope: str, target: str | None, expected_version: int | None = None
    ) -> ConfigChange:
        _check_governing(caller, "delete_config", key)

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            t = resolve_target(conn, scope, target)
            _check_own_preferences(caller, "delete_config", t)
            current = sql.get_row(conn, t.scope, t.id, key)
            if current is None:
                if not sql.key_definitions(conn, key):
                    raise _unknown_key(conn, key)
                raise NotFound(f"{key} is not set at {t.label}; nothing to delete. list_config shows where it is set.")
            if t.scope == "system" and current["default_value"] is not None:
                raise Conflict(
                    f"{key} is a seeded system default and cannot be deleted; call reset_config to restore its "
                    f"default, or set_config to change it."
                )
            secret = _key_info(conn, key).sensitive
            if secret:
                _need_admin(caller, "delete_config", key)
            _check_version(expected_version, current["version"], key, t, "get_config or list_config")
            before = self.entry(current, t, sensitive=secret)
            version = max(current["version"], sql.max_history_version(conn, t.scope, t.id, key)) + 1
            sql.delete_row(conn, t.scope, t.id, key)
            return self._finish(conn, caller, t, key, "delete", version, current["version"], before, None,
                                current["type"], secret)

        return await self.registry.db.write(tx)

    async def reset(self, caller: Caller, key: str, *, expected_version: int | None = None) -> ConfigChange:
        _check_governing(caller, "reset_config", key)

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            current = sql.get_row(conn, "system", "", key)
            if current is None:
                raise _unknown_key(conn, key) if not sql.key_definitions(conn, key) else NotFound(
                    f"{key} has no system-level setting to reset; use delete_config to remove an override."
                )
            if current["default_value"] is None:
                raise InvalidInput(
                    f"{key} is not a seeded default, so it has no default to reset to; change it with set_config "
                    "or remove it with delete_config."
                )
            secret = bool(current["is_sensitive"])
            if secret:
                _need_admin(caller, "reset_config", key)
            _check_version(expected_version, current["version"], key, SYSTEM, "get_config")
            default = current["default_value"]
            if self._same_value(current["value"], default, secret):
                entry = self.entry(current, SYSTEM)
                return ConfigChange(key=key, scope="system", target="", change="unchanged", version=current["version"],
                                    previous_version=current["version"], entry=entry,
                                    message=f"{key} already has its default value; nothing changed.")
            before = self.entry(current, SYSTEM)
            stored = self.box.encrypt(default) if secret and default != "" else default
            version = max(current["version"], sql.max_history_version(conn, "system", "", key)) + 1
            values = {"value": stored, "type": current["type"], "is_sensitive": int(secret),
                      "category": current["category"], "description": current["description"], "version": version}
            sql.update_system(conn, key, values)
            return self._finish(conn, caller, SYSTEM, key, "reset", version, current["version"], before, stored,
                                current["type"], secret)

        return await self.registry.db.write(tx)

    async def rollback(
        self,
        caller: Caller,
        key: str,
        *,
        scope: str,
        target: str | None,
        version: int,
        expected_version: int | None = None,
    ) -> ConfigChange:
        _check_governing(caller, "rollback_config", key)

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            t = resolve_target(conn, scope, target)
            _check_own_preferences(caller, "rollback_config", t)
            old = sql.history_version(conn, t.scope, t.id, key, version)
            if old is None:
                versions = sql.history_versions(conn, t.scope, t.id, key)
                if not versions and not sql.key_definitions(conn, key):
                    raise _unknown_key(conn, key)
                known = ", ".join(map(str, versions)) if versions else "none"
                raise NotFound(
                    f"{key} at {t.label} has no version {version} in its history (versions holding a value: {known}); "
                    "call config_history to see them."
                )
            if old["change"] == "delete" or old["value"] is None:
                raise InvalidInput(
                    f"version {version} of {key} at {t.label} records a deletion, not a value; pick a version that "
                    "holds a value (config_history), or delete_config to remove the setting."
                )
            info = _key_info(conn, key)
            current = sql.get_row(conn, t.scope, t.id, key)
            secret = info.sensitive or bool(old["sensitive"])
            if secret:
                _need_admin(caller, "rollback_config", key)
            previous = current["version"] if current else 0
            _check_version(expected_version, previous, key, t, "get_config or config_history")
            if info.type is not None and old["value_type"] != info.type:
                raise Conflict(
                    f"version {version} of {key} is a {old['value_type']}, but the key is now a {info.type}; "
                    "roll back to a version of the same type, or set the value with set_config (a key changes type "
                    "only after delete_config has removed it everywhere)."
                )
            stored = old["value"]
            plain = self._plaintext(stored) if SecretBox.is_encrypted(stored) else stored
            text, typed = coerce(key, plain, old["value_type"], sensitive=secret)
            check_constraint(key, info.constraint_json, typed, text, sensitive=secret, stored=True)
            if current is not None and current["type"] == old["value_type"] and self._same_value(
                current["value"], text, secret
            ):
                entry = self.entry(current, t, sensitive=secret)
                return ConfigChange(key=key, scope=t.scope, target=t.name, target_id=t.target_id, change="unchanged",
                                    version=previous, previous_version=previous, entry=entry,
                                    message=f"{key} at {t.label} already holds the value of version {version}; "
                                            "nothing changed.")
            if secret and stored and not SecretBox.is_encrypted(stored):
                stored = self.box.encrypt(stored)
            before = self.entry(current, t, sensitive=secret) if current else None
            new_version = max(previous, sql.max_history_version(conn, t.scope, t.id, key)) + 1
            if t.scope == "system":
                category = current["category"] if current else (info.category if info.category in SYSTEM_CATEGORIES else "general")
            else:
                category = current["category"] if current else info.category
            description = current["description"] if current else info.description
            values = {"value": stored, "type": old["value_type"], "is_sensitive": int(secret), "category": category,
                      "description": description, "version": new_version}
            self._write(conn, t, key, values, exists=current is not None)
            return self._finish(conn, caller, t, key, "rollback", new_version, previous, before, stored,
                                old["value_type"], secret)

        return await self.registry.db.write(tx)


def _label(resolved: ResolvedConfig) -> str:
    return Target(resolved.scope, str(resolved.target_id or ""), resolved.target).label


def delete_settings_of(conn: sqlite3.Connection, scope: str, target_ids: list[int], *, changed_by: str) -> list[str]:
    """Remove the settings of deleted objects (inside the deleting service's transaction).

    Returns "scope target-id key" labels of what was removed, for the caller's result and audit.
    """
    removed = sql.delete_for_targets(conn, scope, [str(i) for i in target_ids], changed_by=changed_by)
    return [f"{r['scope']}:{r['target']}:{r['key']}" for r in removed]


async def configuration_briefing(registry: Registry, *, agent: str | None = None) -> str:
    """The text of the configure_sanctum prompt: current settings (masked) and the safe way to change them."""
    service = registry.config
    system, counts = await service.summary()
    lines = [
        "You are helping a person configure Sanctum through the sanctum-mcp registry.",
        "",
        "## Current system settings (secrets masked)",
    ]
    for e in system:
        extra = []
        if e.sensitive:
            extra.append("sensitive" + ("" if e.has_value else ", not set"))
        if e.constraint:
            extra.append("constraint " + json.dumps(e.constraint, separators=(",", ":")))
        suffix = f"; {'; '.join(extra)}" if extra else ""
        lines.append(f"- {e.key} = {e.value} ({e.type}, {e.category}, version {e.version}{suffix})")
    scoped = ", ".join(f"{counts[s]} {s}-level" for s in ("agent", "tool", "instance", "user") if counts.get(s))
    lines.append("")
    lines.append(f"Overrides stored below the system level: {scoped or 'none'} (list_config shows them).")
    if agent is not None:
        entries = await service.entries_at("agent", agent)
        lines += ["", f"## Settings of agent {agent}"]
        lines += [f"- {e.key} = {e.value} ({e.type}, version {e.version})" for e in entries] or ["- none: it inherits everything"]
    lines += [
        "",
        "## How to change settings safely",
        "1. Read first: get_config(key, agent?, tool?, instance?) gives the effective value, the scope it comes",
        "   from, the levels it overrides and its version. Tell the person what will change and where.",
        "2. Resolution is instance -> tool -> agent -> system: set a value at the narrowest scope that should",
        "   have it (set_config with scope and target), not at system level unless everyone should get it.",
        "3. Always pass expected_version (the version you read) to set_config, delete_config, reset_config and",
        "   rollback_config. If someone changed the setting meanwhile, nothing is written and the error names",
        "   the current version: read again, confirm with the person, then retry.",
        "4. Values are checked against the key's type (string, integer, number, boolean, json) and constraint",
        "   (e.g. environment is development, staging or production; ports are 1-65535; URLs must parse).",
        "   A refused value changes nothing; fix the value rather than the type.",
        "5. Every change is a new version: config_history(key, scope, target) lists them, rollback_config",
        "   restores one. Seeded system defaults cannot be deleted; reset_config restores them.",
        "6. Secrets (sensitive keys such as API keys) are encrypted and always shown masked. Setting or",
        "   revealing one needs the admin role, and every reveal is audited. Never repeat a secret in the",
        "   conversation, and prefer that the person sets it with the operator CLI (`sanctum-mcp config set",
        "   KEY - --scope system`, reading the value from standard input).",
    ]
    return "\n".join(lines)
