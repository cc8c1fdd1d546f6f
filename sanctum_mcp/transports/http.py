"""One Starlette app on one port: Streamable HTTP at /mcp and legacy SSE at /sse + /messages/.

The registry is opened by the caller before serving and shared by every session: the SDK runs a
server lifespan once per SSE connection, so nothing process-wide may live there.

Authentication: every MCP route needs a bearer token (server/auth.py). The SDK builds each
sub-app with its own AuthenticationMiddleware, but only the sub-apps' ROUTES are copied into this
app, so that middleware is added here, on the parent, where it covers /mcp, /sse and /messages/
alike. The routes themselves keep the SDK's RequireAuthMiddleware (401 + WWW-Authenticate).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp.server.transport_security import TransportSecuritySettings
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.settings import AuthSettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sanctum_mcp import __version__
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server
from sanctum_mcp.server.auth import RegistryAuthBackend, RegistryTokenVerifier, identify_from_token

log = logging.getLogger("sanctum_mcp.http")

LOOPBACK_NAMES = ("localhost",)


class BindRefused(Exception):
    pass


def is_loopback(host: str) -> bool:
    """Decide from the address itself: 127.0.0.0/8 and ::1 are loopback; 0.0.0.0, :: and LAN
    addresses are not. A name counts as loopback only if every address it resolves to is."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        pass
    if bare.lower() in LOOPBACK_NAMES:
        return True
    try:
        infos = socket.getaddrinfo(bare, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def check_bind(host: str, *, active_tokens: int) -> None:
    """A non-loopback address (0.0.0.0, ::, a LAN address, a name that resolves to one) is served
    only when at least one API token would authenticate: otherwise nobody could use it but
    everyone could knock."""
    if not is_loopback(host) and active_tokens < 1:
        raise BindRefused(
            f"refusing to serve on {host!r}: other machines can reach it and no active API token exists, "
            "so nobody could be let in. Create one first (sanctum-mcp user token NAME), or bind 127.0.0.1 "
            "(the default)."
        )


def transport_security(host: str, port: int) -> TransportSecuritySettings:
    """DNS-rebinding protection: only Host headers naming this server, only local web origins."""
    hosts = {"127.0.0.1", "localhost", "[::1]"}
    bare = host.strip("[]")
    if bare not in ("0.0.0.0", "::"):
        hosts.add(f"[{bare}]" if ":" in bare else bare)
    allowed_hosts = sorted(f"{h}:{port}" for h in hosts) + sorted(hosts)
    allowed_origins = sorted(f"http://{h}:{port}" for h in hosts) + sorted(f"https://{h}:{port}" for h in hosts)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
    )


def build_http_app(registry: Registry, *, host: str, port: int, trust_loopback: bool = False,
                   stream_responses: bool = False) -> Starlette:
    verifier = RegistryTokenVerifier(registry)
    shown = f"[{host}]" if ":" in host else host
    server = build_server(
        registry,
        identify=identify_from_token,
        token_verifier=verifier,
        # The registry is its own issuer; resource_server_url=None: no OAuth metadata routes.
        auth=AuthSettings(issuer_url=f"http://{shown}:{port}", resource_server_url=None),
    )
    server.load_catalogue()  # now, not on the first client's first call
    security = transport_security(host, port)
    # Each POST to /mcp is answered with one JSON body unless stream_responses: an SSE stream per
    # request costs the server and the client more than the call itself (every Letta-style call
    # opens a session and lists ~130 KB of tools; with SSE framing that listing alone took longer
    # than the call), and only carries what these tools rarely send: progress notifications.
    # See benchmarks/README.md (P4, P5).
    streamable = server.streamable_http_app(transport_security=security, host=host, json_response=not stream_responses)
    sse = server.sse_app(transport_security=security, host=host)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # A mounted sub-app's lifespan never runs; the Streamable HTTP session manager is started here.
        async with server.session_manager.run():
            yield

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "name": "sanctum-mcp", "version": __version__})

    routes = [Route("/healthz", health, methods=["GET"]), *streamable.routes, *sse.routes]
    middleware = [
        Middleware(AuthenticationMiddleware,
                   backend=RegistryAuthBackend(verifier, trust_loopback=trust_loopback, registry=registry)),
        Middleware(AuthContextMiddleware),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


async def serve_http(db_path: Path, *, host: str, port: int, trust_loopback: bool = False,
                     stream_responses: bool = False, user: str | None = None, scheduler: bool = True,
                     db_log: bool = True) -> None:
    import uvicorn

    from sanctum_mcp.transports.background import background
    from sanctum_mcp.transports.shutdown import stop_on_termination

    if not is_loopback(host) and not Path(db_path).expanduser().exists():
        check_bind(host, active_tokens=0)  # a database that does not exist yet holds no token: touch nothing
    registry = await Registry.open(db_path, user=user)
    try:
        check_bind(host, active_tokens=await registry.users.usable_token_count())
        registry.letta.self_port = port
        app = build_http_app(registry, host=host, port=port, trust_loopback=trust_loopback,
                             stream_responses=stream_responses)
        if trust_loopback:
            log.info("loopback clients without a token act as %r (--trust-loopback)", registry.operator.username)
        shown = f"[{host}]" if ":" in host else host
        log.info("sanctum-mcp %s on http://%s:%d/mcp (Streamable HTTP) and http://%s:%d/sse (SSE); database %s",
                 __version__, shown, port, shown, port, db_path)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        async with background(registry, scheduler=scheduler, db_log=db_log):
            # SIGTERM/SIGHUP: uvicorn's graceful shutdown, then the registry is closed (WAL checkpointed)
            # and the process exits 0, instead of uvicorn re-raising the signal and dying before that.
            async with stop_on_termination(stop=lambda: setattr(server, "should_exit", True)):
                await server.serve()
    finally:
        await registry.close()
