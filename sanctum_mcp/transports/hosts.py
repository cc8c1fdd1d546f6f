"""Which Host headers name this server (DNS-rebinding protection).

A page from another site that gets its name resolved to this machine still sends its own name as
Host; so the server answers only names that are its own: loopback names always; when bound to a
wildcard or a non-loopback address also this machine's host name, FQDN and addresses (a LAN
client types one of those); and the names given with --allowed-host / SANCTUM_MCP_ALLOWED_HOSTS
(a reverse proxy's public name). Anything else gets 421.

Host names are case-insensitive (RFC 9110): `LowercaseHost` lowercases the header before the SDK's
exact comparison.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import struct
import sys
from collections.abc import Iterable

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("sanctum_mcp.http")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::")


def _as_host(address: str) -> str | None:
    """An address as it appears in a Host header, or None for one no client can use as such (a
    link-local IPv6 address needs a zone, which Host cannot carry)."""
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    if parsed.version == 6:
        return None if parsed.is_link_local else f"[{parsed.compressed}]"
    return str(parsed)


def _interface_addresses() -> set[str]:
    """The interfaces' addresses, where the standard library can find them without a network
    request: IPv4 through the SIOCGIFADDR ioctl and IPv6 from /proc/net/if_inet6 (Linux)."""
    found: set[str] = set()
    if not sys.platform.startswith("linux"):
        return found
    import fcntl

    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
                found.add(socket.inet_ntoa(packed[20:24]))
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
        for line in table:
            raw = line.split()[0]
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    return found


def machine_hosts() -> set[str]:
    """This machine's host name, FQDN and addresses, as Host header values (no port), lowercase."""
    names = {socket.gethostname(), socket.getfqdn()}
    addresses = _interface_addresses()
    for name in list(names):
        with contextlib.suppress(OSError, UnicodeError):
            addresses.update(info[4][0] for info in socket.getaddrinfo(name, None))
    hosts = {name.lower() for name in names if name}
    hosts.update(filter(None, (_as_host(address) for address in addresses)))
    return hosts


def transport_security(host: str, port: int, *, wide: bool, extra: Iterable[str] = ()) -> TransportSecuritySettings:
    """`wide`: the bind is a wildcard or non-loopback address (LAN clients name this machine).
    `extra`: checked --allowed-host values, lowercase; one without a port allows any port."""
    hosts = set(LOOPBACK_HOSTS)
    bare = host.strip("[]").lower()
    if bare not in WILDCARDS:
        hosts.add(f"[{bare}]" if ":" in bare else bare)
    if wide:
        hosts |= machine_hosts()
        log.info("answering Host names: %s (and --allowed-host names)", ", ".join(sorted(hosts)))
    allowed_hosts = sorted(f"{h}:{port}" for h in hosts) + sorted(hosts)
    allowed_origins = sorted(f"{scheme}://{h}:{port}" for h in hosts for scheme in ("http", "https"))
    for name in extra:
        if name.endswith("]") or ":" not in name:  # no port: whichever the proxy listens on
            allowed_hosts += [name, f"{name}:*"]
            allowed_origins += [f"{scheme}://{name}{port_part}" for scheme in ("http", "https")
                                for port_part in ("", ":*")]
        else:
            allowed_hosts.append(name)
            allowed_origins += [f"http://{name}", f"https://{name}"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
    )


class LowercaseHost:
    """ASGI middleware: the Host header in lowercase, so that the SDK's exact comparison of allowed
    hosts is case-insensitive as host names are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            if any(name == b"host" and value != value.lower() for name, value in headers):
                scope["headers"] = [(name, value.lower() if name == b"host" else value) for name, value in headers]
        await self.app(scope, receive, send)


def _matches(value: str, allowed: Iterable[str]) -> bool:
    """The SDK's rule (mcp.server.transport_security): an exact entry, or `name:*` for any port."""
    for entry in allowed:
        if value == entry or (entry.endswith(":*") and value.startswith(entry[:-2] + ":")):
            return True
    return False


def host_allowed(settings: TransportSecuritySettings, host: str | None) -> bool:
    """Whether a (lowercased) Host header names this server, as the MCP transports decide it: for
    what the SDK's transports do not cover (the browser console)."""
    return bool(host) and _matches(host.lower(), settings.allowed_hosts)


def origin_allowed(settings: TransportSecuritySettings, origin: str) -> bool:
    return _matches(origin.lower(), settings.allowed_origins)
