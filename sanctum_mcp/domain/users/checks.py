"""What a user must be (username, email, permissions), finding one by name or id, and the rules
every change keeps: never lose the last active admin; a deactivated user's tokens are revoked."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.shared.names import check_name_characters
from sanctum_mcp.domain.shared.references import as_id, looks_like_id
from sanctum_mcp.domain.users.models import PermissionSet
from sanctum_mcp.storage import users as sql

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_username(username: str) -> str:
    check_name_characters(username, "user")
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput(
            f"username {username[:80]!r} is not valid: use 1-64 characters, letters, digits and . _ @ -, "
            "starting with a letter or digit."
        )
    if looks_like_id(username):
        raise InvalidInput(f"username {username!r} cannot be all digits (digits address users by id).")
    return username


def check_email(email: str) -> str:
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        raise InvalidInput(f"email {email[:80]!r} is not an e-mail address (expected name@domain.tld).")
    return email


def check_permissions(permissions: PermissionSet | None) -> PermissionSet | None:
    if permissions is None:
        return None
    for agent in permissions.agents or []:
        check_name_characters(agent, "permissions.agents: an agent")
        if not agent.strip() or agent != agent.strip():
            raise InvalidInput(f"permissions.agents: {agent!r} must be an agent name without surrounding spaces.")
    return permissions


def resolve(conn: sqlite3.Connection, user: str) -> sqlite3.Row:
    row = sql.get_by_username(conn, user)
    if row is None and (user_id := as_id(user)) is not None:
        row = sql.get_by_id(conn, user_id)
    if row is None:
        raise NotFound(f"no user named {user!r}; call list_users to see the users.")
    return row


def guard_last_admin(conn: sqlite3.Connection, row: sqlite3.Row, what: str) -> None:
    if row["role"] == "admin" and row["is_active"] and sql.count_active_admins(conn) <= 1:
        raise Conflict(
            f"{row['username']!r} is the last active admin, so it cannot be {what}; nothing was changed. "
            "Give another user the admin role first (update_user with role='admin')."
        )


def revoke_tokens_if_deactivated(conn: sqlite3.Connection, row: sqlite3.Row, columns: dict[str, Any],
                                  now: str) -> list[int]:
    """The one rule for every way of deactivating a user (deactivate_user, update_user active=false):
    in the same transaction, every token of theirs is revoked. Returns the ids revoked."""
    if columns.get("is_active", 1) != 0:
        return []
    return sql.revoke_tokens_of(conn, row["id"], now)
