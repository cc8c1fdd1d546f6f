"""Configuration tools: layered settings with types, constraints, secrets, history and rollback."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from sanctum_mcp.catalogue.base import CONFIRM, Call, Confirm, ToolInput, confirmation, not_null, tool
from sanctum_mcp.domain.config.access import role_for_key
from sanctum_mcp.domain.config.models import (
    ConfigChange,
    ConfigHistory,
    ConfigPage,
    ConfigScope,
    ConfigType,
    Environment,
    EnvironmentSwitch,
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

KEY = Field(min_length=1, max_length=128, description="e.g. 'smcp_port'.")
# Defaults to system, as the CLI's --scope does (`sanctum-mcp config set|history|delete|rollback`).
SCOPE = Field(default="system", description="Where it is stored.")
TARGET = Field(
    default=None,
    description="Name or id (instance: id); omit at system scope.",
)
EXPECTED = Field(
    default=None,
    ge=0,
    description="Check-and-set: the version you read (0: new).",
)
ENVIRONMENT = Field(default=None, description="Only for this environment (default: all).")
# null must not read as "no check": a caller meaning to check and sending null would write blindly.
Expected = Annotated[int | None, not_null("give the version you last read, or leave it out to skip the check")]


class GetConfig(ToolInput):
    key: str = KEY
    agent: Ref | None = Field(default=None, description="Name or id.")
    tool: Ref | None = Field(default=None, description="Name or id.")
    instance: Ref | None = Field(default=None, description="Tool instance id; implies its tool and agent.")
    user: Ref | None = Field(default=None, description="Name or id; their preferences apply first.")
    reveal: bool = Field(default=False, description="Admins: also return a secret's plaintext (audited).")


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
    """A setting's effective value and its source (instance > tool > agent > system; a user's
    preferences first; at each level the active environment's value before the general one)."""
    return await call.registry.config.get(
        call.caller, args.key, agent=args.agent, tool=args.tool, instance=args.instance, user=args.user,
        reveal=args.reveal,
    )


class SetConfig(ToolInput):
    key: str = KEY
    value: ValueText = Field(
        max_length=MAX_VALUE,
        description="As text, e.g. '8080', 'true', '{\"a\": 1}'.",
    )
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    type: ConfigType | None = Field(
        default=None,
        description="A new key's type (default string).",
    )
    description: str | None = Field(default=None, max_length=2000)
    category: str | None = Field(
        default=None,
        max_length=64,
        description="At system scope: api_keys, paths, ports or general (default).",
    )
    sensitive: bool | None = Field(
        default=None,
        description="true: a secret (encrypted, masked, admin only).",
    )
    expected_version: Expected = EXPECTED
    # Optional booleans default to None (left out of the published schema: None reads as false).
    create: bool | None = Field(default=None, description="New on purpose.")
    environment: Environment | None = ENVIRONMENT


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
    """Set a setting at one scope, checked against its type and constraint. Secrets need admin."""
    return await call.registry.config.set(
        call.caller, args.key, args.value, scope=args.scope, target=args.target, value_type=args.type,
        description=args.description, category=args.category, sensitive=args.sensitive,
        expected_version=args.expected_version, create=bool(args.create), environment=args.environment,
    )


class ListConfig(ToolInput):
    category: str | None = Field(default=None, max_length=64, description="Only this category (e.g. ports).")
    scope: ConfigScope | None = None
    target: Ref | None = Field(default=None, description="Only this object (needs scope): name or id.")
    prefix: str | None = Field(default=None, max_length=128, description="Only keys starting with this.")
    cursor: str | None = None
    limit: int = Field(default=100, ge=1, le=500)


@tool("list_config", title="List settings", group="Configuration", role="viewer", read_only=True, idempotent=True,
      owned=_agent_target)
async def list_config(call: Call, args: ListConfig) -> ConfigPage:
    """List settings as stored (not resolved), system settings first."""
    return await call.registry.config.list(
        category=args.category, scope=args.scope, target=args.target, prefix=args.prefix, cursor=args.cursor,
        limit=args.limit,
    )


class DeleteConfig(ToolInput):
    key: str = KEY
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    expected_version: Expected = EXPECTED
    environment: Environment | None = ENVIRONMENT


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
    """Delete a setting at one scope so that lower levels apply again."""
    return await call.registry.config.delete(
        call.caller, args.key, scope=args.scope, target=args.target, expected_version=args.expected_version,
        environment=args.environment,
    )


