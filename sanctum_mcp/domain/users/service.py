"""UserService: who the local operator is (kept fresh from its row), users (create, update,
deactivate) and their API tokens (create, verify, revoke)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.clock import iso
from sanctum_mcp.domain.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR, Caller, Role
from sanctum_mcp.domain.shared.names import check_name_characters
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.users.checks import (
    check_email,
    check_permissions,
    check_username,
    guard_last_admin,
    resolve,
    revoke_tokens_if_deactivated,
)
from sanctum_mcp.domain.users.models import (
    ApiTokenInfo,
    DeactivatedUser,
    NewToken,
    PermissionSet,
    RevokedToken,
    User,
    UserPage,
    caller_from_row,
)
from sanctum_mcp.domain.users.tokens import TOKEN_PREFIX, TOUCH_EVERY, hash_token, new_token
from sanctum_mcp.storage import users as sql

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database


class UserService:
    PAGE_DEFAULT = 50

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock
        # Who this process acts as over stdio, in CLI commands and for trusted loopback HTTP
        # clients (Registry.operator): a real user, set by Registry.open. LOCAL_OPERATOR until then.
        self.operator: Caller = LOCAL_OPERATOR
        # PRAGMA data_version when the operator was last read from its row (None: never).
        self._operator_seen: int | None = None

    def _now(self) -> str:
        return iso(self.clock())

    # --- the local operator -------------------------------------------------------------------

    async def local_caller(self, username: str | None, *, default_name: str, create_first_user: bool = True) -> Caller:
        """The user the process acts as over stdio and in CLI commands.

        On a database with no user at all, first creates the admin `username or default_name`
        (unless create_first_user is False).
        Without a name: the oldest active admin. With a name: that user, which must be active.
        """
        if create_first_user and await self.db.read(sql.count_users) == 0:
            first = check_username(username or default_name)

            def bootstrap(conn: sqlite3.Connection) -> None:
                if sql.count_users(conn):
                    return  # another process created the first user meanwhile
                # Like the seeded rows, the first admin is part of a new database: not audited.
                sql.insert_user(conn, {"username": first, "role": "admin", "is_active": 1})

            await self.db.write(bootstrap)

        def find(conn: sqlite3.Connection) -> sqlite3.Row | None:
            if username is None:
                return sql.first_active_admin(conn)
            return sql.get_by_username(conn, username)

        row = await self.db.read(find)
        if row is None:
            if username is None:
                raise Forbidden(
                    "the registry has no active admin to act as the local operator. Pass --user NAME with an "
                    "active user (sanctum-mcp user list shows them)."
                )
            raise NotFound(
                f"no user named {username!r}. Create it with `sanctum-mcp user add {username} --role admin`, "
                "or leave --user out to act as the oldest active admin."
            )
        if not row["is_active"]:
            raise Forbidden(f"user {row['username']!r} is deactivated; reactivate it (update_user active=true) or pick another --user.")
        return caller_from_row(row)

    def operator_now(self) -> Caller:
        """The local operator (stdio, trusted loopback HTTP) as the users table says now.

        A role, permissions or active-flag change, made by a tool or by another process (the CLI),
        applies from the next call, not from the next start. Synchronous and cheap: one
        `PRAGMA data_version` on the inline reader per call, and the user's row read again only
        after some commit. If the file is locked the last known caller is used (checked again on
        the next call). Raises Forbidden once the user is deactivated or removed.
        """
        operator = self.operator
        if operator.user_id is None:
            return operator
        db = self.db
        try:
            seen = db.data_version()
            if seen == self._operator_seen:
                return operator
            row = db.read_inline(sql.get_by_id, operator.user_id)
        except sqlite3.OperationalError:
            return operator
        if row is None or not row["is_active"]:
            raise Forbidden(
                f"user {operator.username!r}, whom this server acts as, has been deactivated or removed. "
                "Reactivate it (update_user active=true), or restart the server with another --user."
            )
        self.operator = caller_from_row(row)
        self._operator_seen = seen
        return self.operator

    async def touch_login(self, caller: Caller) -> None:
        if caller.user_id is not None:
            now = self._now()
            await self.db.write(lambda conn: sql.touch_login(conn, caller.user_id, now))

    # --- tokens ---------------------------------------------------------------------------------

    async def authenticate(self, token: str) -> tuple[Caller, int] | None:
        """The caller a bearer token stands for, with the token id; None if unknown, revoked or the
        user is deactivated."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = await self.db.read(sql.token_with_user, hash_token(token))
        if row is None or row["revoked_at"] is not None or not row["is_active"]:
            return None
        now = self.clock()
        if row["last_used_at"] is None or row["last_used_at"] < iso(now - TOUCH_EVERY):
            stamp = iso(now)
            try:
                await self.db.write(lambda conn: sql.touch_token(conn, row["token_id"], row["user_id"], stamp))
            except sqlite3.OperationalError:
                pass  # bookkeeping only (e.g. another process holds the write lock): the token is still valid
        return caller_from_row(row), row["token_id"]

    async def token_is_active(self, token: str) -> bool:
        """Whether a token would authenticate now (by its hash), without recording a use: for
        letta_status, which checks the token Letta holds, not a login."""
        if not token.startswith(TOKEN_PREFIX):
            return False
        row = await self.db.read(sql.token_with_user, hash_token(token))
        return row is not None and row["revoked_at"] is None and bool(row["is_active"])

    async def caller_now(self, user_id: int, token_hash: str | None = None, *,
                         token_id: int | None = None) -> Caller | None:
        """A signed-in browser session's caller as the users table says now (console/sessions.py),
        or an MCP session's (server/subscriptions.py, by the id of its token): its role and
        permissions read again on every request; None once the user is deactivated or removed, or
        the API token it signed in with (`token_hash` / `token_id`) is revoked."""
        if token_hash is not None:
            row = await self.db.read(sql.token_with_user, token_hash)
            if row is None or row["user_id"] != user_id or row["revoked_at"] is not None:
                return None
        else:
            if token_id is not None:
                token = await self.db.read(sql.get_token, token_id)
                if token is None or token["user_id"] != user_id or token["revoked_at"] is not None:
                    return None
            row = await self.db.read(sql.get_by_id, user_id)
        if row is None or not row["is_active"]:
            return None
        return caller_from_row(row)

    async def usable_token_count(self) -> int:
        return await self.db.read(sql.count_usable_tokens)

    async def create_token(self, caller: Caller, user: str, name: str | None) -> NewToken:
        if name is not None:
            check_name_characters(name, "API token")
        token = new_token()
        digest = hash_token(token)
        now = self._now()

        def tx(conn: sqlite3.Connection) -> NewToken:
            row = resolve(conn, user)
            if not row["is_active"]:
                raise Conflict(f"user {row['username']!r} is deactivated; reactivate it with update_user first.")
            token_id = sql.insert_token(conn, user_id=row["id"], token_hash=digest, name=name, now=now)
            info = ApiTokenInfo.from_row(sql.get_token(conn, token_id))
            audit.record(conn, caller, action="user.token.create", source="user", source_id=row["id"],
                         message=f"API token {token_id} created for {row['username']!r}", after=info)
            return NewToken(
                token=token, token_id=token_id, username=row["username"], name=name, created_at=info.created_at,
                usage="Send it as the HTTP header 'Authorization: Bearer <token>' to /mcp or /sse. It is "
                "shown only this once; revoke it with revoke_api_token if it leaks.",
            )

        return await self.db.write(tx)

    async def revoke_token(self, caller: Caller, token_id: int) -> RevokedToken:
        now = self._now()

        def tx(conn: sqlite3.Connection) -> RevokedToken:
            row = sql.get_token(conn, token_id)
            if row is None:
                raise NotFound(f"no API token with id {token_id}; list_users shows each user's tokens and their ids.")
            owner = sql.get_by_id(conn, row["user_id"])["username"]
            if row["revoked_at"] is not None:
                return RevokedToken(token=ApiTokenInfo.from_row(row), username=owner, already_revoked=True)
            sql.revoke_token(conn, token_id, now)
            info = ApiTokenInfo.from_row(sql.get_token(conn, token_id))
            audit.record(conn, caller, action="user.token.revoke", source="user", source_id=row["user_id"],
                         message=f"API token {token_id} of {owner!r} revoked", before=ApiTokenInfo.from_row(row),
                         after=info)
            return RevokedToken(token=info, username=owner, already_revoked=False)

        return await self.db.write(tx)

    # --- users ----------------------------------------------------------------------------------

    async def list(self, *, is_active: bool | None = None, cursor: str | None = None, limit: int = PAGE_DEFAULT) -> UserPage:
        key = decode_cursor("list_users", cursor, arity=2)
        after = (key[0], key[1]) if key else None

        def read(conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
            rows = sql.page(conn, is_active=is_active, after=after, limit=limit + 1)
            return rows, sql.tokens_of(conn, [r["id"] for r in rows[:limit]])

        rows, tokens = await self.db.read(read)
        users = [User.from_row(r, [t for t in tokens if t["user_id"] == r["id"]]) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor("list_users", [users[-1].username, users[-1].id])
        return UserPage(users=users, next_cursor=next_cursor)

    async def get(self, user: str) -> User:
        def read(conn: sqlite3.Connection) -> User:
            row = resolve(conn, user)
            return User.from_row(row, sql.tokens_of(conn, [row["id"]]))

        return await self.db.read(read)

    async def create(self, caller: Caller, *, username: str, role: Role, email: str | None,
                     permissions: PermissionSet | None) -> User:
        check_username(username)
        if email is not None:
            check_email(email)
        check_permissions(permissions)

        def tx(conn: sqlite3.Connection) -> User:
            existing = sql.get_by_username(conn, username)
            if existing is not None:
                raise Conflict(f"a user named {existing['username']!r} already exists (names ignore case); "
                               "choose another name or change that user with update_user.")
            if email is not None and sql.get_by_email(conn, email) is not None:
                raise Conflict(f"another user already has the email {email!r}; each email belongs to one user.")
            user_id = sql.insert_user(conn, {
                "username": username, "role": role, "email": email,
                "permissions": permissions.to_json() if permissions else None, "is_active": 1,
            })
            created = User.from_row(sql.get_by_id(conn, user_id))
            audit.record(conn, caller, action="user.create", source="user", source_id=user_id,
                         message=f"user {username!r} created with role {role!r}", after=created)
            return created

        return await self.db.write(tx)

    async def update(self, caller: Caller, user: str, changes: dict[str, Any]) -> User:
        """changes: role, email ('' clears it), permissions (PermissionSet; empty clears), is_active."""
        columns: dict[str, Any] = {}
        if "role" in changes:
            columns["role"] = changes["role"]
        if "email" in changes:
            columns["email"] = check_email(changes["email"]) if changes["email"] != "" else None
        if "permissions" in changes:
            permissions = check_permissions(changes["permissions"])
            columns["permissions"] = permissions.to_json() if permissions else None
        if "is_active" in changes:
            columns["is_active"] = int(changes["is_active"])
        if not columns:
            raise InvalidInput("update_user needs at least one of role, email, permissions, active; nothing was changed.")
        now = self._now()

        def tx(conn: sqlite3.Connection) -> User:
            row = resolve(conn, user)
            before = User.from_row(row)
            if columns.get("role", "admin") != "admin":
                guard_last_admin(conn, row, f"given the role {columns['role']!r}")
            if columns.get("is_active", 1) == 0:
                guard_last_admin(conn, row, "deactivated")
            if columns.get("email"):
                clash = sql.get_by_email(conn, columns["email"])
                if clash is not None and clash["id"] != row["id"]:
                    raise Conflict(f"another user already has the email {columns['email']!r}; nothing was changed.")
            sql.update_user(conn, row["id"], columns)
            # Deactivating here is deactivating: the tokens go too, or reactivating would revive them.
            revoked = revoke_tokens_if_deactivated(conn, row, columns, now)
            after = User.from_row(sql.get_by_id(conn, row["id"]), sql.tokens_of(conn, [row["id"]]))
            note = f"; {len(revoked)} token(s) revoked" if revoked else ""
            audit.record(conn, caller, action="user.update", source="user", source_id=row["id"],
                         message=f"user {after.username!r} updated{note}", before=before,
                         after=after.model_copy(update={"tokens": []}),
                         extra={"revoked_token_ids": revoked} if revoked else None)
            return after

        return await self.db.write(tx)

    async def deactivate(self, caller: Caller, user: str) -> DeactivatedUser:
        now = self._now()

        def tx(conn: sqlite3.Connection) -> DeactivatedUser:
            row = resolve(conn, user)
            if not row["is_active"]:
                raise Conflict(f"user {row['username']!r} is already deactivated; nothing was changed.")
            guard_last_admin(conn, row, "deactivated")
            before = User.from_row(row)
            sql.update_user(conn, row["id"], {"is_active": 0})
            revoked = revoke_tokens_if_deactivated(conn, row, {"is_active": 0}, now)
            after = User.from_row(sql.get_by_id(conn, row["id"]), sql.tokens_of(conn, [row["id"]]))
            audit.record(conn, caller, action="user.deactivate", source="user", source_id=row["id"],
                         message=f"user {before.username!r} deactivated; {len(revoked)} token(s) revoked",
                         before=before, after=after.model_copy(update={"tokens": []}),
                         extra={"revoked_token_ids": revoked})
            return DeactivatedUser(user=after, revoked_token_ids=revoked)

        return await self.db.write(tx)
