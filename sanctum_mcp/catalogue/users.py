"""User and API-token tools (admin only)."""

from __future__ import annotations

from pydantic import Field

from sanctum_mcp.catalogue.base import ALL_AGENTS, SECRET_RESULT, Call, ToolInput, registered_tools, tool
from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.shared.identity import Role
from sanctum_mcp.domain.users.models import DeactivatedUser, NewToken, PermissionSet, RevokedToken, User, UserPage

UserRef = Field(description="The user's name (any case), e.g. 'operator', or their numeric id.")
PermissionsField = Field(
    default=None,
    description="Narrow the user below their role: {'agents': [names]} limits agent tools to those agents; "
    "{'tools': [names]} limits which tools they may call. Omit for the role's full rights.",
)


def _check_tool_names(permissions: PermissionSet | None) -> None:
    if permissions is None or permissions.tools is None:
        return
    unknown = sorted(set(permissions.tools) - set(registered_tools()))
    if unknown:
        raise InvalidInput(f"permissions.tools names tools that do not exist: {', '.join(unknown)}; "
                           "`sanctum-mcp tools` lists them.")


class ListUsers(ToolInput):
    active: bool | None = Field(default=None, description="true: only active users; false: only deactivated ones.")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the first page.")
    limit: int = Field(default=50, ge=1, le=500, description="Users per page (1-500).")


@tool("list_users", title="List users", group="Users", role="admin", read_only=True, idempotent=True)
async def list_users(call: Call, args: ListUsers) -> UserPage:
    """List the registry's users with their role, permissions, last login and API tokens (ids, names,
    last use, revoked or not; never the token text), ordered by username, one page at a time."""
    return await call.registry.users.list(is_active=args.active, cursor=args.cursor, limit=args.limit)


class CreateUser(ToolInput):
    username: str = Field(min_length=1, max_length=64, description="Unique, case-insensitive: letters, digits, . _ @ -.")
    role: Role = Field(default="viewer", description="viewer reads; user also changes non-sensitive data; admin does everything.")
    email: str | None = Field(default=None, max_length=254, description="Optional e-mail address, unique if given.")
    permissions: PermissionSet | None = PermissionsField


# Users and tokens decide who may act on every agent: an admin narrowed to some agents must not
# manage them (they could lift their own narrowing, or mint a token for an unnarrowed admin).
USERS_REACH_EVERY_AGENT = ALL_AGENTS


@tool("create_user", title="Create a user", group="Users", role="admin", read_only=False, agents=USERS_REACH_EVERY_AGENT)
async def create_user(call: Call, args: CreateUser) -> User:
    """Create a user with a role (viewer by default). Give them access over HTTP with create_api_token."""
    _check_tool_names(args.permissions)
    return await call.registry.users.create(call.caller, username=args.username, role=args.role, email=args.email,
                                            permissions=args.permissions)


class UpdateUser(ToolInput):
    user: str = UserRef
    role: Role | None = Field(default=None, description="New role.")
    email: str | None = Field(default=None, max_length=254, description="New e-mail address; an empty string removes it.")
    permissions: PermissionSet | None = Field(
        default=None, description="Replaces the permissions; an empty object {} removes every narrowing."
    )
    active: bool | None = Field(default=None, description="false deactivates (tokens stop working); true reactivates.")


@tool("update_user", title="Update a user", group="Users", role="admin", read_only=False, idempotent=True,
      agents=USERS_REACH_EVERY_AGENT)
async def update_user(call: Call, args: UpdateUser) -> User:
    """Change a user's role, email, permissions or active flag; fields left out stay. The last active
    admin cannot be demoted or deactivated."""
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
    """Deactivate a user and revoke all their API tokens at once (the audit trail keeps their name).
    Reactivating with update_user does not bring the tokens back. The last active admin is refused."""
    return await call.registry.users.deactivate(call.caller, args.user)


class CreateApiToken(ToolInput):
    user: str = UserRef
    name: str | None = Field(default=None, max_length=100, description="A label to recognise the token, e.g. 'letta'.")


@tool("create_api_token", title="Create an API token", group="Users", role="admin", read_only=False,
      agents=USERS_REACH_EVERY_AGENT, secrets=SECRET_RESULT)
async def create_api_token(call: Call, args: CreateApiToken) -> NewToken:
    """Create a bearer token for a user's HTTP access. The token text is in this result ONLY: it is
    stored as a hash and can never be shown again."""
    return await call.registry.users.create_token(call.caller, args.user, args.name)


class RevokeApiToken(ToolInput):
    token_id: int = Field(ge=1, description="The token's id (list_users shows each user's tokens).")


@tool("revoke_api_token", title="Revoke an API token", group="Users", role="admin", read_only=False,
      destructive=True, idempotent=True, agents=USERS_REACH_EVERY_AGENT)
async def revoke_api_token(call: Call, args: RevokeApiToken) -> RevokedToken:
    """Revoke an API token by id; requests with it get 401 from then on. Revoking it again changes nothing."""
    return await call.registry.users.revoke_token(call.caller, args.token_id)
