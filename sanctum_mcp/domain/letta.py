"""Letta connections, the Letta probe (letta_status) and the agent sync.

Connections live in `letta_server_config` (at most one active: a partial unique index). Their
password and token are stored encrypted through `registry.secrets` and only ever leave this module
masked (`secrets.mask`), like every other secret of the registry.

Environment override: when any of LETTA_SERVER_URL, LETTA_SERVER_PASSWORD, LETTA_API_KEY is set
(non-empty), the probe and the sync use the environment ONLY (URL and credentials all from it,
nothing from the database) and every result says so. A credential without LETTA_SERVER_URL is an
incomplete override: it is reported, never completed from the database.

Auth headers: Letta accepts `Authorization: Bearer <secret>` and `X-BARE-PASSWORD: password <pw>`.
An API key/token is sent as Bearer; a password is sent as Bearer first and, only if Letta answers
401, once more as X-BARE-PASSWORD. The header that worked is reported (and tried first next time
in this process). Redirects are never followed, so no credential is ever sent to another address.

Every network failure becomes a status string with a message that says what to do; the probe
never raises for a network condition.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

from sanctum_mcp.domain import audit
from sanctum_mcp.domain.agents import _check_name as check_agent_name
from sanctum_mcp.domain.clock import iso
from sanctum_mcp.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, RegistryError
from sanctum_mcp.domain.identity import Caller
from sanctum_mcp.domain.secrets import SecretUnreadable, mask
from sanctum_mcp.storage import agents as agents_sql
from sanctum_mcp.storage import letta as sql

if TYPE_CHECKING:
    import httpx

    from sanctum_mcp.domain.registry import Registry

ENV_URL = "LETTA_SERVER_URL"
ENV_PASSWORD = "LETTA_SERVER_PASSWORD"
ENV_API_KEY = "LETTA_API_KEY"
ENV_VARS = (ENV_URL, ENV_PASSWORD, ENV_API_KEY)
# The environment names no timeout; an override uses the schema's default connection timeout.
OVERRIDE_TIMEOUT = 30
# Names under which this registry may be registered in Letta as an MCP server.
SELF_NAMES = frozenset({"sanctum", "sanctum-mcp", "sanctum_mcp", "sanctum-registry"})
SELF_PATHS = frozenset({"/mcp", "/sse"})
AGENT_PAGE = 100
MAX_AGENT_PAGES = 1000

Scheme = Literal["http", "https"]
AuthOutcome = Literal["ok", "failed", "not-needed", "not-checked"]
HeaderName = Literal["bearer", "x-bare-password"]
_HOST_RE = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")


class LettaUnavailable(RegistryError):
    """Letta could not be asked (unreachable, refused the credentials, answered nonsense)."""

    kind = "unavailable"


# --- models -----------------------------------------------------------------------------------


class LettaServer(BaseModel):
    id: int
    address: str
    port: int
    scheme: Scheme
    url: str = Field(description="scheme://address:port, the base URL the probe uses.")
    password: str | None = Field(default=None, description="Masked server password, if one is stored.")
    token: str | None = Field(default=None, description="Masked API token, if one is stored.")
    timeout_seconds: int
    is_active: bool
    last_connected: str | None = Field(default=None, description="Last time letta_status or a sync reached it.")
    created_at: str
    updated_at: str


class EnvOverride(BaseModel):
    in_force: bool = Field(description="True: letta_status and sync_letta_agents use the environment, not the database.")
    variables: list[str] = Field(description="Which of LETTA_SERVER_URL, LETTA_SERVER_PASSWORD, LETTA_API_KEY are set.")
    url: str | None = None
    password: str | None = Field(default=None, description="Masked.")
    api_key: str | None = Field(default=None, description="Masked.")
    complete: bool = Field(description="False when a credential is set without LETTA_SERVER_URL.")
    message: str


class LettaServerList(BaseModel):
    servers: list[LettaServer]
    active_id: int | None = None
    override: EnvOverride | None = Field(default=None, description="Present when the environment overrides the database.")


class RemovedLettaServer(BaseModel):
    removed: LettaServer


class LettaMcpServer(BaseModel):
    name: str
    type: str | None = None
    url: str | None = Field(default=None, description="Without credentials or query string.")
    matches_this_registry: bool
    match_reason: str | None = None


class ProbeStep(BaseModel):
    step: str
    request: str
    outcome: str = Field(description="'ok' or the failure status.")
    http_status: int | None = None
    detail: str | None = None


class LettaStatus(BaseModel):
    url: str | None = Field(default=None, description="Base URL probed.")
    source: Literal["database", "environment", "none"]
    server_id: int | None = None
    override: EnvOverride | None = None
    status: str = Field(
        description="ok, connection-refused, dns-failure, timeout, tls-error, connection-error, protocol-error, "
        "redirect, http-error, server-error, auth-failed, bad-response, not-configured, override-invalid, "
        "secret-unreadable."
    )
    message: str = Field(description="What the status means and what to do about it.")
    reachable: bool = Field(description="Letta answered HTTP at all.")
    latency_ms: float | None = Field(default=None, description="Round trip of GET /v1/health/.")
    version: str | None = None
    health: str | None = Field(default=None, description="The status field of /v1/health/.")
    auth: AuthOutcome = "not-checked"
    auth_header: HeaderName | None = Field(default=None, description="The header Letta accepted.")
    agent_count: int | None = None
    mcp_servers: list[LettaMcpServer] | None = Field(default=None, description="MCP servers registered in Letta.")
    registered: bool | None = Field(default=None, description="Whether this registry is one of them (None: unknown).")
    registered_as: list[str] = Field(default_factory=list)
    steps: list[ProbeStep] = Field(default_factory=list)


class SyncedAgent(BaseModel):
    name: str
    letta_id: str
    agent_id: int | None = None
    change: str | None = None


class SkippedAgent(BaseModel):
    name: str
    letta_id: str
    reason: str


class LettaSync(BaseModel):
    url: str
    source: Literal["database", "environment"]
    dry_run: bool
    letta_agents: int = Field(description="Agents Letta listed.")
    added: list[SyncedAgent] = Field(default_factory=list)
    updated: list[SyncedAgent] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list, description="Names already in step with Letta.")
    missing: list[SyncedAgent] = Field(
        default_factory=list, description="Registry agents whose letta_id Letta no longer lists (kept, never deleted)."
    )
    skipped: list[SkippedAgent] = Field(default_factory=list)


@dataclass(frozen=True)
class RevealedConnection:
    """A stored connection's URL with its password and token in clear: what `sanctum-mcp letta env`
    hands to Letta's clients. Only LettaService.reveal builds one (admins, audited). Not a result
    model: no surface prints it whole, and its repr leaves the secrets out (a stray log line or
    traceback never shows them)."""

    server_id: int
    url: str
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


# --- validation -------------------------------------------------------------------------------


def check_address(address: str) -> str:
    if "://" in address or "/" in address:
        raise InvalidInput(
            f"address {address[:80]!r} must be a host name or IP address only; give the scheme in "
            "scheme= and the port in port= (e.g. address='localhost', port=8283, scheme='http')."
        )
    bare = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if not _HOST_RE.fullmatch(address):
        raise InvalidInput(f"address {address[:80]!r} is not a host name or IP address.")
    return address


def check_secret(label: str, value: str) -> str:
    if value == "":
        raise InvalidInput(f"{label} is empty; leave it out, or use clear_{label}=true to remove a stored one.")
    if len(value) > 4096:
        raise InvalidInput(f"{label} is longer than 4096 characters.")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidInput(f"{label} contains control characters, which cannot travel in an HTTP header.")
    return value


def base_url(scheme: str, address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{host}:{port}"


def _public_url(url: str) -> str:
    """A URL without userinfo, query or fragment (they may carry credentials)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "(unparsable URL)"


