"""Trust under attack, over HTTP: abandoned sessions, slow clients, wildcard binds, bad tokens.

Every test drives a real `sanctum-mcp serve --transport http` subprocess on a free port, through
raw sockets, httpx and the SDK's client. Nothing is sent to any address but loopback: the Host
header names other machines, the connection always goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import REPO, HttpServer, call, server_env, server_log, start_http_server, stop

from sanctum_mcp.domain.registry import Registry

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def seed(db_path) -> dict[str, str]:
    """The admin operator, users alice and bob and viewer vic, each with a token."""
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        for username, role in (("alice", "user"), ("bob", "user"), ("vic", "viewer")):
            await registry.users.create(op, username=username, role=role, email=None, permissions=None)
        return {name: (await registry.users.create_token(op, name, "test")).token
                for name in ("operator", "alice", "bob", "vic")}
    finally:
        await registry.close()


@contextmanager
def serving(db_path, *args: str, **kwargs) -> Iterator[HttpServer]:
    server = start_http_server(db_path, *args, **kwargs)
    try:
        yield server
    finally:
        stop(server.process)
        server.log.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_session(server: HttpServer, token: str) -> httpx.Response:
    """A legacy-era initialize without a session id: opens a Streamable HTTP session (never closed)."""
    return httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | bearer(token), timeout=30)


def in_session(server: HttpServer, token: str, session_id: str) -> int:
    """The status a ping in the given session gets: 200 while it lives, 404 once it is closed."""
    headers = MCP_HEADERS | bearer(token) | {"mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}
    return httpx.post(server.mcp_url, json=PING, headers=headers, timeout=30).status_code


async def admin_can_work(server: HttpServer, token: str) -> None:
    async with httpx2.AsyncClient(headers=bearer(token), timeout=30) as http:
        async with Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy") as client:
            await call(client, "create_agent", {"name": f"Agent{secrets.token_hex(3)}"})
            assert (await call(client, "list_users"))["users"]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def read_until_closed(sock: socket.socket, limit: float = 30.0) -> bytes:
    """Everything the server sends until it closes the connection; fails (socket.timeout) if it
    keeps the connection open for `limit` seconds."""
    sock.settimeout(limit)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


# --- 7. abandoned sessions ---------------------------------------------------------------------------


async def test_per_user_session_cap_closes_that_users_oldest_idle_session(db_path):
    """One viewer opens more sessions than a user may hold and never closes them: their oldest
    idle sessions are closed (404 from then on), the newest stay usable, an admin still works."""
    tokens = await seed(db_path)
    with serving(db_path, SANCTUM_MCP_MAX_SESSIONS_PER_USER="3") as server:
        opened = []
        for _ in range(6):
            response = open_session(server, tokens["vic"])
            assert response.status_code == 200, response.text
            opened.append(response.headers["mcp-session-id"])
        statuses = [in_session(server, tokens["vic"], sid) for sid in opened]
        assert statuses == [404, 404, 404, 200, 200, 200], statuses
        await admin_can_work(server, tokens["operator"])


async def test_a_user_whose_sessions_are_all_busy_gets_429_with_retry_after(db_path):
    """When every session of the user has a request in flight (here: an open GET stream), none is
    closed for a new one: the new one is refused, with a reason and Retry-After."""
    tokens = await seed(db_path)
    with serving(db_path, SANCTUM_MCP_MAX_SESSIONS_PER_USER="2") as server:
        sids = [open_session(server, tokens["vic"]).headers["mcp-session-id"] for _ in range(2)]
        async with httpx.AsyncClient(timeout=30) as http, AsyncExitStack() as streams:
            for sid in sids:
                headers = bearer(tokens["vic"]) | {"Accept": "text/event-stream", "mcp-session-id": sid,
                                                   "mcp-protocol-version": "2025-06-18"}
                response = await streams.enter_async_context(http.stream("GET", server.mcp_url, headers=headers))
                assert response.status_code == 200
            refused = await http.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | bearer(tokens["vic"]))
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
            assert "vic" in refused.json()["error"]["message"] and "2" in refused.json()["error"]["message"]
            other = await http.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | bearer(tokens["alice"]))
            assert other.status_code == 200  # another user is not affected
        for sid in sids:  # the busy sessions were not closed
            assert in_session(server, tokens["vic"], sid) == 200


async def test_legacy_sse_streams_per_user_are_capped(db_path):
    """Each SSE stream is an open connection that is never idle: beyond the per-user number the
    next is refused (429, Retry-After) until one closes; other users are not affected."""
    tokens = await seed(db_path)
    with serving(db_path, SANCTUM_MCP_MAX_SESSIONS_PER_USER="2") as server:
        readers = []  # a line iterator that is dropped would close its stream when collected
        async with httpx.AsyncClient(timeout=30) as http, AsyncExitStack() as streams:
            async def open_stream(user: str) -> httpx.Response:
                response = await streams.enter_async_context(
                    http.stream("GET", server.sse_url, headers=bearer(tokens[user]) | {"Accept": "text/event-stream"}))
                if response.status_code == 200:  # the endpoint event: the stream is really open
                    readers.append(lines := response.aiter_lines())
                    async for line in lines:
                        if line.startswith("data:"):
                            break
                return response

            first = await open_stream("vic")
            assert (await open_stream("vic")).status_code == 200
            refused = await open_stream("vic")
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert "SSE" in json.loads(await refused.aread())["error"]["message"]
            assert (await open_stream("alice")).status_code == 200
            await first.aclose()
            deadline = time.monotonic() + 30
            while (await open_stream("vic")).status_code != 200:  # once the server has seen it close
                assert time.monotonic() < deadline, "a closed SSE stream still counted after 30 s"
                await anyio.sleep(0.2)


async def test_global_session_cap_refuses_non_admins_but_never_an_admin(db_path):
    """At the global cap a user without sessions of their own is refused (503, Retry-After), a user
    with an idle one gives it up for the new one, and an admin is always let in."""
    tokens = await seed(db_path)
    with serving(db_path, SANCTUM_MCP_MAX_SESSIONS="4", SANCTUM_MCP_MAX_SESSIONS_PER_USER="3") as server:
        opened = {}
        for user in ("alice", "alice", "alice", "vic"):
            response = open_session(server, tokens[user])
            assert response.status_code == 200
            opened.setdefault(user, []).append(response.headers["mcp-session-id"])
        refused = open_session(server, tokens["bob"])
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert "4" in refused.json()["error"]["message"]
        assert open_session(server, tokens["vic"]).status_code == 200
        assert in_session(server, tokens["vic"], opened["vic"][0]) == 404
        assert [in_session(server, tokens["alice"], sid) for sid in opened["alice"]] == [200, 200, 200]
        for _ in range(5):  # beyond the global cap, up to (and past) the admin's own cap
            assert open_session(server, tokens["operator"]).status_code == 200
        await admin_can_work(server, tokens["operator"])


async def test_idle_sessions_are_reaped_after_the_configured_minutes(db_path):
    tokens = await seed(db_path)
    with serving(db_path, SANCTUM_MCP_SESSION_IDLE_MINUTES="0.05") as server:  # 3 seconds
        sid = open_session(server, tokens["vic"]).headers["mcp-session-id"]
        # Touching the session would restart its idle clock: watch the server's log instead.
        deadline = time.monotonic() + 90
        while f"Session {sid} idle timeout" not in server_log(server):
            assert time.monotonic() < deadline, "the idle session was not reaped within 90 s"
            time.sleep(0.2)
        assert in_session(server, tokens["vic"], sid) == 404


def test_session_options_are_checked_at_start(db_path):
    for args, env, expected in (
        (["--max-sessions-per-user", "0"], {}, "--max-sessions-per-user"),
        (["--session-idle-minutes", "-1"], {}, "--session-idle-minutes"),
        ([], {"SANCTUM_MCP_MAX_SESSIONS": "many"}, "SANCTUM_MCP_MAX_SESSIONS"),
        (["--max-connections", "0"], {}, "--max-connections"),
        (["--header-timeout", "nan"], {}, "--header-timeout"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--port", "1", *args],
            env=server_env(db_path, **env), cwd=str(REPO.parent), capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, (args, env)
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not db_path.exists()  # refused before touching anything


@pytest.mark.slow
async def test_a_flood_of_sessions_from_one_viewer_leaves_memory_bounded_and_the_admin_in(db_path):
    """The attack as reported: one viewer token opens 10,000 sessions and abandons them. With the
    defaults, the admin still initializes and calls tools, and the server's memory stays bounded."""
    tokens = await seed(db_path)
    with serving(db_path) as server:
        before = rss_kib(server.process.pid)
        headers = MCP_HEADERS | bearer(tokens["vic"])
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=8)) as http:
            async def flood(count: int) -> None:
                for _ in range(count):
                    response = await http.post(server.mcp_url, json=INIT, headers=headers)
                    assert response.status_code == 200, response.text

            async with anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(flood, 1250)
        after = rss_kib(server.process.pid)
        await admin_can_work(server, tokens["operator"])
        assert after - before < 150 * 1024, f"RSS grew from {before} KiB to {after} KiB"


