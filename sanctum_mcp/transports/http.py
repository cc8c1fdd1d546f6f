"""One Starlette app on one port: Streamable HTTP at /mcp, legacy SSE at /sse + /messages/, and the
browser console at / (sanctum_mcp/console/).

The registry is opened by the caller before serving and shared by every session: the SDK runs a
server lifespan once per SSE connection, so nothing process-wide may live there.

Authentication: every MCP route needs a bearer token (server/auth.py). The SDK builds each
sub-app with its own AuthenticationMiddleware, but only the sub-apps' ROUTES are copied into this
app, so that middleware is added here, on the parent, where it covers /mcp, /sse and /messages/
alike; so is RequireCaller, which answers the 401s (the routes keep the SDK's RequireAuthMiddleware
behind it).

Under attack (limits.py holds the numbers and where they come from): hosts.py decides which Host
headers are this server's, sessions.py how many sessions each user may hold, and connections.py
how many connections may be open and how long a client may take to send a request.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.settings import AuthSettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sanctum_mcp import __version__
from sanctum_mcp.catalogue.toolsets import Selection, UnknownSelection, url_selection
from sanctum_mcp.console.app import Console, is_console_path
from sanctum_mcp.domain.letta.registration import OwnEndpoint
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server
from sanctum_mcp.server.listing import URL_PARAM
from sanctum_mcp.server.auth import RegistryAuthBackend, RegistryTokenVerifier, RequireCaller, identify_from_token
from sanctum_mcp.transports import listen
from sanctum_mcp.transports.hosts import LowercaseHost, transport_security
from sanctum_mcp.transports.limits import HttpLimits
from sanctum_mcp.transports.sessions import MCP_PATH, SessionGate

log = logging.getLogger("sanctum_mcp.http")

# Loggers whose warnings any client can trigger at will, one per request (a foreign Host header,
# a malformed request, an unknown SSE session id): rate-limited (server/lograte.py), since every
# WARNING also becomes a row in the logs table.
CLIENT_TRIGGERED_LOGGERS = ("mcp.server.transport_security", "mcp.server.sse", "mcp.server.streamable_http",
                            "mcp.server.streamable_http_manager", "uvicorn.error")

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


def build_http_app(registry: Registry, *, host: str, port: int, trust_loopback: bool = False,
                   stream_responses: bool = False, limits: HttpLimits | None = None,
                   selection: Selection | None = None) -> Starlette:
    limits = limits or HttpLimits()
    verifier = RegistryTokenVerifier(registry)
    shown = f"[{host}]" if ":" in host else host
    server = build_server(
        registry,
        identify=identify_from_token,
        token_verifier=verifier,
        # The registry is its own issuer; resource_server_url=None: no OAuth metadata routes.
        auth=AuthSettings(issuer_url=f"http://{shown}:{port}", resource_server_url=None),
        selection=selection,
    )
    server.load_catalogue()  # now, not on the first client's first call
    security = transport_security(host, port, wide=not is_loopback(host), extra=limits.allowed_hosts)
    # letta_status tells which of Letta's MCP entries reach this very server (domain/letta/registration.py).
    registry.letta.serving = OwnEndpoint(host=host, port=port, trust_loopback=trust_loopback,
                                         source="this server's own address",
                                         allowed_hosts=frozenset(h.lower() for h in security.allowed_hosts or ()))
    # Each POST to /mcp is answered with one JSON body unless stream_responses: an SSE stream per
    # request costs the server and the client more than the call itself (every Letta-style call
    # opens a session and lists ~130 KB of tools; with SSE framing that listing alone took longer
    # than the call), and only carries what these tools rarely send: progress notifications.
    # See benchmarks/README.md (P4, P5).
    # The SDK's own session limit would refuse admins too: SessionGate enforces ours instead.
    streamable = server.streamable_http_app(transport_security=security, host=host, json_response=not stream_responses,
                                            session_idle_timeout=limits.session_idle_seconds, max_sessions=None)
    sse = server.sse_app(transport_security=security, host=host)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # A mounted sub-app's lifespan never runs; the Streamable HTTP session manager is started here,
        # and beside it the one task that tells subscribers of changes (server/subscriptions.py).
        async with server.session_manager.run(), anyio.create_task_group() as tg:
            tg.start_soon(server.followers.run)
            yield
            tg.cancel_scope.cancel()

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "name": "sanctum-mcp", "version": __version__})

    # /mcp/x/NAMES: the same endpoint, publishing only the toolsets and profiles NAMES names
    # (server/listing.py), e.g. /mcp/x/assistant for a Letta agent. One session manager serves both.
    mcp_route = next(r for r in streamable.routes if getattr(r, "path", None) == MCP_PATH)
    selected = Route(f"{MCP_PATH}/x/{{{URL_PARAM}}}", endpoint=NamedSelection(mcp_route.app))
    # The browser console at / and /console/...: its own sign-in (cookie session), never this app's
    # bearer token or --trust-loopback caller (sanctum_mcp/console/app.py).
    console = Console(registry, security, selection=selection)
    routes = [Route("/healthz", health, methods=["GET"]), *streamable.routes, selected, *sse.routes,
              *console.routes()]
    middleware = [
        Middleware(LowercaseHost),
        Middleware(AuthenticationMiddleware,
                   backend=RegistryAuthBackend(verifier, trust_loopback=trust_loopback, registry=registry)),
        Middleware(AuthContextMiddleware),
        Middleware(RequireCaller, public_paths=is_console_path),
        Middleware(SessionGate, manager=server.session_manager, per_user=limits.max_sessions_per_user,
                   total=limits.max_sessions, idle_timeout=limits.session_idle_seconds),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.console = console
    return app


class NamedSelection:
    """ASGI app in front of the Streamable HTTP endpoint at /mcp/x/NAMES: an unknown name is answered
    404 with the valid ones, before any MCP session is opened."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            url_selection(scope.get("path_params", {}).get(URL_PARAM, ""))
        except UnknownSelection as exc:
            await JSONResponse({"error": f"no such endpoint: {exc}; e.g. {MCP_PATH}/x/assistant"},
                               status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def serve_http(db_path: Path, *, host: str, port: int, trust_loopback: bool = False,
                     stream_responses: bool = False, user: str | None = None, scheduler: bool = True,
                     db_log: bool = True, limits: HttpLimits | None = None, selection: Selection | None = None) -> None:
    import uvicorn

    from sanctum_mcp.server.lograte import RateLimitFilter
    from sanctum_mcp.transports.background import background
    from sanctum_mcp.transports.connections import guarded_protocol
    from sanctum_mcp.transports.shutdown import stop_on_termination

    limits = limits or HttpLimits()
    quieter = RateLimitFilter()
    if not is_loopback(host) and not Path(db_path).expanduser().exists():
        check_bind(host, active_tokens=0)  # a database that does not exist yet holds no token: touch nothing
    # Bound first: a port another program holds is one line (listen.py), announced and created nothing.
    listeners = listen.bind(host, port)
    try:
        registry = await Registry.open(db_path, user=user)
    except BaseException:
        listen.close(listeners)
        raise
    try:
        for name in CLIENT_TRIGGERED_LOGGERS:
            logging.getLogger(name).addFilter(quieter)
        check_bind(host, active_tokens=await registry.users.usable_token_count())
        app = build_http_app(registry, host=host, port=port, trust_loopback=trust_loopback,
                             stream_responses=stream_responses, limits=limits, selection=selection)
        if trust_loopback:
            log.info("loopback clients without a token act as %r (--trust-loopback)", registry.operator.username)
        shown = f"[{host}]" if ":" in host else host
        log.info("sanctum-mcp %s on http://%s:%d/mcp (Streamable HTTP) and http://%s:%d/sse (SSE); database %s",
                 __version__, shown, port, shown, port, db_path)
        protocol = guarded_protocol(max_connections=limits.max_connections, header_timeout=limits.header_timeout,
                                    body_timeout=limits.body_timeout)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", http=protocol,
                                ws="none", backlog=limits.backlog)
        server = uvicorn.Server(config)
        # The console's waiting requests (live updates) end within a second once uvicorn stops,
        # instead of holding its graceful shutdown for their whole wait.
        app.state.console.stopping = lambda: server.should_exit
        async with background(registry, scheduler=scheduler, db_log=db_log):
            # SIGTERM/SIGHUP: uvicorn's graceful shutdown, then the registry is closed (WAL checkpointed)
            # and the process exits 0, instead of uvicorn re-raising the signal and dying before that.
            async with stop_on_termination(stop=lambda: setattr(server, "should_exit", True)):
                await server.serve(sockets=listeners)
    finally:
        await registry.close()
        listen.close(listeners)
        for name in CLIENT_TRIGGERED_LOGGERS:
            logging.getLogger(name).removeFilter(quieter)
