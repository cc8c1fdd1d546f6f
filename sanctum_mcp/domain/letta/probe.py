"""Talking to Letta over HTTP: the credentials to try, the letta_status probe (health, agent count,
registered MCP servers), and one clear status for every way an exchange can fail."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sanctum_mcp.domain.letta.environment import ENV_API_KEY, ENV_PASSWORD
from sanctum_mcp.domain.letta.models import EnvOverride, HeaderName, LettaMcpServer, LettaStatus, ProbeStep
from sanctum_mcp.domain.letta.urls import public_url

if TYPE_CHECKING:
    import httpx

    from sanctum_mcp.domain.letta.registration import Registration

# How many of Letta's MCP server entries are classified (each may cost a token lookup).
MAX_MCP_SERVERS = 200


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


    where = public_url(target.url)
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


def http_failure(response: httpx.Response, path: str, target: Target) -> Failure:
    status = response.status_code
    where = public_url(target.url)
    if 300 <= status < 400:
        location = public_url(response.headers.get("location", "")) if response.headers.get("location") else "(none)"
        return Failure("redirect", f"{where}{path} redirected ({status}) to {location}; redirects are not followed "
                       "so credentials never go elsewhere. Point the connection at the final address.", status)
    if status >= 500:
        return Failure("server-error", f"Letta answered {status} to GET {path}; the Letta server log says why.", status)
    if status == 401:
        return Failure("auth-failed", f"Letta answered 401 to GET {path}.", status)
    return Failure("http-error", f"{where} answered {status} to GET {path}; is this a Letta server (it should serve "
                   "/v1/health/)?", status)


def json_of(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "no content type")
        raise Failure("bad-response", f"GET {path} answered {response.status_code} with a body that is not JSON "
                      f"({kind}); is this a Letta server, or is a proxy in the way?", response.status_code) from None


def items_of(payload: Any, *keys: str) -> list[Any] | None:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in keys:
            if isinstance(payload.get(key), list):
                return payload[key]
    return None


class LettaHttp:
    """HTTP to Letta for this process: remembers, per URL, the auth header Letta accepted last."""

    def __init__(self) -> None:
        self._preferred: dict[str, HeaderName | None] = {}

    def client(self, target: Target) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(base_url=target.url, timeout=httpx.Timeout(target.timeout), follow_redirects=False,
                                 headers={"Accept": "application/json", "User-Agent": "sanctum-mcp"})

    async def authed_get(self, client: httpx.AsyncClient, target: Target, path: str,
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

    def auth_failure(self, target: Target, path: str) -> Failure:
        if target.token or target.password:
            tried = "Authorization: Bearer" + (" and X-BARE-PASSWORD" if target.password else "")
            where = "the environment" if target.source == "environment" else "update_letta_server"
            return Failure("auth-failed", f"Letta refused the stored credentials (401 to GET {path}; tried {tried}). "
                           f"Fix the password or token ({where}).", 401)
        fix = (f"set {ENV_PASSWORD} or {ENV_API_KEY}" if target.source == "environment"
               else "store it with update_letta_server(password=...)")
        return Failure("auth-failed", f"Letta requires a password (401 to GET {path}) and none is configured; {fix}.", 401)

    async def status(self, target: Target, override: EnvOverride | None, registration: Registration) -> LettaStatus:
        """letta_status for one endpoint: health, the authenticated agent count, the MCP servers
        registered in Letta; within the connection's timeout, every failure a status."""
        import anyio

        result = LettaStatus(url=public_url(target.url), source=target.source, server_id=target.server_id,
                             override=override, status="ok", message="", reachable=False)
        progress = _Progress()
        failure: Failure | None = None
        with anyio.move_on_after(target.timeout) as scope:
            try:
                await self._probe(target, result, progress, registration)
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
            result.message = await self._summary(result, registration)
        result.steps = progress.steps
        return result

    async def _probe(self, target: Target, result: LettaStatus, progress: _Progress,
                     registration: Registration) -> None:
        async with self.client(target) as client:
            # 1. health (exempt from the password in Letta)
            started = time.perf_counter()
            response = await self.send(client.get("/v1/health/"), target)
            result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
            result.reachable = True
            if response.status_code != 200:
                raise http_failure(response, "/v1/health/", target)
            health = json_of(response, "/v1/health/")
            if not isinstance(health, dict):
                raise Failure("bad-response", "GET /v1/health/ did not answer a JSON object; is this a Letta server?", 200)
            result.version = str(health["version"]) if health.get("version") is not None else None
            result.health = str(health["status"]) if health.get("status") is not None else None
            progress.steps.append(ProbeStep(step="health", request="GET /v1/health/", outcome="ok", http_status=200,
                                            detail=f"version {result.version}, status {result.health}"))

            # 2. authenticated: the agent count
            progress.step, progress.request = "agents", "GET /v1/agents/count"
            response, header = await self.send(self.authed_get(client, target, "/v1/agents/count"), target)
            if response.status_code == 401:
                raise self.auth_failure(target, "/v1/agents/count")
            if response.status_code != 200:
                raise http_failure(response, "/v1/agents/count", target)
            count = json_of(response, "/v1/agents/count")
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
                response, _ = await self.send(self.authed_get(client, target, path), target)
                if response.status_code == 404:
                    progress.steps.append(ProbeStep(step="mcp-servers", request=f"GET {path}", outcome="not-found",
                                                    http_status=404, detail="not served by this Letta version"))
                    continue
                if response.status_code == 401:
                    raise self.auth_failure(target, path)
                if response.status_code != 200:
                    raise http_failure(response, path, target)
                servers = await self._mcp_servers(json_of(response, path), registration)
                if servers is None:
                    raise Failure("bad-response", f"GET {path} did not answer a list of MCP servers.", 200)
                result.mcp_servers = servers
                result.registered_as = [s.name for s in servers if s.state == "usable"]
                result.registered = bool(result.registered_as)
                await registration.letta_is_here()  # for the summary's hint; resolved here, within the timeout
                progress.steps.append(ProbeStep(step="mcp-servers", request=f"GET {path}", outcome="ok",
                                                http_status=200, detail=f"{len(servers)} MCP servers"))
                break

    @staticmethod
    async def send(awaitable: Any, target: Target) -> Any:
        import httpx

        try:
            return await awaitable
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            raise classify_network_error(exc, target) from None

    @staticmethod
    async def _summary(result: LettaStatus, registration: Registration) -> str:
        parts = [f"Letta {result.version or '(version unknown)'} answered in {result.latency_ms} ms",
                 f"auth {result.auth}" + (f" ({result.auth_header})" if result.auth_header else ""),
                 f"{result.agent_count} agents"]
        if result.registered is None:
            parts.append("its MCP server list is not available, so registration is unknown")
        elif result.registered:
            parts.append(f"this registry is registered in Letta as {', '.join(result.registered_as)}")
        else:
            near = [s for s in result.mcp_servers or [] if s.state in ("unreachable", "no-token", "wrong-token")]
            url = registration.register_url(await registration.letta_is_here())
            parts.append(
                "this registry is NOT registered in Letta as a usable MCP server"
                + "".join(f"; {s.name!r} points here but is {s.state} ({s.reason})" for s in near[:3])
                + f"; register {url} (Streamable HTTP; {registration.own.source}) with "
                "'Authorization: Bearer <a token of a user of role user>' (README, Letta)"
            )
        if result.source == "environment":
            parts.append("values from the environment override")
        return "; ".join(parts) + "."

    @staticmethod
    async def _mcp_servers(payload: Any, registration: Registration) -> list[LettaMcpServer] | None:
        """Letta's MCP server list (a list of configs, 0.13+; {name: config}, older), each classified."""
        entries: list[tuple[str | None, Any]]
        items = items_of(payload, "servers", "data", "items", "mcp_servers")
        if items is not None:
            entries = [(None, item) for item in items]
        elif isinstance(payload, dict):
            entries = list(payload.items())
        else:
            return None
        servers = []
        for key, config in entries[:MAX_MCP_SERVERS]:
            if not isinstance(config, dict):
                continue
            name = str(config.get("server_name") or config.get("name") or key or "(unnamed)")
            servers.append(await registration.classify(name, config))
        return servers
