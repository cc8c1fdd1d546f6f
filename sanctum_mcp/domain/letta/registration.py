"""Which of the MCP servers registered in Letta reach this registry, and in what state.

An entry is `usable` only when Letta can get through with it: its URL names this machine (as seen
from where Letta runs), this registry's HTTP port and a path served here (`/mcp`, `/mcp/x/NAMES`,
`/sse`, matching the entry's transport), the server's bind and Host check let that address in, and
it carries a token that is an active sanctum token (compared by hash, never shown) or, without one,
it is a loopback entry while the server trusts loopback. Every other entry gets the first state that
keeps it out: `other-host` (another machine or port), `unreachable` (this server, but the address,
scheme or path does not get through), `no-token`, `wrong-token`, or `stdio` (Letta starts its own
process, which this server cannot vouch for).

"This registry's HTTP port" is the port of this very server over HTTP; in other processes (stdio,
the CLI, SMCP) the one the operator configured for `serve`: $SANCTUM_MCP_HOST / $SANCTUM_MCP_PORT,
else serve's defaults (127.0.0.1:9000); the result says which.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sanctum_mcp.domain.letta.models import LettaMcpServer
from sanctum_mcp.domain.letta.urls import public_url

# Docker's names for the host machine, as seen from a container (Letta in Docker).
DOCKER_HOST_NAMES = frozenset({"host.docker.internal", "gateway.docker.internal"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
# At most this many distinct host names are resolved per probe (each costs a DNS lookup).
MAX_LOOKUPS = 16
ASSISTANT_PATH = "/mcp/x/assistant"

TokenCheck = Callable[[str], Awaitable[bool]]
PathCheck = Callable[[str], bool]


@dataclass(frozen=True)
class OwnEndpoint:
    """Where this registry's HTTP server listens, as far as this process knows.

    trust_loopback None: unknown (only the HTTP server itself knows its --trust-loopback).
    allowed_hosts None: unknown (the Host check of the HTTP server; see transports/hosts.py)."""

    host: str
    port: int
    trust_loopback: bool | None
    source: str
    allowed_hosts: frozenset[str] | None = None


def configured_endpoint() -> OwnEndpoint:
    """The HTTP address the operator configured for `serve`, for a process that is not that server."""
    import os

    from sanctum_mcp import settings

    named = [name for name in (settings.ENV_HOST, settings.ENV_PORT) if os.environ.get(name)]
    try:
        port = settings.http_port()
    except SystemExit:  # a malformed $SANCTUM_MCP_PORT: serve would refuse it too
        port, named = settings.DEFAULT_PORT, [n for n in named if n != settings.ENV_PORT]
    source = (f"the address from ${' and $'.join(named)}" if named else
              f"serve's default address; set ${settings.ENV_HOST}/${settings.ENV_PORT} for this process if the "
              "HTTP server uses another")
    return OwnEndpoint(host=settings.http_host(), port=port, trust_loopback=None, source=source)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def _is_local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address belongs to this machine: only a local address can be bound."""
    if address.is_loopback:
        return True
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
        return True
    except OSError:
        return False


