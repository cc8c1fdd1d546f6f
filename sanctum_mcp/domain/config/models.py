"""What callers see of configuration: scopes and types, the result models, and the masking choke
point `present()` through which every one of them is built (plus `plaintext()`, its audited reverse)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain.shared.errors import Conflict
from sanctum_mcp.domain.shared.secrets import SecretBox, SecretUnreadable, mask

ConfigScope = Literal["system", "agent", "tool", "instance", "user"]
ConfigType = Literal["string", "integer", "number", "boolean", "json"]
ChangeKind = Literal["set", "delete", "rollback", "reset", "unchanged"]
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
    target: str = Field(description="The object's name; '' at system scope.")
    target_id: int | None = Field(default=None, description="The object's id; null at system scope.")
    value: str | None = Field(description="As text (see type); masked when sensitive.")
    type: ConfigType
    sensitive: bool
    has_value: bool = Field(description="False when the value is empty.")
    category: str | None = None
    description: str | None = None
    version: int
    updated_at: str | None = None
    default_value: str | None = Field(default=None, description="Seeded default (system scope).")
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
    change: ChangeKind = Field(description="'unchanged' when it already had this value.")
    version: int = Field(description="The version now (the next expected_version).")
    previous_version: int = Field(description="0 when it did not exist.")
    entry: ConfigEntry | None = Field(default=None, description="Null after a delete.")
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
