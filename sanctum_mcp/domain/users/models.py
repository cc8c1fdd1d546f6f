"""What the user tools return, and a user row as the Caller it stands for."""

from __future__ import annotations

import json
import sqlite3

from pydantic import BaseModel, ConfigDict, Field

from sanctum_mcp.domain.shared.identity import Caller, Permissions, Role


class PermissionSet(BaseModel):
    # Narrows a user below their role; a key left out sets no limit. (A comment, not a docstring:
    # a docstring would be published in every output schema that holds a user.)

    model_config = ConfigDict(extra="forbid")

    # What each key means is said once, in create_user's `permissions` description, not here: a
    # description here would be published again in every output schema that holds a user.
    agents: list[str] | None = None
    tools: list[str] | None = None

    def to_json(self) -> str | None:
        data = self.model_dump(exclude_none=True)
        return json.dumps(data, separators=(",", ":")) if data else None


class ApiTokenInfo(BaseModel):
    id: int
    name: str | None = None
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None
    active: bool

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ApiTokenInfo:
        return cls(id=row["id"], name=row["name"], created_at=row["created_at"], last_used_at=row["last_used_at"],
                   revoked_at=row["revoked_at"], active=row["revoked_at"] is None)


class User(BaseModel):
    id: int
    username: str
    email: str | None = None
    role: Role
    permissions: PermissionSet | None = None
    last_login: str | None = None
    is_active: bool
    created_at: str
    updated_at: str
    tokens: list[ApiTokenInfo] = Field(default_factory=list)

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
    next_cursor: str | None = None


class NewToken(BaseModel):
    token: str = Field(description="Shown only now: store it.")
    token_id: int
    username: str
    name: str | None = None
    created_at: str
    usage: str


class DeactivatedUser(BaseModel):
    user: User
    revoked_token_ids: list[int] = Field(default_factory=list)


class RevokedToken(BaseModel):
    token: ApiTokenInfo
    username: str
    already_revoked: bool


def caller_from_row(row: sqlite3.Row) -> Caller:
    data = json.loads(row["permissions"]) if row["permissions"] else None
    return Caller(username=row["username"], role=row["role"], user_id=row["user_id" if "user_id" in row.keys() else "id"],
                  permissions=Permissions.from_json(data))