# --- 8. slow clients ----------------------------------------------------------------------------------


def slow_sockets(server: HttpServer, count: int, payload: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        if payload:
            sock.sendall(payload)
        sockets.append(sock)
    return sockets


async def test_slow_request_heads_are_cut_off_and_other_clients_are_still_served(db_path):
    with serving(db_path, "--trust-loopback", SANCTUM_MCP_HEADER_TIMEOUT="2") as server, ExitStack() as held:
        sockets = slow_sockets(server, 100, b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
        for sock in sockets:
            held.callback(sock.close)
        async with Client(server.mcp_url) as client:  # while they hang, others are served
            await call(client, "list_agents")
        for sock in sockets:
            answer = read_until_closed(sock)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]


async def test_slow_request_bodies_are_cut_off(db_path):
    with serving(db_path, "--trust-loopback", SANCTUM_MCP_BODY_TIMEOUT="2") as server, ExitStack() as held:
        head = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"")
        sockets = slow_sockets(server, 20, head)
        for sock in sockets:
            held.callback(sock.close)
        for sock in sockets:
            answer = read_until_closed(sock)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        async with Client(server.mcp_url) as client:
            await call(client, "list_agents")


async def test_connections_beyond_the_limit_are_refused_at_once(db_path):
    with serving(db_path, "--trust-loopback", SANCTUM_MCP_MAX_CONNECTIONS="10",
                 SANCTUM_MCP_HEADER_TIMEOUT="300") as server, ExitStack() as held:
        idle = slow_sockets(server, 10, b"")
        for sock in idle:
            held.callback(sock.close)
        extra = slow_sockets(server, 20, b"")
        for sock in extra:
            held.callback(sock.close)
            answer = read_until_closed(sock)
            assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
            assert b"retry-after" in answer.lower()
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 30
        while True:  # the server notices the closed ones; then a client gets in again
            try:
                if httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server stayed full after its idle clients left"
            time.sleep(0.2)
        async with Client(server.mcp_url) as client:
            await call(client, "list_agents")


