"""The HTTP server's listening sockets, bound before anything else happens.

uvicorn binds only after the app's lifespan has started, so a port another program holds used to
end in a "sanctum-mcp ... on http://..." line for a server that never served, then uvicorn's error
and a long traceback. Binding here first (as asyncio's create_server would: every address the host
name resolves to, SO_REUSEADDR, IPv6 sockets IPv6-only) turns each way it can fail into one line
that says what to do, before the registry is even opened; the sockets are then handed to uvicorn.
"""

from __future__ import annotations

import errno
import socket

from sanctum_mcp import settings

# How to choose another address, in every message about one.
_CHOOSE = f"choose another with --port N (or ${settings.ENV_PORT}; make run PORT=N)"


class CannotListen(Exception):
    """The address cannot be listened on; the message names it and says what to do."""


def bind(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) sockets for host:port, or CannotListen."""
    if not 1 <= port <= 65535:
        raise CannotListen(f"port {port} is not a TCP port; give --port a number from 1 to 65535")
    try:
        found = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise CannotListen(f"cannot listen on {host!r}: it is not an address or host name of this machine "
                           f"({getattr(exc, 'strerror', None) or exc}); give --host an address such as 127.0.0.1") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys((i[0], i[1], i[2], i[3], i[4]) for i in found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise CannotListen(_explain(exc, host, port)) from None
    except BaseException:
        close(sockets)
        raise
    return sockets


def close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def _explain(exc: OSError, host: str, port: int) -> str:
    where = f"{host}:{port}" if ":" not in host.strip("[]") else f"[{host.strip('[]')}]:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host} (another sanctum-mcp, or another program); {_CHOOSE}"
    if exc.errno == errno.EACCES:
        return f"this user may not listen on port {port} (ports below 1024 need privileges); {_CHOOSE}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {where}: {host} is not an address of this machine; give --host one of its "
                "addresses, such as 127.0.0.1")
    return f"cannot listen on {where}: {exc.strerror or exc}"
