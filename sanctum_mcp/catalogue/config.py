"""Configuration tools: layered settings with types, constraints, secrets, history and rollback."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from sanctum_mcp.catalogue.base import Call, ToolInput, not_null, tool
from sanctum_mcp.domain.config.access import role_for_key
from sanctum_mcp.domain.config.models import (
    ConfigChange,
    ConfigHistory,
    ConfigPage,
    ConfigScope,
    ConfigType,
    ResolvedConfig,
)
from sanctum_mcp.domain.config.transfer import ConfigExport, ConfigImport
from sanctum_mcp.domain.config.values import MAX_VALUE


def _as_text(value: Any) -> Any:
    """Accept a JSON number or boolean where the schema says string: clients (and models) often
    send 8080 or true for a value. It becomes its JSON text ("8080", "true"), which the key's type
    then validates; the schema stays a plain string, which every client accepts. Objects and arrays
    are refused (pass them as JSON text), like any other wrong type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return value


def _id_as_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _agent_target(args: Any) -> list[tuple[str, Any]]:
    """A target at agent or instance scope belongs to an agent (permissions.agents narrows it);
    tool, user and system targets are shared and left to the role."""
    return [(args.scope, args.target)] if args.scope in ("agent", "instance") else []


ValueText = Annotated[str, BeforeValidator(_as_text)]
Ref = Annotated[str, BeforeValidator(_id_as_text)]

KEY = Field(min_length=1, max_length=128, description="The setting's key, e.g. 'smcp_port'.")
# Defaults to system, as the CLI's --scope does (`sanctum-mcp config set|history|delete|rollback`).
SCOPE = Field(default="system", description="system, agent, tool, instance or user.")
TARGET = Field(default=None, description="The agent's, tool's or user's name (or id), the instance's id; none at system.")
EXPECTED = Field(
    default=None,
    ge=0,
    description="Check-and-set: the version you read (0 = must not exist yet); a newer one refuses the change.",
)
# null must not read as "no check": a caller meaning to check and sending null would write blindly.
Expected = Annotated[int | None, not_null("give the version you last read, or leave it out to skip the check")]


class GetConfig(ToolInput):
    key: str = KEY
    agent: Ref | None = Field(default=None, description="Resolve for this agent (name or id).")
    tool: Ref | None = Field(default=None, description="Resolve for this tool (name or id).")
    instance: Ref | None = Field(
        default=None, description="Resolve for this tool instance (numeric id); brings its own tool and agent."
    )
    user: Ref | None = Field(default=None, description="Apply this user's preferences first (user name or id).")
    reveal: bool = Field(
        default=False, description="Admins: the plaintext of a secret too (audited)."
    )


@tool(
    "get_config",
    title="Get a setting (resolved)",
    group="Configuration",
    role="viewer",
    read_only=True,
    idempotent=True,
    extra_role=lambda args: "admin" if args.reveal else None,
    secrets=("reveal",),
    agents=("agent",),
    owned=lambda args: [("instance", args.instance)],
)
async def get_config(call: Call, args: GetConfig) -> ResolvedConfig:
    """The effective value of a setting for an agent, tool or instance, and where it comes from.

    Order: user (if given) -> instance -> tool -> agent -> system. The result names the winning scope,
    the levels it overrides, and an explanation to repeat to a person. Secrets masked."""
    return await call.registry.config.get(
        call.caller, args.key, agent=args.agent, tool=args.tool, instance=args.instance, user=args.user,
        reveal=args.reveal,
    )


class SetConfig(ToolInput):
    key: str = KEY
    value: ValueText = Field(
        max_length=MAX_VALUE,
        description="The new value as text: '8080', 'true', 'production', '{\"a\": 1}' (JSON as text). Checked "
        "against the key's type and constraint.",
    )
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    type: ConfigType | None = Field(
        default=None,
        description="string, integer, number, boolean or json. Only for a new key (default string); an existing key "
        "keeps its type.",
    )
    description: str | None = Field(default=None, max_length=2000, description="What the setting is for.")
    category: str | None = Field(
        default=None,
        max_length=64,
        description="Grouping. At system scope one of api_keys, paths, ports, general (default general).",
    )
    sensitive: bool | None = Field(
        default=None,
        description="true for a secret (encrypted at rest, always masked; needs the admin role). A sensitive key "
        "stays sensitive.",
    )
    expected_version: Expected = EXPECTED


@tool(
    "set_config",
    title="Set a setting",
    group="Configuration",
    role="user",
    read_only=False,
    idempotent=True,
    extra_role=lambda args: role_for_key(args.key, sensitive=args.sensitive),
    # The value of a key that is already sensitive is a secret too: the domain refuses it (ConfigService.set).
    secrets=("sensitive",),
    owned=_agent_target,
)
async def set_config(call: Call, args: SetConfig) -> ConfigChange:
    """Set a setting at one scope: system (everyone), agent, tool, instance or user.

    Checked against the key's type and constraint (e.g. environment is development, staging or
    production; ports 1-65535). Returns the new version. Secrets need the admin role. Every change is
    kept in config_history (rollback_config undoes it)."""
    return await call.registry.config.set(
        call.caller, args.key, args.value, scope=args.scope, target=args.target, value_type=args.type,
        description=args.description, category=args.category, sensitive=args.sensitive,
        expected_version=args.expected_version,
    )


