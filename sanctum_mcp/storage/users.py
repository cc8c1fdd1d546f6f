"""SQL for users and api_tokens. Plain functions over a sqlite3 connection; no rules here."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage.sqlutil import insert_row, page_by_name, update_row

USER_COLUMNS = ("username", "email", "role", "permissions", "last_login", "is_active")


# --- users ------------------------------------------------------------------------------------


def count_users(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM users").fetchone()[0]


def get_by_id(conn: sqlite3.Connection, user_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()


def get_by_username(conn: sqlite3.Connection, username: str) -> sqlite3.Row | None:
    # username is COLLATE NOCASE: any case matches, through the unique index.
    return conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()


def get_by_email(conn: sqlite3.Connection, email: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()


def count_active_admins(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM users WHERE role = 'admin' AND is_active = 1").fetchone()[0]


def first_active_admin(conn: sqlite3.Connection) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM users WHERE role = 'admin' AND is_active = 1 ORDER BY id LIMIT 1"
    ).fetchone()


def page(
    conn: sqlite3.Connection, *, is_active: bool | None, after: tuple[str, int] | None, limit: int
) -> list[sqlite3.Row]:
    return page_by_name(conn, "users", equals={"is_active": is_active}, after=after, limit=limit,
                        name_column="username")


def insert_user(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    return insert_row(conn, "users", USER_COLUMNS, values)


def update_user(conn: sqlite3.Connection, user_id: int, values: dict[str, Any]) -> None:
    update_row(conn, "users", USER_COLUMNS, user_id, values)


# --- api_tokens -------------------------------------------------------------------------------


def insert_token(conn: sqlite3.Connection, *, user_id: int, token_hash: str, name: str | None, now: str) -> int:
    return conn.execute(
        "INSERT INTO api_tokens (user_id, token_hash, name, created_at) VALUES (?, ?, ?, ?)",
        (user_id, token_hash, name, now),
    ).lastrowid


def get_token(conn: sqlite3.Connection, token_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()


def tokens_of(conn: sqlite3.Connection, user_ids: list[int]) -> list[sqlite3.Row]:
    if not user_ids:
        return []
    marks = ", ".join("?" for _ in user_ids)
    return conn.execute(f"SELECT * FROM api_tokens WHERE user_id IN ({marks}) ORDER BY id", user_ids).fetchall()


def token_with_user(conn: sqlite3.Connection, token_hash: str) -> sqlite3.Row | None:
    """The token row joined with its user's identity, by hash (the unique index)."""
    return conn.execute(
        "SELECT t.id AS token_id, t.revoked_at, t.last_used_at, u.id AS user_id, u.username, u.role, "
        "u.permissions, u.is_active, u.last_login "
        "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
        (token_hash,),
    ).fetchone()


def revoke_token(conn: sqlite3.Connection, token_id: int, now: str) -> None:
    conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, token_id))


def revoke_tokens_of(conn: sqlite3.Connection, user_id: int, now: str) -> list[int]:
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL ORDER BY id", (user_id,)
    )]
    conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (now, user_id))
    return ids


def touch_token(conn: sqlite3.Connection, token_id: int, user_id: int, now: str) -> None:
    conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, token_id))
    conn.execute("UPDATE users SET last_login = ? WHERE id = ?", (now, user_id))


def touch_login(conn: sqlite3.Connection, user_id: int, now: str) -> None:
    conn.execute("UPDATE users SET last_login = ? WHERE id = ?", (now, user_id))


def count_usable_tokens(conn: sqlite3.Connection) -> int:
    """Tokens that would authenticate now: not revoked, and their user is active."""
    return conn.execute(
        "SELECT count(*) FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.revoked_at IS NULL AND u.is_active = 1"
    ).fetchone()[0]