# --- probe internals --------------------------------------------------------------------------


@dataclass
class Target:
    url: str
    source: Literal["database", "environment"]
    server_id: int | None
    timeout: float
    token: str | None = None
    password: str | None = None

    def candidates(self) -> list[tuple[HeaderName | None, dict[str, str]]]:
        found: list[tuple[HeaderName | None, dict[str, str]]] = []
        if self.token:
            found.append(("bearer", {"Authorization": f"Bearer {self.token}"}))
        if self.password:
            found.append(("bearer", {"Authorization": f"Bearer {self.password}"}))
            found.append(("x-bare-password", {"X-BARE-PASSWORD": f"password {self.password}"}))
        return found or [(None, {})]


class Failure(Exception):
    """A probe step failed; carries the status string and the message for the caller."""

    def __init__(self, status: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.http_status = status, message, http_status


@dataclass
class _Progress:
    step: str = "health"
    request: str = "GET /v1/health/"
    steps: list[ProbeStep] = field(default_factory=list)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and len(chain) < 10 and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def classify_network_error(exc: BaseException, target: Target) -> Failure:
    """One clear status for a failed HTTP exchange (no exception escapes the probe)."""
    import socket
    import ssl

    import httpx

    where = _public_url(target.url)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", f"{where} did not answer within {target.timeout:g} s. Check that Letta is up "
                       "and not overloaded, or raise the timeout with update_letta_server.")
    chain = _exception_chain(exc)
    text = " | ".join(str(e) for e in chain)
    for e in chain:
        if isinstance(e, ssl.SSLError) or "SSL" in type(e).__name__:
            reason = getattr(e, "reason", None) or getattr(e, "verify_message", None) or str(e)
            return Failure("tls-error", f"the TLS handshake with {where} failed ({reason}). If Letta serves plain "
                           "HTTP there, set scheme='http' with update_letta_server; otherwise fix its certificate.")
        if isinstance(e, socket.gaierror):
            return Failure("dns-failure", f"the host name of {where} does not resolve ({e.strerror or e}). "
                           "Fix the address with update_letta_server.")
        if isinstance(e, ConnectionRefusedError):
            return Failure("connection-refused", f"nothing is listening at {where} (connection refused). Start "
                           "the Letta server, or fix the address/port with update_letta_server.")
    lowered = text.lower()
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return Failure("tls-error", f"the TLS handshake with {where} failed. If Letta serves plain HTTP there, "
                       "set scheme='http'; otherwise fix its certificate.")
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered \
            or "name resolution" in lowered or "no address associated" in lowered:
        return Failure("dns-failure", f"the host name of {where} does not resolve. Fix the address with "
                       "update_letta_server.")
    if "connection refused" in lowered or "errno 111" in lowered or "errno 61" in lowered:
        return Failure("connection-refused", f"nothing is listening at {where} (connection refused).")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return Failure("protocol-error", f"{where} broke the HTTP exchange ({type(exc).__name__}); is it a Letta "
                       "server, and is the scheme (http/https) right?")
    return Failure("connection-error", f"could not talk to {where} ({type(exc).__name__}). Check the address, "
                   "port and network.")


