"""Users, their roles and permissions, API tokens, and who the local operator is.

Tokens: `sanctum_` + 43 url-safe characters (256 random bits). Only the SHA-256 of a token is
stored; the token itself is returned once, by `create_token`, and can never be shown again.
Verifying a token is one indexed read; `last_used_at` (and the user's `last_login`) are written
at most once a minute per token, so a busy client does not turn every request into a write.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sanctum_mcp.domain import audit
from sanctum_mcp.domain.references import as_id, looks_like_id
from sanctum_mcp.domain.clock import iso
from sanctum_mcp.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sanctum_mcp.domain.identity import Caller, Permissions, Role
from sanctum_mcp.domain.names import check_name_characters
from sanctum_mcp.domain.pagination import decode_cursor, encode_cursor
from sanctum_mcp.storage import users as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

TOKEN_PREFIX = "sanctum_"
TOUCH_EVERY = timedelta(seconds=60)
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class PermissionSet(BaseModel):
    """Narrows a user below their role. Omit a key for no limit on it."""

    model_config = ConfigDict(extra="forbid")

    agents: list[str] | None = Field(
        default=None,
        description="Only these agents (names, any case) may be named in agent tools; tools that act on "
        "every agent at once (sync_letta_agents) are refused.",
    )
    tools: list[str] | None = Field(default=None, description="Only these tools may be called.")

    def to_json(self) -> str | None:
        data = self.model_dump(exclude_none=True)
        return json.dumps(data, separators=(",", ":")) if data else None


class ApiTokenInfo(BaseModel):
    id: int
    name: str | None = None
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None
    active: bool = Field(description="False once revoked.")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ApiTokenInfo:
        return cls(id=row["id"], name=row["name"], created_at=row["created_at"], last_used_at=row["last_used_at"],
                   revoked_at=row["revoked_at"], active=row["revoked_at"] is None)


class User(BaseModel):
    id: int
    username: str
    email: str | None = None
    role: Role
    permissions: PermissionSet | None = Field(default=None, description="Narrowing below the role; none = the role's full rights.")
    last_login: str | None = None
    is_active: bool
    created_at: str
    updated_at: str
    tokens: list[ApiTokenInfo] = Field(default_factory=list, description="The user's API tokens (never the token text).")

    @classmethod
    def from_row(cls, row: sqlite3.Row, tokens: list[sqlite3.Row] = ()) -> User:
        return cls(
            id=row["id"],
            username=row["username"],
            email=row["email"],
            role=row["role"],
            permissions=PermissionSet.model_validate(json.loads(row["permissions"])) if row["permissions"] else None,
            last_login=row["last_login"],
            is_active=bool(row["is_active"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            tokens=[ApiTokenInfo.from_row(t) for t in tokens],
        )


class UserPage(BaseModel):
    users: list[User]
    next_cursor: str | None = Field(default=None, description="Pass to list_users for the next page; absent on the last page.")


class NewToken(BaseModel):
    token: str = Field(description="The bearer token. Shown ONLY now: store it; only its hash is kept.")
    token_id: int
    username: str
    name: str | None = None
    created_at: str
    usage: str = Field(description="How to use it.")


class DeactivatedUser(BaseModel):
    user: User
    revoked_token_ids: list[int] = Field(default_factory=list, description="Tokens revoked with the deactivation.")


class RevokedToken(BaseModel):
    token: ApiTokenInfo
    username: str
    already_revoked: bool = Field(description="True if it was revoked before this call (nothing changed).")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def caller_from_row(row: sqlite3.Row) -> Caller:
    data = json.loads(row["permissions"]) if row["permissions"] else None
    return Caller(username=row["username"], role=row["role"], user_id=row["user_id" if "user_id" in row.keys() else "id"],
                  permissions=Permissions.from_json(data))


def resolve(conn: sqlite3.Connection, user: str) -> sqlite3.Row:
    row = sql.get_by_username(conn, user)
    if row is None and (user_id := as_id(user)) is not None:
        row = sql.get_by_id(conn, user_id)
    if row is None:
        raise NotFound(f"no user named {user!r}; call list_users to see the users.")
    return row


def _guard_last_admin(conn: sqlite3.Connection, row: sqlite3.Row, what: str) -> None:
    if row["role"] == "admin" and row["is_active"] and sql.count_active_admins(conn) <= 1:
        raise Conflict(
            f"{row['username']!r} is the last active admin, so it cannot be {what}; nothing was changed. "
            "Give another user the admin role first (update_user with role='admin')."
        )


def _revoke_tokens_if_deactivated(conn: sqlite3.Connection, row: sqlite3.Row, columns: dict[str, Any],
                                  now: str) -> list[int]:
    """The one rule for every way of deactivating a user (deactivate_user, update_user active=false):
    in the same transaction, every token of theirs is revoked. Returns the ids revoked."""
    if columns.get("is_active", 1) != 0:
        return []
    return sql.revoke_tokens_of(conn, row["id"], now)


class UserService:
    PAGE_DEFAULT = 50

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        # PRAGMA data_version when registry.operator was last read from its row (None: never).
        self._operator_seen: int | None = None

    def _now(self) -> str:
        return iso(self.registry.clock())

    # --- the local operator -------------------------------------------------------------------

    async def local_caller(self, username: str | None, *, default_name: str, create_first_user: bool = True) -> Caller:
        """The user the process acts as over stdio and in CLI commands.

        On a database with no user at all, first creates the admin `username or default_name`
        (unless create_first_user is False).
        Without a name: the oldest active admin. With a name: that user, which must be active.
        """
        if create_first_user and await self.registry.db.read(sql.count_users) == 0:
            first = check_username(username or default_name)

            def bootstrap(conn: sqlite3.Connection) -> None:
                if sql.count_users(conn):
                    return  # another process created the first user meanwhile
                # Like the seeded rows, the first admin is part of a new database: not audited.
                sql.insert_user(conn, {"username": first, "role": "admin", "is_active": 1})

            await self.registry.db.write(bootstrap)

        def find(conn: sqlite3.Connection) -> sqlite3.Row | None:
            if username is None:
                return sql.first_active_admin(conn)
            return sql.get_by_username(conn, username)

        row = await self.registry.db.read(find)
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
        operator = self.registry.operator
        if operator.user_id is None:
            return operator
        db = self.registry.db
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
        self.registry.operator = caller_from_row(row)
        self._operator_seen = seen
        return self.registry.operator

    async def touch_login(self, caller: Caller) -> None:
        if caller.user_id is not None:
            now = self._now()
            await self.registry.db.write(lambda conn: sql.touch_login(conn, caller.user_id, now))

    # --- tokens ---------------------------------------------------------------------------------

    async def authenticate(self, token: str) -> tuple[Caller, int] | None:
        """The caller a bearer token stands for, with the token id; None if unknown, revoked or the
        user is deactivated."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = await self.registry.db.read(sql.token_with_user, hash_token(token))
        if row is None or row["revoked_at"] is not None or not row["is_active"]:
            return None
        now = self.registry.clock()
        if row["last_used_at"] is None or row["last_used_at"] < iso(now - TOUCH_EVERY):
            stamp = iso(now)
            try:
                await self.registry.db.write(lambda conn: sql.touch_token(conn, row["token_id"], row["user_id"], stamp))
            except sqlite3.OperationalError:
                pass  # bookkeeping only (e.g. another process holds the write lock): the token is still valid
        return caller_from_row(row), row["token_id"]

    async def usable_token_count(self) -> int:
        return await self.registry.db.read(sql.count_usable_tokens)

    async def create_token(self, caller: Caller, user: str, name: str | None) -> NewToken:
        if name is not None:
            check_name_characters(name, "API token")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
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

        return await self.registry.db.write(tx)

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

        return await self.registry.db.write(tx)

    # --- users ----------------------------------------------------------------------------------

    async def list(self, *, is_active: bool | None = None, cursor: str | None = None, limit: int = PAGE_DEFAULT) -> UserPage:
        key = decode_cursor("list_users", cursor, arity=2)
        after = (key[0], key[1]) if key else None

        def read(conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
            rows = sql.page(conn, is_active=is_active, after=after, limit=limit + 1)
            return rows, sql.tokens_of(conn, [r["id"] for r in rows[:limit]])

        rows, tokens = await self.registry.db.read(read)
        users = [User.from_row(r, [t for t in tokens if t["user_id"] == r["id"]]) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor("list_users", [users[-1].username, users[-1].id])
        return UserPage(users=users, next_cursor=next_cursor)

    async def get(self, user: str) -> User:
        def read(conn: sqlite3.Connection) -> User:
            row = resolve(conn, user)
            return User.from_row(row, sql.tokens_of(conn, [row["id"]]))

        return await self.registry.db.read(read)

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

        return await self.registry.db.write(tx)

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
                _guard_last_admin(conn, row, f"given the role {columns['role']!r}")
            if columns.get("is_active", 1) == 0:
                _guard_last_admin(conn, row, "deactivated")
            if columns.get("email"):
                clash = sql.get_by_email(conn, columns["email"])
                if clash is not None and clash["id"] != row["id"]:
                    raise Conflict(f"another user already has the email {columns['email']!r}; nothing was changed.")
            sql.update_user(conn, row["id"], columns)
            # Deactivating here is deactivating: the tokens go too, or reactivating would revive them.
            revoked = _revoke_tokens_if_deactivated(conn, row, columns, now)
            after = User.from_row(sql.get_by_id(conn, row["id"]), sql.tokens_of(conn, [row["id"]]))
            note = f"; {len(revoked)} token(s) revoked" if revoked else ""
            audit.record(conn, caller, action="user.update", source="user", source_id=row["id"],
                         message=f"user {after.username!r} updated{note}", before=before,
                         after=after.model_copy(update={"tokens": []}),
                         extra={"revoked_token_ids": revoked} if revoked else None)
            return after

        return await self.registry.db.write(tx)

    async def deactivate(self, caller: Caller, user: str) -> DeactivatedUser:
        now = self._now()

        def tx(conn: sqlite3.Connection) -> DeactivatedUser:
            row = resolve(conn, user)
            if not row["is_active"]:
                raise Conflict(f"user {row['username']!r} is already deactivated; nothing was changed.")
            _guard_last_admin(conn, row, "deactivated")
            before = User.from_row(row)
            sql.update_user(conn, row["id"], {"is_active": 0})
            revoked = _revoke_tokens_if_deactivated(conn, row, {"is_active": 0}, now)
            after = User.from_row(sql.get_by_id(conn, row["id"]), sql.tokens_of(conn, [row["id"]]))
            audit.record(conn, caller, action="user.deactivate", source="user", source_id=row["id"],
                         message=f"user {before.username!r} deactivated; {len(revoked)} token(s) revoked",
                         before=before, after=after.model_copy(update={"tokens": []}),
                         extra={"revoked_token_ids": revoked})
            return DeactivatedUser(user=after, revoked_token_ids=revoked)

        return await self.registry.db.write(tx)

    # --- permissions ----------------------------------------------------------------------------

    async def check_agent_scope(self, caller: Caller, tool: str, refs: list[tuple[str, str]], *,
                                mutating: bool) -> None:
        """Refuse a call that reaches outside the caller's permissions.agents.

        `refs` are what the call names, as (kind, ref): kind 'agent' (a name or id), 'instance'
        (an id or name), 'job' (a name or id) or 'host' (something new that belongs to no agent).
        Each is looked up to the agents that own it: every owner must be one of the caller's
        agents; a host-wide object (a master instance, a job for no agent) may be read but not
        changed. A reference that matches nothing is left to the tool, which answers "not found".
        """
        from sanctum_mcp.storage import ownership

        permissions = caller.permissions
        if permissions is None or permissions.agents is None:
            return

        def owners(conn: sqlite3.Connection) -> list[tuple[str, str, list[str | None]]]:
            found = []
            for kind, ref in refs:
                if kind == "agent":
                    # A name is checked as written (a new agent has no row yet); an id is looked up.
                    names = ownership.agent_by_id(conn, as_id(ref)) if looks_like_id(ref) else [ref]
                elif kind == "instance":
                    names = ownership.instance_owners(conn, ref, as_id(ref))
                elif kind == "job":
                    names = ownership.job_owners(conn, ref, as_id(ref))
                else:
                    names = [None]
                found.append((kind, ref, names))
            return found

        allowed = ", ".join(sorted(permissions.agents))
        for kind, ref, names in await self.registry.db.read(owners):
            for name in names:
                if name is None:
                    if not mutating:
                        continue
                    what = ref if kind == "host" else f"{kind} {ref!r}"
                    raise Forbidden(
                        f"{tool}: {what} is host-wide (it belongs to no agent), and {caller.username!r} may only "
                        f"act on the agents {allowed}. Ask an admin to change it."
                    )
                if not permissions.allows_agent(name):
                    through = "" if kind == "agent" else f" ({kind} {ref!r} belongs to {name!r})"
                    raise Forbidden(
                        f"{tool}: {caller.username!r} may only act on the agents {allowed}, not {name!r}{through}. "
                        "Ask an admin to widen their permissions with update_user."
                    )

    # --- refusals -------------------------------------------------------------------------------

    async def record_refusal(self, caller: Caller, *, tool: str, reason: str, needed: str | None) -> None:
        """Audit a call the gate refused: its own small transaction (the refused call wrote nothing)."""

        def tx(conn: sqlite3.Connection) -> None:
            audit.record(conn, caller, action="access.denied", source="tool", source_id=tool, level="WARNING",
                         message=reason, extra={"tool": tool, "role": caller.role, "needed": needed})

        await self.registry.db.write(tx)