def _low_open_files_limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


async def test_slow_clients_never_exhaust_the_open_files_limit(db_path):
    """More hanging connections than the server may open files: it keeps its descriptors below its
    limit, cuts the slow ones off, and answers a normal client afterwards, while every attacking
    socket is still open on the client's side."""
    with serving(db_path, "--trust-loopback", preexec_fn=_low_open_files_limit,
                 SANCTUM_MCP_HEADER_TIMEOUT="2") as server, ExitStack() as held:
        sockets = slow_sockets(server, 400, b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for sock in sockets:
            held.callback(sock.close)
        assert open_fds(server.process.pid) < 256
        for sock in sockets:
            read_until_closed(sock)
        assert server.process.poll() is None
        async with Client(server.mcp_url) as client:
            await call(client, "list_agents")
        assert open_fds(server.process.pid) < 256


# --- 13. wildcard binds -------------------------------------------------------------------------------


def machine_names() -> list[str]:
    """This machine's names and addresses as Host header values, found independently of the server
    (`hostname -I` lists the interface addresses)."""
    names = {socket.gethostname(), socket.getfqdn()}
    if shutil.which("hostname"):
        done = subprocess.run(["hostname", "-I"], capture_output=True, text=True)
        for address in done.stdout.split():
            if not address.lower().startswith("fe80"):
                names.add(f"[{address}]" if ":" in address else address)
    return sorted(names)


def host_status(server: HttpServer, host: str, token: str, origin: str | None = None) -> int:
    headers = MCP_HEADERS | bearer(token) | {"Host": host}
    if origin:
        headers["Origin"] = origin
    return httpx.post(f"http://127.0.0.1:{server.port}/mcp", json=INIT, headers=headers, timeout=30).status_code


async def test_a_wildcard_bind_answers_this_machines_names_and_addresses(db_path):
    tokens = await seed(db_path)
    with serving(db_path, host="0.0.0.0") as server:
        port = server.port
        for name in [*machine_names(), "localhost", "127.0.0.1"]:
            assert host_status(server, f"{name}:{port}", tokens["vic"]) == 200, name
            assert host_status(server, f"{name}:{port}", tokens["vic"], origin=f"http://{name}:{port}") == 200, name
        for name in ("evil.example", "203.0.113.50", f"{socket.gethostname()}.evil.example"):
            assert host_status(server, f"{name}:{port}", tokens["vic"]) == 421, name
        assert host_status(server, f"127.0.0.1:{port}", tokens["vic"], origin="http://evil.example") == 403


async def test_allowed_hosts_name_a_proxy_in_front(db_path):
    tokens = await seed(db_path)
    port_free = {"SANCTUM_MCP_ALLOWED_HOSTS": "mcp.example.org, proxy.internal:8443"}
    with serving(db_path, host="0.0.0.0", **port_free) as server:
        for host, expected in (("mcp.example.org", 200), ("mcp.example.org:443", 200), ("MCP.example.org", 200),
                               ("proxy.internal:8443", 200), ("proxy.internal:9999", 421),
                               ("proxy.internal", 421), ("evil.example", 421), ("example.org", 421)):
            assert host_status(server, host, tokens["vic"]) == expected, host
    with serving(db_path, "--allowed-host", "mcp.example.org", "--allowed-host", "other.example") as server:
        for host, expected in (("mcp.example.org", 200), ("other.example:80", 200), ("evil.example", 421),
                               (f"127.0.0.1:{server.port}", 200)):
            assert host_status(server, host, tokens["vic"]) == expected, host


def test_bad_allowed_host_values_are_refused_at_start(db_path):
    for value in ("http://mcp.example.org", "mcp.example.org/path", "*", "two words", "host:port", "", "fd00::2"):
        done = subprocess.run(
            [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--port", "1",
             "--allowed-host", value],
            env=server_env(db_path), cwd=str(REPO.parent), capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "--allowed-host must be host names or addresses" in done.stderr, \
            (value, done.stderr)
        assert "Traceback" not in done.stderr
    assert not db_path.exists()


# --- 14. bad bearer tokens ----------------------------------------------------------------------------


async def test_missing_and_rejected_tokens_get_distinct_401s_and_one_warning_per_reason(db_path):
    await seed(db_path)
    wrong = "sanctum_" + secrets.token_urlsafe(32)
    with serving(db_path) as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            for method, path in (("POST", "/mcp"), ("GET", "/sse"), ("POST", "/messages/?session_id=0")):
                for auth, error in ((None, "missing_token"), ("Basic YTpi", "missing_token"),
                                    (f"Bearer {wrong}", "invalid_token"), (f"bearer {wrong}x", "invalid_token")):
                    headers = MCP_HEADERS | ({"Authorization": auth} if auth else {})
                    response = await http.request(method, path, headers=headers, json=INIT)
                    assert response.status_code == 401, (method, path, auth)
                    assert response.headers["www-authenticate"].startswith("Bearer")
                    body = response.json()
                    assert body["error"] == error, (method, path, auth, body)
                    assert "sanctum-mcp user token" in body["error_description"]
                    assert wrong not in response.text
        deadline = time.monotonic() + 30
        while "invalid_token" not in server_log(server) or "missing_token" not in server_log(server):
            assert time.monotonic() < deadline, server_log(server)
            time.sleep(0.1)
        log = server_log(server)
    warnings = [line for line in log.splitlines() if " WARNING " in line and "401" in line]
    assert len([line for line in warnings if "invalid_token" in line]) == 1, warnings
    assert len([line for line in warnings if "missing_token" in line]) == 1, warnings
    assert all("127.0.0.1" in line for line in warnings), warnings
    secret_part = wrong[len("sanctum_"):]
    assert not any(secret_part[i:i + 6] in log for i in range(len(secret_part) - 5)), "a piece of the token was logged"


def test_auth_warnings_are_rate_limited_with_a_count_of_the_suppressed():
    from sanctum_mcp.server.lograte import RateLimitedLog

    now = [1000.0]
    seen: list[str] = []
    limited = RateLimitedLog(lambda message, *args: seen.append(message % args), interval=60.0,
                             clock=lambda: now[0], max_keys=3)
    for _ in range(5):
        limited.emit(("10.0.0.1", "invalid_token"), "401 %s from %s", "invalid_token", "10.0.0.1")
    limited.emit(("10.0.0.1", "missing_token"), "401 %s from %s", "missing_token", "10.0.0.1")
    assert seen == ["401 invalid_token from 10.0.0.1", "401 missing_token from 10.0.0.1"]
    now[0] += 61
    limited.emit(("10.0.0.1", "invalid_token"), "401 %s from %s", "invalid_token", "10.0.0.1")
    assert seen[-1] == "401 invalid_token from 10.0.0.1 (and 4 more like it in the last 61 s)"
    for n in range(10):  # many addresses: bounded memory, and still nothing lost silently
        limited.emit((f"10.0.1.{n}", "invalid_token"), "401 from %s", f"10.0.1.{n}")
    assert len(limited.keys) <= 3 + 1  # plus the one entry the addresses that did not fit share
    assert re.search(r"401 from 10\.0\.1\.\d", seen[-1])


async def test_warnings_any_client_can_trigger_are_rate_limited(db_path):
    """A refused Host header (the SDK's warning) and a malformed request (uvicorn's) are logged
    once per kind and minute, not once per request: each WARNING also becomes a row in `logs`."""
    with serving(db_path, "--trust-loopback") as server:
        for _ in range(30):
            response = httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | {"Host": "evil.example"})
            assert response.status_code == 421
        for _ in range(30):
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                assert read_until_closed(sock).startswith(b"HTTP/1.1 400")
        async with Client(server.mcp_url) as client:
            await call(client, "list_agents")
        log = server_log(server)
    assert log.count("Invalid Host header: evil.example") == 1, log
    assert log.count("Invalid HTTP request received") == 1, log


async def test_session_caps_cover_the_per_url_endpoints(db_path):
    """/mcp/x/NAMES endpoints (toolset selection) open sessions of the same manager: they count
    against the same per-user and global caps as /mcp, so a second URL is no way around them."""
    tokens = await seed(db_path)
    with serving(db_path, SANCTUM_MCP_MAX_SESSIONS="2", SANCTUM_MCP_MAX_SESSIONS_PER_USER="1") as server:
        def open_at(path: str, user: str) -> httpx.Response:
            return httpx.post(f"{server.mcp_url}{path}", json=INIT, headers=MCP_HEADERS | bearer(tokens[user]),
                              timeout=30)

        first = open_at("/x/assistant", "vic")
        assert first.status_code == 200, first.text
        assert open_at("/x/readonly", "vic").status_code == 200
        # vic's first session was given up for the second: one per user, whichever URL opened it.
        assert in_session(server, tokens["vic"], first.headers["mcp-session-id"]) == 404
        assert open_at("/x/logs", "alice").status_code == 200
        refused = open_at("/x/config", "bob")
        assert refused.status_code == 503, refused.text
