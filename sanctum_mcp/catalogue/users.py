"""User and API-token tools (admin only)."""

from __future__ import annotations

from pydantic import Field

from sanctum_mcp.catalogue.base import ALL_AGENTS, SECRET_RESULT, Call, ToolInput, registered_tools, tool
from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.shared.identity import Role
from sanctum_mcp.domain.users.models import DeactivatedUser, NewToken, PermissionSet, RevokedToken, User, UserPage

UserRef = Field(description="Name or id.")
PermissionsField = Field(
    default=None, description="Narrowing below the role: agents: only these may be named (all-agent tools are "
                              "refused); tools: only these may be called.",
)


def _check_tool_names(permissions: PermissionSet | None) -> None:
    if permissions is None or permissions.tools is None:
        return
    unknown = sorted(set(permissions.tools) - set(registered_tools()))
    if unknown:
        raise InvalidInput(f"permissions.tools names tools that do not exist: {', '.join(unknown)}; "
                           "`sanctum-mcp tools` lists them.")


class ListUsers(ToolInput):
    active: bool | None = Field(default=None, description="Only active (true) or deactivated (false) ones.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


@tool("list_users", title="List users", group="Users", role="admin", read_only=True, idempotent=True)
async def list_users(call: Call, args: ListUsers) -> UserPage:
    """List users with role, permissions and API tokens (never their text)."""
    return await call.registry.users.list(is_active=args.active, cursor=args.cursor, limit=args.limit)


class CreateUser(ToolInput):
    username: str = Field(min_length=1, max_length=64, description="Unique, any case: letters, digits, . _ @ -.")
    role: Role = Field(default="viewer", description="viewer reads; user also changes non-secret data; admin all.")
    email: str | None = Field(default=None, max_length=254, description="Unique if given.")
    permissions: PermissionSet | None = PermissionsField


# Users and tokens decide who may act on every agent: an admin narrowed to some agents must not
# manage them (they could lift their own narrowing, or mint a token for an unnarrowed admin).
USERS_REACH_EVERY_AGENT = ALL_AGENTS


@tool("create_user", title="Create a user", group="Users", role="admin", read_only=False, agents=USERS_REACH_EVERY_AGENT)
async def create_user(call: Call, args: CreateUser) -> User:
    """Create a user; create_api_token gives them HTTP access."""
    _check_tool_names(args.permissions)
    return await call.registry.users.create(call.caller, username=args.username, role=args.role, email=args.email,
                                            permissions=args.permissions)


class UpdateUser(ToolInput):
    user: str = UserRef
    role: Role | None = None
    email: str | None = Field(default=None, max_length=254, description="New address; '' removes it.")
    permissions: PermissionSet | None = Field(default=None, description="Replaces them; {} removes every narrowing.")
    active: bool | None = Field(default=None, description="false deactivates (tokens stop working).")


@tool("update_user", title="Update a user", group="Users", role="admin", read_only=False, idempotent=True,
      agents=USERS_REACH_EVERY_AGENT)
async def update_user(call: Call, args: UpdateUser) -> User:
    """Change a user's fields; those left out stay. The last active admin stays one."""
    _check_tool_names(args.permissions)
    changes = {}
    if args.role is not None:
        changes["role"] = args.role
    if args.email is not None:
        changes["email"] = args.email
    if args.permissions is not None:
        changes["permissions"] = args.permissions
    if args.active is not None:
        changes["is_active"] = args.active
    return await call.registry.users.update(call.caller, args.user, changes)


class DeactivateUser(ToolInput):
    user: str = UserRef


@tool("deactivate_user", title="Deactivate a user", group="Users", role="admin", read_only=False, destructive=True,
      agents=USERS_REACH_EVERY_AGENT)
async def deactivate_user(call: Call, args: DeactivateUser) -> DeactivatedUser:
    """Deactivate a user and revoke their tokens (not the last active admin)."""
    return await call.registry.users.deactivate(call.caller, args.user)


class CreateApiToken(ToolInput):
    user: str = UserRef
    name: str | None = Field(default=None, max_length=100, description="A label, e.g. 'letta'.")


@tool("create_api_token", title="Create an API token", group="Users", role="admin", read_only=False,
      agents=USERS_REACH_EVERY_AGENT, secrets=SECRET_RESULT)
async def create_api_token(call: Call, args: CreateApiToken) -> NewToken:
    """Create a bearer token for a user; its text is shown in this result only."""
    return await call.registry.users.create_token(call.caller, args.user, args.name)


class RevokeApiToken(ToolInput):
    token_id: int = Field(ge=1, description="From list_users.")


@tool("revoke_api_token", title="Revoke an API token", group="Users", role="admin", read_only=False,
      destructive=True, idempotent=True, agents=USERS_REACH_EVERY_AGENT)
async def revoke_api_token(call: Call, args: RevokeApiToken) -> RevokedToken:
    """Revoke an API token; requests with it get 401 from then on."""
    return await call.registry.users.revoke_token(call.caller, args.token_id)