def _http_failure(response: httpx.Response, path: str, target: Target) -> Failure:
    status = response.status_code
    where = _public_url(target.url)
    if 300 <= status < 400:
        location = _public_url(response.headers.get("location", "")) if response.headers.get("location") else "(none)"
        return Failure("redirect", f"{where}{path} redirected ({status}) to {location}; redirects are not followed "
                       "so credentials never go elsewhere. Point the connection at the final address.", status)
    if status >= 500:
        return Failure("server-error", f"Letta answered {status} to GET {path}; the Letta server log says why.", status)
    if status == 401:
        return Failure("auth-failed", f"Letta answered 401 to GET {path}.", status)
    return Failure("http-error", f"{where} answered {status} to GET {path}; is this a Letta server (it should serve "
                   "/v1/health/)?", status)


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "no content type")
        raise Failure("bad-response", f"GET {path} answered {response.status_code} with a body that is not JSON "
                      f"({kind}); is this a Letta server, or is a proxy in the way?", response.status_code) from None


def _items(payload: Any, *keys: str) -> list[Any] | None:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in keys:
            if isinstance(payload.get(key), list):
                return payload[key]
    return None


# --- the service ------------------------------------------------------------------------------


class LettaService:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        # The HTTP port this process serves on (set by the HTTP transport); used to recognise this
        # registry among Letta's MCP servers. None: $SANCTUM_MCP_PORT or the default port.
        self.self_port: int | None = None
        self._preferred: dict[str, HeaderName | None] = {}

    # --- models ---------------------------------------------------------------------------------

    def _masked(self, stored: str | None) -> str | None:
        if stored is None:
            return None
        try:
            return mask(self.registry.secrets.decrypt(stored))
        except SecretUnreadable:
            return mask(None)

    def _model(self, row: sqlite3.Row) -> LettaServer:
        return LettaServer(
            id=row["id"],
            address=row["server_address"],
            port=row["server_port"],
            scheme=row["server_scheme"],
            url=base_url(row["server_scheme"], row["server_address"], row["server_port"]),
            password=self._masked(row["server_password"]),
            token=self._masked(row["server_token"]),
            timeout_seconds=row["connection_timeout"],
            is_active=bool(row["is_active"]),
            last_connected=row["last_connected"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @staticmethod
    def env_override() -> EnvOverride | None:
        values = {name: os.environ.get(name) or None for name in ENV_VARS}
        present = [name for name, value in values.items() if value]
        if not present:
            return None
        url = values[ENV_URL]
        complete, message = True, (
            f"the environment overrides the database ({', '.join(present)}): letta_status and sync_letta_agents "
            "use these values only; the database connections are not used until they are unset."
        )
        if url is None:
            complete = False
            message = (f"{', '.join(present)} is set but {ENV_URL} is not: the override is incomplete and is NOT "
                       f"mixed with the database. Set {ENV_URL} too, or unset {', '.join(present)}.")
        else:
            try:
                parts = urlsplit(url)
                valid = parts.scheme in ("http", "https") and bool(parts.hostname)
                parts.port  # noqa: B018 (raises ValueError for a port out of range)
            except ValueError:
                valid = False
            if not valid:
                complete = False
                message = f"{ENV_URL} is not an http(s) URL with a host (and a valid port); fix it or unset it."
        return EnvOverride(
            in_force=True, variables=present, url=_public_url(url) if url else None,
            password=mask(values[ENV_PASSWORD]) if values[ENV_PASSWORD] else None,
            api_key=mask(values[ENV_API_KEY]) if values[ENV_API_KEY] else None,
            complete=complete, message=message,
        )

    # --- connections ----------------------------------------------------------------------------

    async def list(self) -> LettaServerList:
        rows = await self.registry.db.read(sql.all_servers)
        servers = [self._model(r) for r in rows]
        active = next((s.id for s in servers if s.is_active), None)
        return LettaServerList(servers=servers, active_id=active, override=self.env_override())

    async def add(self, caller: Caller, *, address: str, port: int, scheme: str, password: str | None,
                  token: str | None, timeout: int, activate: bool) -> LettaServer:
        address = check_address(address)
        values: dict[str, Any] = {"server_address": address, "server_port": port, "server_scheme": scheme,
                                  "connection_timeout": timeout, "is_active": 0}
        if password is not None:
            values["server_password"] = self.registry.secrets.encrypt(check_secret("password", password))
        if token is not None:
            values["server_token"] = self.registry.secrets.encrypt(check_secret("token", token))

        def tx(conn: sqlite3.Connection) -> LettaServer:
            clash = sql.find_endpoint(conn, scheme, address, port)
            if clash is not None:
                raise Conflict(f"Letta connection {clash['id']} already points at {base_url(scheme, address, port)}; "
                               "change it with update_letta_server instead.")
            server_id = sql.insert(conn, values)
            if activate or sql.active(conn) is None:
                sql.activate(conn, server_id)
            created = self._model(sql.get(conn, server_id))
            audit.record(conn, caller, action="letta.server.add", source="letta", source_id=server_id,
                         message=f"Letta connection {created.url} added", after=created)
            return created

        return await self.registry.db.write(tx)

    async def update(self, caller: Caller, server_id: int, changes: dict[str, Any]) -> LettaServer:
        values: dict[str, Any] = {}
        if changes.get("address") is not None:
            values["server_address"] = check_address(changes["address"])
        if changes.get("port") is not None:
            values["server_port"] = changes["port"]
        if changes.get("scheme") is not None:
            values["server_scheme"] = changes["scheme"]
        if changes.get("timeout") is not None:
            values["connection_timeout"] = changes["timeout"]
        for label, column in (("password", "server_password"), ("token", "server_token")):
            if changes.get(label) is not None and changes.get(f"clear_{label}"):
                raise InvalidInput(f"give either {label} or clear_{label}=true, not both; nothing was changed.")
            if changes.get(label) is not None:
                values[column] = self.registry.secrets.encrypt(check_secret(label, changes[label]))
            elif changes.get(f"clear_{label}"):
                values[column] = None
        if not values:
            raise InvalidInput("update_letta_server needs at least one change (address, port, scheme, password, "
                               "token, timeout, clear_password, clear_token); nothing was changed.")

        def tx(conn: sqlite3.Connection) -> LettaServer:
            row = self._get(conn, server_id)
            before = self._model(row)
            scheme = values.get("server_scheme", row["server_scheme"])
            address = values.get("server_address", row["server_address"])
            port = values.get("server_port", row["server_port"])
            clash = sql.find_endpoint(conn, scheme, address, port)
            if clash is not None and clash["id"] != server_id:
                raise Conflict(f"Letta connection {clash['id']} already points at {base_url(scheme, address, port)}; "
                               "nothing was changed.")
            sql.update(conn, server_id, values)
            after = self._model(sql.get(conn, server_id))
            audit.record(conn, caller, action="letta.server.update", source="letta", source_id=server_id,
                         message=f"Letta connection {server_id} updated", before=before, after=after)
            return after

        return await self.registry.db.write(tx)

    async def remove(self, caller: Caller, server_id: int) -> RemovedLettaServer:
        def tx(conn: sqlite3.Connection) -> RemovedLettaServer:
            row = self._get(conn, server_id)
            before = self._model(row)
            if row["is_active"]:
                raise Conflict(f"Letta connection {server_id} is the active one; activate another with "
                               "activate_letta_server first (or change this one with update_letta_server). "
                               "Nothing was removed.")
            sql.delete(conn, server_id)
            audit.record(conn, caller, action="letta.server.remove", source="letta", source_id=server_id,
                         message=f"Letta connection {before.url} removed", before=before)
            return RemovedLettaServer(removed=before)

        return await self.registry.db.write(tx)

    async def activate(self, caller: Caller, server_id: int) -> LettaServer:
        def tx(conn: sqlite3.Connection) -> LettaServer:
            row = self._get(conn, server_id)
            if row["is_active"]:
                return self._model(row)
            previous = sql.active(conn)
            sql.activate(conn, server_id)
            after = self._model(sql.get(conn, server_id))
            audit.record(conn, caller, action="letta.server.activate", source="letta", source_id=server_id,
                         message=f"Letta connection {after.url} activated",
                         before=self._model(previous) if previous else None, after=after)
            return after

        return await self.registry.db.write(tx)

    async def reveal(self, caller: Caller, server_id: int | None = None) -> RevealedConnection:
        """A stored connection (the active one by default) with its password and token in clear.

        For admins whose permissions are not narrowed (the credentials reach Letta for every agent);
        a refusal is audited (`access.denied`) like the role gate's, and a reveal of any secret like
        get_config(reveal=true) (`letta.reveal`, naming what was revealed, never the values)."""
        narrowed = caller.permissions is not None and (caller.permissions.agents is not None
                                                        or caller.permissions.tools is not None)
        if not caller.has_role("admin") or narrowed:
            why = f"{caller.username!r} has {caller.role!r}" + (" and narrowed permissions" if narrowed else "")
            reason = (f"revealing a Letta connection's password and token needs the 'admin' role without narrowed "
                      f"permissions; {why}. Call list_letta_servers to see the connections with their secrets "
                      "masked, or ask an admin.")
            await self.registry.users.record_refusal(caller, tool="letta.reveal", reason=reason, needed="admin")
            raise Forbidden(reason)

        def tx(conn: sqlite3.Connection) -> RevealedConnection:
            row = sql.active(conn) if server_id is None else self._get(conn, server_id)
            if row is None:
                raise NotFound("there is no active Letta connection; add one with add_letta_server(activate=true) "
                               "or activate one with activate_letta_server.")
            url = base_url(row["server_scheme"], row["server_address"], row["server_port"])
            try:
                password = self.registry.secrets.decrypt(row["server_password"]) if row["server_password"] else None
                token = self.registry.secrets.decrypt(row["server_token"]) if row["server_token"] else None
            except SecretUnreadable as exc:  # rolls back unaudited: nothing was revealed
                raise SecretUnreadable(f"Letta connection {row['id']} ({url}): {exc}") from None
            revealed = [name for name, value in (("password", password), ("token", token)) if value]
            if revealed:
                audit.record(conn, caller, action="letta.reveal", source="letta", source_id=row["id"],
                             message=f"{' and '.join(revealed)} of Letta connection {row['id']} ({url}) revealed "
                                     f"to {caller.username!r}",
                             extra={"revealed": revealed, "url": url})
            return RevealedConnection(server_id=row["id"], url=url, password=password, token=token)

        return await self.registry.db.write(tx)

    @staticmethod
    def _get(conn: sqlite3.Connection, server_id: int) -> sqlite3.Row:
        row = sql.get(conn, server_id)
        if row is None:
            raise NotFound(f"no Letta connection with id {server_id}; call list_letta_servers to see them.")
        return row

    # --- targets ----------------------------------------------------------------------------------

    async def _target(self, server_id: int | None) -> tuple[Target | None, LettaStatus | None]:
        """The endpoint to talk to, or a finished status explaining why there is none."""
        override = self.env_override()
        if server_id is None and override is not None:
            if not override.complete:
                return None, LettaStatus(source="environment", override=override, status="override-invalid",
                                         message=override.message, reachable=False)
            return Target(url=os.environ[ENV_URL].rstrip("/"), source="environment", server_id=None,
                          timeout=OVERRIDE_TIMEOUT, token=os.environ.get(ENV_API_KEY) or None,
                          password=os.environ.get(ENV_PASSWORD) or None), None
        if server_id is None:
            row = await self.registry.db.read(sql.active)
            if row is None:
                return None, LettaStatus(source="none", override=override, status="not-configured", reachable=False,
                                         message="there is no active Letta connection; add one with "
                                         "add_letta_server or activate one with activate_letta_server.")
        else:
            row = await self.registry.db.read(lambda conn: self._get(conn, server_id))
        url = base_url(row["server_scheme"], row["server_address"], row["server_port"])
        try:
            token = self.registry.secrets.decrypt(row["server_token"]) if row["server_token"] else None
            password = self.registry.secrets.decrypt(row["server_password"]) if row["server_password"] else None
        except SecretUnreadable as exc:
            return None, LettaStatus(url=url, source="database", server_id=row["id"], override=override,
                                     status="secret-unreadable", reachable=False, message=str(exc))
        return Target(url=url, source="database", server_id=row["id"], timeout=row["connection_timeout"],
                      token=token, password=password), None

    def _client(self, target: Target) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(base_url=target.url, timeout=httpx.Timeout(target.timeout), follow_redirects=False,
                                 headers={"Accept": "application/json", "User-Agent": "sanctum-mcp"})

    async def _authed_get(self, client: httpx.AsyncClient, target: Target, path: str,
                          params: dict[str, Any] | None = None) -> tuple[httpx.Response, HeaderName | None]:
        """GET with the first credential Letta accepts; the last response if it accepts none."""
        candidates = target.candidates()
        preferred = self._preferred.get(target.url, "unset")
        candidates.sort(key=lambda c: c[0] != preferred)
        response = None
        for header, headers in candidates:
            response = await client.get(path, params=params, headers=headers)
            if response.status_code != 401:
                self._preferred[target.url] = header
                return response, header
        assert response is not None
        return response, candidates[-1][0]

    def _auth_failure(self, target: Target, path: str) -> Failure:
        if target.token or target.password:
            tried = "Authorization: Bearer" + (" and X-BARE-PASSWORD" if target.password else "")
            where = "the environment" if target.source == "environment" else "update_letta_server"
            return Failure("auth-failed", f"Letta refused the stored credentials (401 to GET {path}; tried {tried}). "
                           f"Fix the password or token ({where}).", 401)
        fix = (f"set {ENV_PASSWORD} or {ENV_API_KEY}" if target.source == "environment"
               else "store it with update_letta_server(password=...)")
        return Failure("auth-failed", f"Letta requires a password (401 to GET {path}) and none is configured; {fix}.", 401)

    # --- letta_status -----------------------------------------------------------------------------

    async def status(self, server_id: int | None = None) -> LettaStatus:
        import anyio

        target, finished = await self._target(server_id)
        if finished is not None:
            return finished
        assert target is not None
        result = LettaStatus(url=_public_url(target.url), source=target.source, server_id=target.server_id,
                             override=self.env_override(), status="ok", message="", reachable=False)
        progress = _Progress()
        failure: Failure | None = None
        with anyio.move_on_after(target.timeout) as scope:
            try:
                await self._probe(target, result, progress)
            except Failure as exc:
                failure = exc
        if scope.cancelled_caught:
            failure = Failure("timeout", f"the probe did not finish within the connection's {target.timeout:g} s "
                              f"(stuck at {progress.request}). Check Letta's load, or raise the timeout with "
                              "update_letta_server.")
        if failure is not None:
            progress.steps.append(ProbeStep(step=progress.step, request=progress.request, outcome=failure.status,
                                            http_status=failure.http_status, detail=failure.message))
            result.status, result.message = failure.status, failure.message
            if failure.status == "auth-failed":
                result.auth = "failed"
        else:
            result.message = self._summary(result)
        result.steps = progress.steps
        if target.server_id is not None and result.reachable and result.auth in ("ok", "not-needed"):
            now = iso(self.registry.clock())
            await self.registry.db.write(lambda conn: sql.set_last_connected(conn, target.server_id, now))
        return result

    async def _probe(self, target: Target, result: LettaStatus, progress: _Progress) -> None:
        async with self._client(target) as client:
            # 1. health (exempt from the password in Letta)
            started = time.perf_counter()
            response = await self._send(client.get("/v1/health/"), target)
            result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
            result.reachable = True
            if response.status_code != 200:
                raise _http_failure(response, "/v1/health/", target)
            health = _json(response, "/v1/health/")
            if not isinstance(health, dict):
                raise Failure("bad-response", "GET /v1/health/ did not answer a JSON object; is this a Letta server?", 200)
            result.version = str(health["version"]) if health.get("version") is not None else None
            result.health = str(health["status"]) if health.get("status") is not None else None
            progress.steps.append(ProbeStep(step="health", request="GET /v1/health/", outcome="ok", http_status=200,
                                            detail=f"version {result.version}, status {result.health}"))

            # 2. authenticated: the agent count
            progress.step, progress.request = "agents", "GET /v1/agents/count"
            response, header = await self._send(self._authed_get(client, target, "/v1/agents/count"), target)
            if response.status_code == 401:
                raise self._auth_failure(target, "/v1/agents/count")
            if response.status_code != 200:
                raise _http_failure(response, "/v1/agents/count", target)
            count = _json(response, "/v1/agents/count")
            if isinstance(count, dict):
                count = count.get("count")
            if not isinstance(count, int) or isinstance(count, bool):
                raise Failure("bad-response", "GET /v1/agents/count did not answer a number.", 200)
            result.agent_count = count
            result.auth = "ok" if header else "not-needed"
            result.auth_header = header
            progress.steps.append(ProbeStep(step="agents", request="GET /v1/agents/count", outcome="ok",
                                            http_status=200, detail=f"{count} agents; auth {result.auth}"))

            # 3. the MCP servers registered in Letta (newer path first, then the pre-0.13 one)
            for path in ("/v1/mcp-servers/", "/v1/tools/mcp/servers"):
                progress.step, progress.request = "mcp-servers", f"GET {path}"
                response, _ = await self._send(self._authed_get(client, target, path), target)
                if response.status_code == 404:
                    progress.steps.append(ProbeStep(step="mcp-servers", request=f"GET {path}", outcome="not-found",
                                                    http_status=404, detail="not served by this Letta version"))
                    continue
                if response.status_code == 401:
                    raise self._auth_failure(target, path)
                if response.status_code != 200:
                    raise _http_failure(response, path, target)
                servers = self._mcp_servers(_json(response, path))
                if servers is None:
                    raise Failure("bad-response", f"GET {path} did not answer a list of MCP servers.", 200)
                result.mcp_servers = servers
                result.registered_as = [s.name for s in servers if s.matches_this_registry]
                result.registered = bool(result.registered_as)
                progress.steps.append(ProbeStep(step="mcp-servers", request=f"GET {path}", outcome="ok",
                                                http_status=200, detail=f"{len(servers)} MCP servers"))
                break

    @staticmethod
    async def _send(awaitable: Any, target: Target) -> Any:
        import httpx

        try:
            return await awaitable
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            raise classify_network_error(exc, target) from None

    def _summary(self, result: LettaStatus) -> str:
        parts = [f"Letta {result.version or '(version unknown)'} answered in {result.latency_ms} ms",
                 f"auth {result.auth}" + (f" ({result.auth_header})" if result.auth_header else ""),
                 f"{result.agent_count} agents"]
        if result.registered is None:
            parts.append("its MCP server list is not available, so registration is unknown")
        elif result.registered:
            parts.append(f"this registry is registered in Letta as {', '.join(result.registered_as)}")
        else:
            parts.append("this registry is NOT registered in Letta as an MCP server (add it in Letta: "
                         "Tools > MCP servers, URL http://<this host>:<port>/mcp)")
        if result.source == "environment":
            parts.append("values from the environment override")
        return "; ".join(parts) + "."

    def _own_port(self) -> int:
        if self.self_port is not None:
            return self.self_port
        from sanctum_mcp import settings

        try:
            return settings.http_port()
        except SystemExit:
            return settings.DEFAULT_PORT

    def _mcp_servers(self, payload: Any) -> list[LettaMcpServer] | None:
        """Letta's MCP server list: a list of configs (0.13+), or {name: config} (older)."""
        entries: list[tuple[str | None, Any]]
        items = _items(payload, "servers", "data", "items", "mcp_servers")
        if items is not None:
            entries = [(None, item) for item in items]
        elif isinstance(payload, dict):
            entries = list(payload.items())
        else:
            return None
        port = self._own_port()
        servers = []
        for key, config in entries:
            if not isinstance(config, dict):
                continue
            name = str(config.get("server_name") or config.get("name") or key or "(unnamed)")
            kind = config.get("mcp_server_type") or config.get("type") or config.get("transport")
            url = config.get("server_url") or config.get("url")
            reason = None
            if name.casefold() in SELF_NAMES:
                reason = f"named {name!r}"
            elif isinstance(url, str):
                try:
                    parts = urlsplit(url)
                    if parts.path.rstrip("/") in SELF_PATHS and parts.port == port:
                        reason = f"URL {_public_url(url)} is this server's port {port} and path {parts.path.rstrip('/')}"
                except ValueError:
                    pass
            if reason is None:
                command = " ".join(str(x) for x in [config.get("command") or "", *(config.get("args") or [])])
                if "sanctum-mcp" in command or "sanctum_mcp" in command:
                    reason = "stdio command runs sanctum-mcp"
            servers.append(LettaMcpServer(name=name, type=str(kind) if kind else None,
                                          url=_public_url(url) if isinstance(url, str) else None,
                                          matches_this_registry=reason is not None, match_reason=reason))
        return servers

    # --- sync_letta_agents ------------------------------------------------------------------------

    async def fetch_agents(self, target: Target) -> list[dict[str, Any]]:
        """Every agent Letta lists (id, name, description), following `after` cursors."""
        agents: list[dict[str, Any]] = []
        seen: set[str] = set()
        after: str | None = None
        try:
            async with self._client(target) as client:
                for _ in range(MAX_AGENT_PAGES):
                    params: dict[str, Any] = {"limit": AGENT_PAGE}
                    if after:
                        params["after"] = after
                    response, _ = await self._send(self._authed_get(client, target, "/v1/agents/", params), target)
                    if response.status_code == 401:
                        raise self._auth_failure(target, "/v1/agents/")
                    if response.status_code != 200:
                        raise _http_failure(response, "/v1/agents/", target)
                    page = _items(_json(response, "/v1/agents/"), "agents", "data", "items")
                    if page is None:
                        raise Failure("bad-response", "GET /v1/agents/ did not answer a list of agents.", 200)
                    fresh = 0
                    for item in page:
                        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                            raise Failure("bad-response", "GET /v1/agents/ listed an agent without a string id.", 200)
                        if item["id"] in seen:
                            continue
                        seen.add(item["id"])
                        fresh += 1
                        agents.append({"id": item["id"], "name": item.get("name"),
                                       "description": item.get("description")})
                    if len(page) < AGENT_PAGE or fresh == 0:
                        return agents
                    after = page[-1]["id"]
        except Failure as exc:
            raise LettaUnavailable(f"sync_letta_agents could not list Letta's agents: {exc.message} "
                                   "Nothing was changed; letta_status shows the connection's state.") from None
        return agents

    async def sync_agents(self, caller: Caller, *, server_id: int | None, dry_run: bool) -> LettaSync:
        import anyio

        target, finished = await self._target(server_id)
        if finished is not None:
            raise LettaUnavailable(f"sync_letta_agents cannot reach Letta: {finished.message} Nothing was changed.")
        assert target is not None
        with anyio.move_on_after(max(target.timeout, 1) * 4) as scope:
            letta_agents = await self.fetch_agents(target)
        if scope.cancelled_caught:
            raise LettaUnavailable(f"listing Letta's agents took longer than {max(target.timeout, 1) * 4:g} s; "
                                   "nothing was changed. Retry, or raise the timeout with update_letta_server.")
        now = iso(self.registry.clock())

        def tx(conn: sqlite3.Connection) -> LettaSync:
            result = LettaSync(url=_public_url(target.url), source=target.source, dry_run=dry_run,
                               letta_agents=len(letta_agents))
            rows = sql.agents_for_sync(conn)
            by_letta = {r["letta_id"]: r for r in rows if r["letta_id"]}
            by_name = {r["name"].casefold(): r for r in rows}
            claimed_names: set[str] = set()
            for agent in letta_agents:
                letta_id, name = agent["id"], agent["name"]
                if not isinstance(name, str):
                    result.skipped.append(SkippedAgent(name=str(name), letta_id=letta_id, reason="Letta gave no name"))
                    continue
                try:
                    check_agent_name(name)
                except InvalidInput as exc:
                    result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason=str(exc)))
                    continue
                if name.casefold() in claimed_names:
                    result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason="Letta has another agent "
                                                       "with this name (ignoring case); rename one in Letta."))
                    continue
                claimed_names.add(name.casefold())
                linked = by_letta.get(letta_id)
                same_name = by_name.get(name.casefold())
                if linked is not None:
                    if linked["name"].casefold() == name.casefold():  # registry names ignore case
                        result.unchanged.append(linked["name"])
                    elif same_name is not None and same_name["id"] != linked["id"]:
                        result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason=(
                            f"Letta renamed it from {linked['name']!r}, but another registry agent is named "
                            f"{same_name['name']!r}; rename or delete that one, then sync again.")))
                    else:
                        if not dry_run:
                            agents_sql.update(conn, linked["id"], {"name": name})
                        result.updated.append(SyncedAgent(name=name, letta_id=letta_id, agent_id=linked["id"],
                                                          change=f"renamed from {linked['name']!r}"))
                elif same_name is not None:
                    if same_name["letta_id"]:
                        result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason=(
                            f"registry agent {same_name['name']!r} is linked to another Letta id "
                            f"({same_name['letta_id']}); clear or fix its letta_id with update_agent first.")))
                        continue
                    if not dry_run:
                        agents_sql.update(conn, same_name["id"], {"letta_id": letta_id})
                    result.updated.append(SyncedAgent(name=same_name["name"], letta_id=letta_id,
                                                      agent_id=same_name["id"], change="linked to its Letta id"))
                else:
                    agent_id = None
                    if not dry_run:
                        description = agent["description"] if isinstance(agent["description"], str) else None
                        agent_id = agents_sql.insert(conn, {"name": name, "letta_id": letta_id,
                                                            "description": description, "config": "{}",
                                                            "is_active": 1})
                    result.added.append(SyncedAgent(name=name, letta_id=letta_id, agent_id=agent_id))
            listed = {a["id"] for a in letta_agents}
            result.missing = [SyncedAgent(name=r["name"], letta_id=r["letta_id"], agent_id=r["id"])
                              for r in rows if r["letta_id"] and r["letta_id"] not in listed]
            if target.server_id is not None and not dry_run:
                sql.set_last_connected(conn, target.server_id, now)
            if not dry_run and (result.added or result.updated):
                audit.record(conn, caller, action="letta.sync", source="letta", source_id=target.server_id,
                             message=f"synced {len(result.added)} added, {len(result.updated)} updated agents from "
                             f"{result.url}", after=result)
            return result

        if dry_run:
            return await self.registry.db.read(tx)
        return await self.registry.db.write(tx)