def _resolve(host: str) -> list[Any]:
    with contextlib.suppress(OSError, UnicodeError):
        return [_ip(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    return []


@dataclass
class Place:
    """Where a host name points, seen from this machine."""

    kind: str  # "loopback", "local" (this machine, not loopback), "docker-host", "other", "unknown"
    addresses: frozenset[str] = frozenset()


class Registration:
    """Classifies Letta's MCP server entries for one letta_status."""

    def __init__(self, own: OwnEndpoint, letta_url: str, tokens: TokenCheck, serves_names: PathCheck) -> None:
        self.own = own
        self.tokens = tokens
        self.serves_names = serves_names
        self.letta_host = urlsplit(letta_url).hostname or ""
        self._places: dict[str, Place] = {}

    async def place(self, host: str) -> Place:
        import anyio

        host = host.lower().rstrip(".")
        if host in self._places:
            return self._places[host]
        if host in DOCKER_HOST_NAMES:
            found = Place("docker-host")
        elif host == "localhost":
            found = Place("loopback")
        else:
            literal = _ip(host)
            if literal is not None:
                addresses = [literal]
            elif len(self._places) >= MAX_LOOKUPS:
                addresses = []
            else:
                addresses = await anyio.to_thread.run_sync(_resolve, host, abandon_on_cancel=True)
            addresses = [a for a in addresses if a is not None]
            if not addresses:
                found = Place("unknown" if literal is None else "other")
            elif all(a.is_loopback for a in addresses):
                found = Place("loopback", frozenset(str(a) for a in addresses))
            else:
                local = [a for a in addresses if not a.is_loopback and _is_local(a)]
                found = Place("local", frozenset(str(a) for a in local)) if local else Place("other")
        self._places[host] = found
        return found

    async def letta_is_here(self) -> bool:
        """Whether Letta runs on this machine (so that a loopback entry in Letta means us)."""
        return (await self.place(self.letta_host)).kind in ("loopback", "local", "docker-host")

    def _bind_covers(self, place: Place) -> str | None:
        """Why the server's bind does not take connections to this address (None: it does)."""
        bound = self.own.host.strip("[]").lower()
        if bound in WILDCARDS:
            return None
        bound_ip = _ip(bound)
        bound_loopback = bound == "localhost" or (bound_ip is not None and bound_ip.is_loopback)
        if place.kind == "loopback":
            return None if bound_loopback else f"this server listens on {self.own.host} only, not on loopback"
        if bound_loopback:
            return (f"this server listens on {self.own.host} only, which Letta cannot reach at this address; "
                    "serve --host with an address Letta can reach")
        if place.kind == "docker-host" or bound_ip is None or str(bound_ip) in place.addresses:
            return None
        return f"this server listens on {self.own.host} only, not on {', '.join(sorted(place.addresses))}"

    def _host_allowed(self, host: str, port: int) -> bool:
        if self.own.allowed_hosts is None:
            return True
        shown = f"[{host}]" if ":" in host else host
        return bool({shown, f"{shown}:{port}", f"{shown}:*"} & self.own.allowed_hosts)

    def _path_problem(self, path: str, kind: str | None) -> str | None:
        path = path.rstrip("/") or "/"
        served = "this server serves /mcp, /mcp/x/NAMES (Streamable HTTP) and /sse (SSE)"
        if path == "/sse":
            transport = "sse"
        elif path == "/mcp" or path.startswith("/mcp/x/"):
            transport = "streamable_http"
            names = path[len("/mcp/x/"):] if path != "/mcp" else ""
            if names and ("/" in names or not self.serves_names(names)):
                return f"{path} names no toolsets or profiles served here; {served}"
        else:
            return f"{path} is not served here; {served}"
        if kind in ("sse", "streamable_http") and kind != transport:
            wanted = "/sse" if kind == "sse" else "/mcp"
            return f"Letta speaks {kind} to {path}, which serves {transport}: use {wanted} with type {kind}"
        return None

    async def classify(self, name: str, config: dict[str, Any]) -> LettaMcpServer:
        kind = config.get("mcp_server_type") or config.get("type") or config.get("transport")
        url = config.get("server_url") or config.get("url")
        shown = public_url(url) if isinstance(url, str) else None

        def entry(state: str, reason: str) -> LettaMcpServer:
            return LettaMcpServer(name=name, type=str(kind) if kind else None, url=shown, state=state,  # type: ignore[arg-type]
                                  reason=reason)

        if not isinstance(url, str):
            command = " ".join(str(x) for x in [config.get("command") or "", *(config.get("args") or [])])
            if "sanctum-mcp" in command or "sanctum_mcp" in command or str(kind) == "stdio":
                return entry("stdio", "a stdio entry: Letta starts its own process, not this server, so it "
                             "cannot be checked from here; register this server's URL instead")
            return entry("other-host", "no URL")
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return entry("other-host", "its URL does not parse")
        place = await self.place(host) if host else Place("other")
        if place.kind == "loopback" and not await self.letta_is_here():
            return entry("other-host", f"{host} in Letta is Letta's own machine ({self.letta_host}), not this one")
        if place.kind in ("other", "unknown"):
            why = "does not resolve here" if place.kind == "unknown" else "is another address"
            return entry("other-host", f"{host} {why}: not this machine")
        if port != self.own.port:
            return entry("other-host", f"port {port} is not this registry's HTTP port {self.own.port} "
                         f"({self.own.source})")
        problem = self._bind_covers(place)
        if problem is None and parts.scheme != "http":
            problem = f"this server speaks plain http, not {parts.scheme}"
        if problem is None and not self._host_allowed(host, port):
            problem = (f"the Host check refuses {host!r} (421); serve --allowed-host {host} lets it in")
        if problem is None:
            problem = self._path_problem(parts.path, str(kind) if kind else None)
        if problem is not None:
            return entry("unreachable", problem)
        token = bearer_of(config)
        if token is None:
            if place.kind == "loopback" and self.own.trust_loopback:
                return entry("usable", "no token: a loopback client while this server runs with --trust-loopback "
                             "(it acts as the local admin; give Letta a token of role user instead)")
            unknown = " (whether the HTTP server trusts loopback is not known here)" if (
                place.kind == "loopback" and self.own.trust_loopback is None) else ""
            return entry("no-token", "no token: Letta sends no 'Authorization: Bearer' header" + unknown
                         + "; add one with a token from `sanctum-mcp user token NAME`")
        if token == "" or not await self.tokens(token):
            return entry("wrong-token", "its token is not an active sanctum token (unknown, revoked, not a Bearer "
                         "token, or its user is deactivated); give it a new one from `sanctum-mcp user token NAME`")
        return entry("usable", "this server, with an active sanctum token")

    def register_url(self, letta_here: bool) -> str:
        """The URL to register in Letta: this server's address as Letta can use it (with what to do
        first when Letta cannot reach the address this server listens on)."""
        host = self.own.host.strip("[]")
        first = ""
        if host in WILDCARDS:
            host = "127.0.0.1" if letta_here else socket.gethostname()
        elif not letta_here and self._bind_covers(Place("local")) is not None:
            first = (f" after serving on an address Letta at {self.letta_host} can reach (this server listens on "
                     f"{self.own.host} only: serve --host ...)")
            host = socket.gethostname()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.own.port}{ASSISTANT_PATH}{first}"


def bearer_of(config: dict[str, Any]) -> str | None:
    """The bearer token an entry sends: None for none, "" for an Authorization that is not Bearer.

    Letta keeps it as custom_headers, as auth_header + auth_token (0.11.x) or as token (current)."""
    value: Any = None
    for key in ("custom_headers", "headers"):
        headers = config.get(key)
        if isinstance(headers, dict):
            value = next((v for k, v in headers.items() if str(k).lower() == "authorization"), value)
    header = config.get("auth_header")
    if value is None and isinstance(header, str) and header.lower() == "authorization":
        value = config.get("auth_token")
    if value is None and isinstance(config.get("token"), str) and config["token"]:
        value = config["token"]
        if not value.lower().startswith("bearer "):
            return value.strip()
    if not isinstance(value, str) or not value.strip():
        return None
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else ""
