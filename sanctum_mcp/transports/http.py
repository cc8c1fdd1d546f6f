"""One Starlette app on one port: Streamable HTTP at /mcp and legacy SSE at /sse + /messages/.

The registry is opened by the caller before serving and shared by every session: the SDK runs a
server lifespan once per SSE connection, so nothing process-wide may live there.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sanctum_mcp import __version__
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server

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


def check_bind(host: str, *, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise BindRefused(
            f"refusing to serve on {host!r}: it is reachable from other machines and this server has "
            "no authentication yet. Bind 127.0.0.1 (the default), or pass --allow-remote if the "
            "network in front of it is trusted."
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


def build_http_app(registry: Registry, *, host: str, port: int) -> Starlette:
    server = build_server(registry)
    security = transport_security(host, port)
    streamable = server.streamable_http_app(transport_security=security, host=host)
    sse = server.sse_app(transport_security=security, host=host)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # A mounted sub-app's lifespan never runs; the Streamable HTTP session manager is started here.
        async with server.session_manager.run():
            yield

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "name": "sanctum-mcp", "version": __version__})

    routes = [Route("/healthz", health, methods=["GET"]), *streamable.routes, *sse.routes]
    return Starlette(routes=routes, lifespan=lifespan)


async def serve_http(
    db_path: Path, *, host: str, port: int, allow_remote: bool = False, scheduler: bool = True, db_log: bool = True
) -> None:
    import uvicorn

    from sanctum_mcp.transports.background import background

    check_bind(host, allow_remote=allow_remote)
    registry = await Registry.open(db_path)
    try:
        app = build_http_app(registry, host=host, port=port)
        shown = f"[{host}]" if ":" in host else host
        log.info("sanctum-mcp %s on http://%s:%d/mcp (Streamable HTTP) and http://%s:%d/sse (SSE); database %s",
                 __version__, shown, port, shown, port, db_path)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        async with background(registry, scheduler=scheduler, db_log=db_log):
            await uvicorn.Server(config).serve()
    finally:
        await registry.close()
