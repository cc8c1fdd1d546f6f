"""Who may change which setting, beyond the tool's own role: the admin role for a secret or a
governing key (shared/governing.py), and a user-scope setting only by its user or an admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sanctum_mcp.domain.shared.errors import Forbidden
from sanctum_mcp.domain.shared.governing import GOVERNING_KEYS
from sanctum_mcp.domain.shared.identity import Caller, Role

if TYPE_CHECKING:
    from sanctum_mcp.domain.config.targets import Target


def role_for_key(key: str, *, sensitive: bool | None = None) -> Role | None:
    """The role a change of `key` needs beyond the tool's own: admin for a secret or a governing key.
    The catalogue declares it (`extra_role`), so the gate refuses before anything runs."""
    return "admin" if sensitive or key in GOVERNING_KEYS else None


def check_governing(caller: Caller, tool: str, key: str) -> None:
    if key in GOVERNING_KEYS and not caller.has_role("admin"):
        raise Forbidden(
            f"{tool} on {key!r}, a setting that governs the audit trail, log retention or automatic backups, "
            f"needs the 'admin' role; {caller.username!r} has {caller.role!r}. Ask an admin to change it."
        )


def need_admin(caller: Caller, tool: str, key: str) -> None:
    if not caller.has_role("admin"):
        raise Forbidden(
            f"{tool} on the sensitive key {key!r} needs the 'admin' role; {caller.username!r} has {caller.role!r}. "
            "Ask an admin to run it."
        )


def check_own_preferences(caller: Caller, tool: str, t: Target) -> None:
    """User-scope settings are one person's preferences: only they, or an admin, may change them."""
    if t.scope == "user" and not caller.has_role("admin") and caller.user_id != t.target_id:
        raise Forbidden(
            f"{tool}: the settings of user {t.name!r} are their own preferences; {caller.username!r} may change "
            "only their own (scope user, target their username). Ask an admin to change someone else's."
        )
