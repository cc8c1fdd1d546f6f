"""HTTP authentication: bearer tokens checked through the SDK's token verifier.

- `RegistryTokenVerifier.verify_token` looks the token's hash up (domain/users/service.py) and returns an
  AccessToken whose claims carry the caller (username, role, user id, permissions).
- `RegistryAuthBackend` is the Starlette authentication backend of the whole HTTP app (both /mcp
  and /sse + /messages/). It accepts a valid bearer token; with trust_loopback, a request that
  carries NO Authorization header and comes from a loopback address is the local operator. A
  wrong token is never rescued by the loopback rule.
- `identify_from_token` is the `identify(ctx)` of the HTTP server: it maps the request's verified
  access token to a Caller. The SDK's RequireAuthMiddleware (on every MCP route) answers 401
  with `WWW-Authenticate: Bearer` when no caller was established.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials, AuthenticationBackend
from starlette.requests import HTTPConnection

from sanctum_mcp.domain.shared.errors import Forbidden
from sanctum_mcp.domain.shared.identity import Caller, Permissions

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from sanctum_mcp.domain.registry import Registry


def access_token_for(caller: Caller, *, token_id: int | None, via: str) -> AccessToken:
    """An AccessToken describing a caller. `token` never holds the secret itself."""
    permissions: dict[str, Any] | None = None
    if caller.permissions is not None:
        permissions = {}
        if caller.permissions.agents is not None:
            permissions["agents"] = sorted(caller.permissions.agents)
        if caller.permissions.tools is not None:
            permissions["tools"] = sorted(caller.permissions.tools)
    return AccessToken(
        token=f"{via}:{token_id if token_id is not None else caller.username}",
        client_id=caller.username,
        subject=str(caller.user_id) if caller.user_id is not None else caller.username,
        scopes=[caller.role],
        claims={"username": caller.username, "role": caller.role, "user_id": caller.user_id,
                "permissions": permissions, "via": via, "token_id": token_id},
    )


def caller_from_access_token(token: AccessToken | None) -> Caller:
    if token is None or not token.claims or "username" not in token.claims:
        raise Forbidden("no authenticated caller: send 'Authorization: Bearer <token>' (create one with "
                        "`sanctum-mcp user token NAME`).")
    claims = token.claims
    return Caller(username=claims["username"], role=claims["role"], user_id=claims.get("user_id"),
                  permissions=Permissions.from_json(claims.get("permissions")))


def identify_from_token(_ctx: Context) -> Caller:
    return caller_from_access_token(get_access_token())


class RegistryTokenVerifier:
    """The SDK TokenVerifier over the registry's api_tokens table."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def verify_token(self, token: str) -> AccessToken | None:
        found = await self.registry.users.authenticate(token)
        if found is None:
            return None
        caller, token_id = found
        return access_token_for(caller, token_id=token_id, via="token")


def is_loopback_client(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class RegistryAuthBackend(AuthenticationBackend):
    def __init__(self, verifier: RegistryTokenVerifier, *, trust_loopback: bool, registry: Registry) -> None:
        self.bearer = BearerAuthBackend(verifier)
        self.trust_loopback = trust_loopback
        self.registry = registry

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, AuthenticatedUser] | None:
        result = await self.bearer.authenticate(conn)
        if result is not None:
            return result
        if (self.trust_loopback and "authorization" not in conn.headers
                and is_loopback_client(conn.client.host if conn.client else None)):
            try:
                operator = self.registry.users.operator_now()
            except Forbidden:  # the operator was deactivated: no one to act as, so 401
                return None
            token = access_token_for(operator, token_id=None, via="loopback")
            return AuthCredentials(token.scopes), AuthenticatedUser(token)
        return None
