"""HTTP authentication: bearer tokens checked through the SDK's token verifier.

- `RegistryTokenVerifier.verify_token` looks the token's hash up (domain/users/service.py) and returns an
  AccessToken whose claims carry the caller (username, role, user id, permissions).
- `RegistryAuthBackend` is the Starlette authentication backend of the whole HTTP app (both /mcp
  and /sse + /messages/). It accepts a valid bearer token; with trust_loopback, a request that
  carries NO Authorization header and comes from a loopback address is the local operator. A
  wrong token is never rescued by the loopback rule.
  The backend notes in the request scope why it found no caller (no token, or a token that was
  not accepted).
- `RequireCaller` (ASGI middleware on the whole app) answers every request without a caller with a
  401 that says which of the two it was (`missing_token` / `invalid_token`), and logs a WARNING
  naming the remote address and the reason, never the token, at most once a minute per
  (address, reason). The SDK's own RequireAuthMiddleware stays on the MCP routes behind it.
- `identify_from_token` is the `identify(ctx)` of the HTTP server: it maps the request's verified
  access token to a Caller.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials, AuthenticationBackend
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from sanctum_mcp.domain.shared.errors import Forbidden
from sanctum_mcp.domain.shared.identity import Caller, Permissions
from sanctum_mcp.server.lograte import RateLimitedLog

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from sanctum_mcp.domain.registry import Registry

log = logging.getLogger("sanctum_mcp.auth")

# Why a request has no caller, noted in its scope by RegistryAuthBackend for RequireCaller.
AUTH_FAILURE = "sanctum.auth_failure"
NO_HEADER = "no Authorization header"
NOT_BEARER = "Authorization is not a Bearer token"
REJECTED = "bearer token not accepted"
GET_A_TOKEN = "an admin creates one with `sanctum-mcp user token NAME`"


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
        header = conn.headers.get("authorization")
        if header is None:
            conn.scope[AUTH_FAILURE] = NO_HEADER
            if self.trust_loopback and is_loopback_client(conn.client.host if conn.client else None):
                try:
                    operator = self.registry.users.operator_now()
                except Forbidden:  # the operator was deactivated: no one to act as, so 401
                    return None
                token = access_token_for(operator, token_id=None, via="loopback")
                return AuthCredentials(token.scopes), AuthenticatedUser(token)
            return None
        result = await self.bearer.authenticate(conn)
        if result is None:
            conn.scope[AUTH_FAILURE] = REJECTED if header.lower().startswith("bearer ") else NOT_BEARER
        return result


class RequireCaller:
    """Every path but `public` needs a caller (so an unknown path answers 404 only to a caller):
    otherwise 401, a body saying whether the token was missing or not accepted, and a rate-limited
    WARNING (remote address and reason, never the token)."""

    def __init__(self, app: ASGIApp, *, public: frozenset[str] = frozenset({"/healthz"}),
                 public_paths: Callable[[str], bool] | None = None) -> None:
        # public_paths: paths that check their own callers (the console's cookie sessions).
        self.app, self.public, self.public_paths = app, public, public_paths
        self.warnings = RateLimitedLog(log.warning)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] in self.public
                or (self.public_paths is not None and self.public_paths(scope["path"]))
                or isinstance(scope.get("user"), AuthenticatedUser)):
            await self.app(scope, receive, send)
            return
        reason = scope.get(AUTH_FAILURE, NO_HEADER)
        if reason == REJECTED:
            error = "invalid_token"
            description = ("the bearer token was not accepted: it is unknown or revoked, or its user is "
                           f"deactivated; ask for a new one ({GET_A_TOKEN})")
            challenge = f'Bearer realm="sanctum-mcp", error="invalid_token", error_description="{description}"'
        else:
            error = "missing_token"
            sent = ("the Authorization header is not 'Bearer <token>'" if reason == NOT_BEARER
                    else "no Authorization header was sent")
            description = f"{sent}; send 'Authorization: Bearer <token>' ({GET_A_TOKEN})"
            challenge = 'Bearer realm="sanctum-mcp"'  # RFC 6750 3.1: no error code without a token
        address = scope["client"][0] if scope.get("client") else "an unknown address"
        # The path is the client's text: %r keeps a line break in it from starting a new log line.
        self.warnings.emit((address, error), "401 %s from %s: %s %r (%s)", error, address, scope.get("method", ""),
                           scope["path"][:100], reason)
        body = json.dumps({"error": error, "error_description": description}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", challenge.encode())]})
        await send({"type": "http.response.body", "body": body})