class ListConfig(ToolInput):
    category: str | None = Field(default=None, max_length=64, description="Only this category (e.g. ports).")
    scope: ConfigScope | None = Field(default=None, description="Only this scope.")
    target: Ref | None = Field(default=None, description="Only this object (needs scope): name or id.")
    prefix: str | None = Field(default=None, max_length=128, description="Only keys starting with this text.")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the first page.")
    limit: int = Field(default=100, ge=1, le=500, description="Settings per page (1-500).")


@tool("list_config", title="List settings", group="Configuration", role="viewer", read_only=True, idempotent=True,
      owned=_agent_target)
async def list_config(call: Call, args: ListConfig) -> ConfigPage:
    """Stored settings (not resolved): system first, then agent, instance, tool and user overrides.
    Secrets masked. Call again with next_cursor while there is one."""
    return await call.registry.config.list(
        category=args.category, scope=args.scope, target=args.target, prefix=args.prefix, cursor=args.cursor,
        limit=args.limit,
    )


class DeleteConfig(ToolInput):
    key: str = KEY
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    expected_version: Expected = EXPECTED


@tool(
    "delete_config",
    title="Delete a setting",
    group="Configuration",
    role="user",
    read_only=False,
    destructive=True,
    extra_role=lambda args: role_for_key(args.key),
    owned=_agent_target,
)
async def delete_config(call: Call, args: DeleteConfig) -> ConfigChange:
    """Delete a setting at one scope so that lower levels apply again. A seeded system default cannot
    be deleted (reset_config). rollback_config can bring it back."""
    return await call.registry.config.delete(
        call.caller, args.key, scope=args.scope, target=args.target, expected_version=args.expected_version
    )


class ResetConfig(ToolInput):
    key: str = KEY
    expected_version: Expected = EXPECTED


@tool("reset_config", title="Reset a system setting to its default", group="Configuration", role="user",
      read_only=False, idempotent=True, extra_role=lambda args: role_for_key(args.key))
async def reset_config(call: Call, args: ResetConfig) -> ConfigChange:
    """Restore a seeded system setting (e.g. flask_port, environment) to its default value. Recorded in
    config_history as a new version. Overrides at agent, tool or instance scope are not touched."""
    return await call.registry.config.reset(call.caller, args.key, expected_version=args.expected_version)


class ConfigHistoryInput(ToolInput):
    key: str = KEY
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the newest.")
    limit: int = Field(default=50, ge=1, le=500, description="Entries per page (1-500).")


@tool("config_history", title="History of a setting", group="Configuration", role="viewer", read_only=True,
      idempotent=True, owned=_agent_target)
async def config_history(call: Call, args: ConfigHistoryInput) -> ConfigHistory:
    """Every recorded version of one setting at one scope, newest first: value (masked when sensitive),
    what changed (set, delete, rollback, reset), who and when. Use a version with rollback_config."""
    return await call.registry.config.history(
        args.key, scope=args.scope, target=args.target, cursor=args.cursor, limit=args.limit
    )


class RollbackConfig(ToolInput):
    key: str = KEY
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    version: int = Field(ge=1, description="The version to restore (from config_history).")
    expected_version: Expected = EXPECTED


@tool("rollback_config", title="Roll a setting back", group="Configuration", role="user", read_only=False,
      idempotent=True, extra_role=lambda args: role_for_key(args.key), owned=_agent_target)
async def rollback_config(call: Call, args: RollbackConfig) -> ConfigChange:
    """Restore the value a setting had at an earlier version (see config_history). The restore is a new
    version, so it can itself be undone. Works after a delete too."""
    return await call.registry.config.rollback(
        call.caller, args.key, scope=args.scope, target=args.target, version=args.version,
        expected_version=args.expected_version,
    )


class ExportConfig(ToolInput):
    format: Literal["json", "yaml", "env"] = Field(default="json", description="env: shell lines.")
    scope: ConfigScope | None = Field(default=None, description="Only this scope.")
    target: Ref | None = Field(default=None, description="Needs scope.")
    category: str | None = Field(default=None, max_length=64, description="Only this category.")
    keys: list[Annotated[str, Field(max_length=128)]] | None = Field(default=None, max_length=1000,
                                                                     description="Only these keys.")
    reveal: bool = Field(default=False, description="Admins: secrets in clear (audited).")


@tool("export_config", title="Export settings", group="Configuration", role="viewer", read_only=True,
      idempotent=True, extra_role=lambda args: "admin" if args.reveal else None, secrets=("reveal",),
      owned=_agent_target)
async def export_config(call: Call, args: ExportConfig) -> ConfigExport:
    """Stored settings with their versions as a document for import_config. Secrets masked."""
    return await call.registry.config_transfer.export(
        call.caller, scope=args.scope, target=args.target, category=args.category, keys=args.keys,
        reveal=args.reveal, fmt=args.format,
    )


class ImportConfig(ToolInput):
    document: str = Field(description="export_config's document, JSON or YAML text.")
    dry_run: bool = Field(default=False, description="Diff only.")


@tool("import_config", title="Import settings", group="Configuration", role="user", read_only=False,
      idempotent=True)
async def import_config(call: Call, args: ImportConfig) -> ConfigImport:
    """Apply an export in one transaction, each entry as set_config would. Any entry changed since its
    version refuses all. Returns the diff."""
    return await call.registry.config_transfer.import_(call.caller, args.document, dry_run=args.dry_run)
