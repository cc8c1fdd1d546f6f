"""What callers see of configuration: scopes and types, the result models, and the masking choke
point `present()` through which every one of them is built (plus `plaintext()`, its audited reverse)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sanctum_mcp.domain.shared.errors import Conflict
from sanctum_mcp.domain.shared.secrets import SecretBox, SecretUnreadable, mask

ConfigScope = Literal["system", "agent", "tool", "instance", "user"]
ConfigType = Literal["string", "integer", "number", "boolean", "json"]
ChangeKind = Literal["set", "delete", "rollback", "reset", "unchanged"]
Environment = Literal["development", "staging", "production"]
SCOPES: tuple[str, ...] = ConfigScope.__args__  # type: ignore[attr-defined]
TYPES: tuple[str, ...] = ConfigType.__args__  # type: ignore[attr-defined]
SYSTEM_CATEGORIES = ("api_keys", "paths", "ports", "general")


# --- presentation: the masking choke point ---------------------------------------------------


def present(stored: str | None, sensitive: bool, box: SecretBox) -> str | None:
    """What any caller may see of a stored value: the value itself, or for a sensitive one the mask.

    Every model of this package is built through here. A secret that cannot be decrypted (wrong
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


def plaintext(stored: str | None, box: SecretBox) -> str | None:
    """A stored value as plaintext (only for an audited reveal, or to re-store it in a rollback)."""
    if stored is None or not SecretBox.is_encrypted(stored):
        return stored
    try:
        return box.decrypt(stored)
    except SecretUnreadable as exc:
        raise Conflict(str(exc)) from None


# --- models ----------------------------------------------------------------------------------


class ConfigEntry(BaseModel):
    key: str
    scope: ConfigScope
    target: str
    target_id: int | None = None
    value: str | None = Field(description="Masked if sensitive.")
    type: ConfigType
    sensitive: bool
    has_value: bool
    category: str | None = None
    description: str | None = None
    version: int
    updated_at: str | None = None
    default_value: str | None = None
    constraint: dict[str, Any] | None = None
    environment: str | None = None  # the environment it applies in; None: every one


class ConfigLayer(BaseModel):
    scope: ConfigScope
    target: str
    target_id: int | None = None
    value: str | None = Field(description="Masked if sensitive.")
    version: int
    environment: str | None = None


class ResolvedConfig(BaseModel):
    key: str
    value: str | None = Field(description="Masked if sensitive.")
    type: ConfigType
    sensitive: bool
    has_value: bool
    scope: ConfigScope
    target: str
    target_id: int | None = None
    version: int
    environment: str | None = Field(default=None, description="Whose value applied; null: the general one.")
    active_environment: str
    overrides: list[ConfigLayer] = Field(
        default_factory=list
    )
    explanation: str
    category: str | None = None
    description: str | None = None
    revealed_value: str | None = Field(
        default=None, description="Plaintext (reveal=true only)."
    )


class ConfigPage(BaseModel):
    entries: list[ConfigEntry]
    next_cursor: str | None = None


class ConfigValue(BaseModel):
    # A setting as stored after a change: a ConfigEntry without what the change itself names (key,
    # scope, target, version), so four tools' output schemas say each of those once.
    model_config = ConfigDict(from_attributes=True)  # built from the ConfigEntry the service reads

    value: str | None = Field(description="Masked if sensitive.")
    type: ConfigType
    sensitive: bool
    has_value: bool
    category: str | None = None
    description: str | None = None
    updated_at: str | None = None
    default_value: str | None = None
    constraint: dict[str, Any] | None = None
    environment: str | None = None


class ConfigChange(BaseModel):
    key: str
    scope: ConfigScope
    target: str
    target_id: int | None = None
    change: ChangeKind
    version: int
    previous_version: int
    entry: ConfigValue | None = None
    message: str


class HistoryEntry(BaseModel):
    version: int
    change: Literal["set", "delete", "rollback", "reset"]
    value: str | None = Field(description="Masked if sensitive.")
    type: ConfigType
    sensitive: bool
    changed_by: str | None = None
    created_at: str


class ConfigHistory(BaseModel):
    key: str
    scope: ConfigScope
    target: str
    target_id: int | None = None
    environment: str | None = None
    entries: list[HistoryEntry]
    next_cursor: str | None = None


class EnvironmentChange(BaseModel):
    # One stored place whose applying value changes. (A comment, not a docstring: a docstring would be
    # published in switch_environment's output schema; the tool's description says values are masked.)

    key: str
    scope: ConfigScope
    target: str
    before: str | None
    after: str | None
    sensitive: bool


class EnvironmentSwitch(BaseModel):
    from_environment: str
    to_environment: str
    applied: bool
    changes: list[EnvironmentChange]
    omitted: int = Field(default=0, description="Changes not listed.")
    version: int
    message: str