class ResetConfig(ToolInput):
    key: str = KEY
    expected_version: Expected = EXPECTED
    environment: Environment | None = ENVIRONMENT


@tool("reset_config", title="Reset a setting to its default", group="Configuration", role="user",
      read_only=False, idempotent=True, extra_role=lambda args: role_for_key(args.key))
async def reset_config(call: Call, args: ResetConfig) -> ConfigChange:
    """Restore a seeded system setting to its default, as a new version."""
    return await call.registry.config.reset(call.caller, args.key, expected_version=args.expected_version,
                                            environment=args.environment)


class ConfigHistoryInput(ToolInput):
    key: str = KEY
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)
    environment: Environment | None = ENVIRONMENT


@tool("config_history", title="History of a setting", group="Configuration", role="viewer", read_only=True,
      idempotent=True, owned=_agent_target)
async def config_history(call: Call, args: ConfigHistoryInput) -> ConfigHistory:
    """A setting's versions at one scope, newest first (secrets masked)."""
    return await call.registry.config.history(
        args.key, scope=args.scope, target=args.target, cursor=args.cursor, limit=args.limit,
        environment=args.environment,
    )


class RollbackConfig(ToolInput):
    key: str = KEY
    scope: ConfigScope = SCOPE
    target: Ref | None = TARGET
    version: int = Field(ge=1, description="From config_history.")
    expected_version: Expected = EXPECTED
    confirm: Confirm = CONFIRM
    environment: Environment | None = ENVIRONMENT


@tool("rollback_config", title="Roll a setting back", group="Configuration", role="user", read_only=False,
      idempotent=True, extra_role=lambda args: role_for_key(args.key), owned=_agent_target)
async def rollback_config(call: Call, args: RollbackConfig) -> ConfigChange:
    """Restore a setting's earlier version as a new one (also after a delete)."""
    return await call.registry.config.rollback(
        call.caller, args.key, scope=args.scope, target=args.target, version=args.version,
        expected_version=args.expected_version, confirm=confirmation("rollback_config", call, args),
        environment=args.environment,
    )


class SwitchEnvironment(ToolInput):
    environment: Environment = Field(description="The one to switch to.")
    confirm: bool = Field(default=False, description="false: only list what would change.")


@tool("switch_environment", title="Switch the environment", group="Configuration", role="admin", read_only=False,
      idempotent=True)
async def switch_environment(call: Call, args: SwitchEnvironment) -> EnvironmentSwitch:
    """Switch the active environment, whose values then apply. Without confirm=true, only lists the
    values that would change (masked)."""
    return await call.registry.config.switch_environment(call.caller, args.environment, confirm=args.confirm)


class ExportConfig(ToolInput):
    format: Literal["json", "yaml", "env"] = Field(default="json", description="env: shell lines.")
    scope: ConfigScope | None = None
    target: Ref | None = Field(default=None, description="Only this object (needs scope).")
    category: str | None = Field(default=None, max_length=64, description="Only this category.")
    keys: list[Annotated[str, Field(max_length=128)]] | None = Field(default=None, max_length=1000,
                                                                     description="Only these keys.")
    reveal: bool = Field(default=False, description="Admin: secrets in clear (audited).")
    environment: Environment | None = Field(default=None, description="Only this one's values beside the general.")


@tool("export_config", title="Export settings", group="Configuration", role="viewer", read_only=True,
      idempotent=True, extra_role=lambda args: "admin" if args.reveal else None, secrets=("reveal",),
      owned=_agent_target)
async def export_config(call: Call, args: ExportConfig) -> ConfigExport:
    """Stored settings with their versions, as a document for import_config (secrets masked)."""
    return await call.registry.config_transfer.export(
        call.caller, scope=args.scope, target=args.target, category=args.category, keys=args.keys,
        reveal=args.reveal, fmt=args.format, environment=args.environment,
    )


class ImportConfig(ToolInput):
    document: str = Field(description="export_config's document (JSON or YAML).")
    dry_run: bool = Field(default=False, description="Only the diff.")


@tool("import_config", title="Import settings", group="Configuration", role="user", read_only=False,
      idempotent=True)
async def import_config(call: Call, args: ImportConfig) -> ConfigImport:
    """Apply an export in one transaction, each entry as set_config; an entry changed since its version
    refuses all."""
    return await call.registry.config_transfer.import_(call.caller, args.document, dry_run=args.dry_run)
