"""Letta connections, letta_status against a real fake Letta in each state, and the agent sync."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from collections.abc import Iterator

import pytest
from fake_letta import FakeLetta, closed_port
from support import call, call_error, snapshot

PW = "letta-secret-pw-1234"


@pytest.fixture
def letta() -> Iterator[FakeLetta]:
    with FakeLetta() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_letta_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LETTA_SERVER_URL", "LETTA_SERVER_PASSWORD", "LETTA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


async def use(client, port: int, **extra) -> dict:
    """Add a connection to 127.0.0.1:port and make it the active one."""
    args = {"address": "127.0.0.1", "port": port, "activate": True, "timeout": 5} | extra
    return await call(client, "add_letta_server", args)


def logs(db_path) -> list[tuple[str, dict]]:
    with sqlite3.connect(db_path) as conn:
        return [(a, json.loads(d)) for a, d in conn.execute("SELECT action, details FROM logs ORDER BY id")]


# --- connections ------------------------------------------------------------------------------


async def test_seeded_connection_is_listed(client):
    listing = await call(client, "list_letta_servers")
    [seed] = listing["servers"]
    assert (seed["address"], seed["port"], seed["scheme"], seed["is_active"]) == ("localhost", 8080, "http", True)
    assert listing["active_id"] == seed["id"] and listing.get("override") is None


async def test_add_encrypts_and_masks_the_password(client, db_path):
    added = await call(client, "add_letta_server", {"address": "letta.lan", "port": 8283, "password": PW,
                                                    "token": "tok-abcdefghijklmnop"})
    assert added["password"] == "********" + PW[-4:] and added["token"] == "********mnop"
    assert added["is_active"] is False and added["url"] == "http://letta.lan:8283"
    with sqlite3.connect(db_path) as conn:
        stored = conn.execute("SELECT server_password, server_token FROM letta_server_config WHERE id = ?",
                              (added["id"],)).fetchone()
    assert all(value.startswith("fernet:") for value in stored)
    raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name))
    assert PW.encode() not in raw and b"tok-abcdefghijklmnop" not in raw
    listing = json.dumps(await call(client, "list_letta_servers"))
    assert PW not in listing and "********" in listing
    assert PW not in json.dumps(logs(db_path))


async def test_bad_connections_are_refused_and_change_nothing(client, db_path):
    await call(client, "add_letta_server", {"address": "letta.lan", "port": 8283})
    before = snapshot(db_path)
    assert "already points at" in await call_error(client, "add_letta_server", {"address": "LETTA.lan", "port": 8283})
    assert "scheme=" in await call_error(client, "add_letta_server", {"address": "http://letta.lan", "port": 8283})
    assert "port" in await call_error(client, "add_letta_server", {"address": "letta.lan", "port": 70000})
    assert "scheme" in await call_error(client, "add_letta_server", {"address": "x", "port": 1, "scheme": "ftp"})
    assert "control characters" in await call_error(client, "add_letta_server",
                                                    {"address": "x", "port": 1, "password": "a\nb"})
    assert "clear_password" in await call_error(client, "update_letta_server",
                                                {"server": 2, "password": "x", "clear_password": True})
    assert "at least one change" in await call_error(client, "update_letta_server", {"server": 2})
    assert "list_letta_servers" in await call_error(client, "update_letta_server", {"server": 99, "port": 1})
    assert snapshot(db_path) == before


async def test_activate_switches_in_one_step_and_the_active_one_cannot_be_removed(client, db_path):
    second = await call(client, "add_letta_server", {"address": "10.0.0.2", "port": 8284})
    activated = await call(client, "activate_letta_server", {"server": second["id"]})
    assert activated["is_active"] is True
    listing = await call(client, "list_letta_servers")
    assert [s["id"] for s in listing["servers"] if s["is_active"]] == [second["id"]] == [listing["active_id"]]
    before = snapshot(db_path)
    error = await call_error(client, "remove_letta_server", {"server": second["id"]})
    assert "active" in error and "activate_letta_server" in error
    assert snapshot(db_path) == before
    removed = await call(client, "remove_letta_server", {"server": 1})
    assert removed["removed"]["address"] == "localhost"
    assert [a for a, _ in logs(db_path)] == ["letta.server.add", "letta.server.activate", "letta.server.remove"]


async def test_update_and_clear_secrets(client):
    added = await call(client, "add_letta_server", {"address": "::1", "port": 8283, "password": PW})
    assert added["url"] == "http://[::1]:8283"
    updated = await call(client, "update_letta_server", {"server": added["id"], "clear_password": True,
                                                         "scheme": "https", "timeout": 7})
    assert updated["password"] is None and updated["scheme"] == "https" and updated["timeout_seconds"] == 7


# --- letta_status -------------------------------------------------------------------------------


async def test_healthy_letta(client, letta, registry, db_path):
    letta.agents = [{"id": "agent-1", "name": "Athena"}, {"id": "agent-2", "name": "Monday"}]
    letta.mcp_servers = [{"server_name": "weather", "type": "sse", "server_url": "http://10.0.0.9:7000/sse"}]
    server = await use(client, letta.port)
    status = await call(client, "letta_status")
    assert status["status"] == "ok" and status["reachable"] is True
    assert status["version"] == "0.11.7" and status["health"] == "ok"
    assert status["latency_ms"] is not None and status["latency_ms"] >= 0
    assert status["auth"] == "not-needed" and status["agent_count"] == 2
    assert status["registered"] is False and status["mcp_servers"][0]["name"] == "weather"
    assert "NOT registered" in status["message"]
    assert status["source"] == "database" and status["server_id"] == server["id"]
    listing = await call(client, "list_letta_servers")
    assert next(s for s in listing["servers"] if s["id"] == server["id"])["last_connected"]


# --- is this registry registered in Letta? -------------------------------------------------------
#
# An entry counts only when it can reach this registry: this machine, this port, a path served here,
# and a token that is an active sanctum token (or a loopback entry while loopback is trusted).

OWN_PORT = 9123
TOKEN_SLOT = "<token>"


def entry_with(entry: dict, token: str) -> dict:
    return json.loads(json.dumps(entry).replace(TOKEN_SLOT, token))


ENTRIES = [  # (entry, state, words of its reason)
    ({"server_name": "by-name", "type": "streamable_http", "server_url": "http://somewhere.invalid:1/x"},
     "other-host", "not this machine"),
    ({"server_name": "current", "type": "streamable_http", "server_url": f"http://127.0.0.1:{OWN_PORT}/mcp/x/assistant",
      "custom_headers": {"Authorization": f"Bearer {TOKEN_SLOT}"}}, "usable", "active sanctum token"),
    ({"server_name": "letta-011", "type": "streamable_http", "server_url": f"http://localhost:{OWN_PORT}/mcp",
      "auth_header": "Authorization", "auth_token": f"Bearer {TOKEN_SLOT}"}, "usable", "active sanctum token"),
    ({"server_name": "sse", "type": "sse", "server_url": f"http://127.0.0.1:{OWN_PORT}/sse/",
      "token": TOKEN_SLOT}, "usable", "active sanctum token"),
    ({"server_name": "wrong", "type": "streamable_http", "server_url": f"http://127.0.0.1:{OWN_PORT}/mcp",
      "custom_headers": {"authorization": "Bearer sanctum_not-a-real-token-000000000000000000000"}},
     "wrong-token", "sanctum-mcp user token"),
    ({"server_name": "bare", "type": "streamable_http", "server_url": f"http://127.0.0.1:{OWN_PORT}/mcp"},
     "no-token", "no token"),
    ({"server_name": "other-port", "type": "streamable_http", "server_url": f"http://127.0.0.1:{OWN_PORT + 1}/mcp",
      "custom_headers": {"Authorization": f"Bearer {TOKEN_SLOT}"}}, "other-host", f"port {OWN_PORT + 1}"),
    ({"server_name": "elsewhere", "type": "streamable_http", "server_url": f"http://192.0.2.7:{OWN_PORT}/mcp",
      "custom_headers": {"Authorization": f"Bearer {TOKEN_SLOT}"}}, "other-host", "not this machine"),
    ({"server_name": "bad-path", "type": "streamable_http", "server_url": f"http://127.0.0.1:{OWN_PORT}/api",
      "custom_headers": {"Authorization": f"Bearer {TOKEN_SLOT}"}}, "unreachable", "/api"),
    ({"server_name": "bad-names", "type": "streamable_http",
      "server_url": f"http://127.0.0.1:{OWN_PORT}/mcp/x/nonsense",
      "custom_headers": {"Authorization": f"Bearer {TOKEN_SLOT}"}}, "unreachable", "nonsense"),
    ({"server_name": "sse-at-mcp", "type": "sse", "server_url": f"http://127.0.0.1:{OWN_PORT}/mcp",
      "custom_headers": {"Authorization": f"Bearer {TOKEN_SLOT}"}}, "unreachable", "/sse"),
    ({"server_name": "docker", "type": "streamable_http",
      "server_url": f"http://host.docker.internal:{OWN_PORT}/mcp",
      "custom_headers": {"Authorization": f"Bearer {TOKEN_SLOT}"}}, "unreachable", "127.0.0.1"),
    ({"server_name": "local", "type": "stdio", "command": "/opt/venv/bin/sanctum-mcp", "args": ["serve"]},
     "stdio", "stdio"),
]


async def test_registered_only_for_an_entry_that_reaches_this_registry(modern_client, letta, registry):
    from sanctum_mcp.domain.letta.registration import OwnEndpoint

    registry.letta.serving = OwnEndpoint(host="127.0.0.1", port=OWN_PORT, trust_loopback=False,
                                         source="this server")
    await call(modern_client, "create_user", {"username": "letta-bot", "role": "user"})
    token = (await call(modern_client, "create_api_token", {"user": "letta-bot"}))["token"]
    letta.mcp_servers = [entry_with(entry, token) for entry, _, _ in ENTRIES]
    await use(modern_client, letta.port)
    status = await call(modern_client, "letta_status")
    found = {s["name"]: s for s in status["mcp_servers"]}
    for entry, state, words in ENTRIES:
        got = found[entry["server_name"]]
        assert got["state"] == state, got
        assert words in got["reason"], got
    assert status["registered"] is True and status["registered_as"] == ["current", "letta-011", "sse"]
    assert token not in json.dumps(status)

    # Only unusable entries left: not registered, and the hint names the real URL to register.
    letta.mcp_servers = [entry_with(entry, token) for entry, state, _ in ENTRIES if state != "usable"]
    status = await call(modern_client, "letta_status")
    assert status["registered"] is False and status["registered_as"] == []
    assert f"http://127.0.0.1:{OWN_PORT}/mcp/x/assistant" in status["message"]
    assert "wrong" in status["message"] and "wrong-token" in status["message"]  # the entries that point here

    # A revoked token stops counting.
    letta.mcp_servers = [entry_with(ENTRIES[1][0], token)]
    assert (await call(modern_client, "letta_status"))["registered"] is True
    await call(modern_client, "revoke_api_token", {"token_id": 1})
    status = await call(modern_client, "letta_status")
    assert status["registered"] is False and status["mcp_servers"][0]["state"] == "wrong-token"


async def test_a_loopback_entry_without_token_counts_only_while_loopback_is_trusted(modern_client, letta, registry):
    from sanctum_mcp.domain.letta.registration import OwnEndpoint

    letta.mcp_servers = [
        {"server_name": "bare", "type": "streamable_http", "server_url": f"http://localhost:{OWN_PORT}/mcp"},
        {"server_name": "wrong", "type": "streamable_http", "server_url": f"http://127.0.0.1:{OWN_PORT}/mcp",
         "custom_headers": {"Authorization": "Bearer sanctum_wrong"}},
    ]
    await use(modern_client, letta.port)
    registry.letta.serving = OwnEndpoint(host="127.0.0.1", port=OWN_PORT, trust_loopback=True, source="this server")
    status = await call(modern_client, "letta_status")
    states = {s["name"]: s["state"] for s in status["mcp_servers"]}
    assert states == {"bare": "usable", "wrong": "wrong-token"}  # a wrong token is never rescued
    assert "--trust-loopback" in status["mcp_servers"][0]["reason"]
    registry.letta.serving = OwnEndpoint(host="127.0.0.1", port=OWN_PORT, trust_loopback=False, source="this server")
    status = await call(modern_client, "letta_status")
    assert status["registered"] is False and status["mcp_servers"][0]["state"] == "no-token"


def test_letta_status_over_http_knows_its_own_address_and_tokens(db_path, letta):
    """A real `serve --transport http`: the entry at its own URL with a valid token is usable; one at
    another port is not, whatever its name or token."""
    import anyio
    from support import free_port, start_http_server, stop
    from test_auth import http_client

    from sanctum_mcp.domain.registry import Registry

    async def prepare() -> str:
        registry = await Registry.open(db_path)
        try:
            operator = registry.operator
            await registry.users.create(operator, username="letta-bot", role="user", email=None, permissions=None)
            await registry.letta.add(operator, address="127.0.0.1", port=letta.port, scheme="http", password=None,
                                     token=None, timeout=5, activate=True)
            return (await registry.users.create_token(operator, "operator", "test")).token, \
                (await registry.users.create_token(operator, "letta-bot", "letta")).token
        finally:
            await registry.close()

    mine, letta_token = anyio.run(prepare)
    server = start_http_server(db_path)
    try:
        letta.mcp_servers = [
            {"server_name": "sanctum", "type": "streamable_http", "server_url": f"{server.base}/mcp/x/assistant",
             "custom_headers": {"Authorization": f"Bearer {letta_token}"}},
            {"server_name": "stale", "type": "streamable_http", "server_url": f"http://127.0.0.1:{free_port()}/mcp",
             "custom_headers": {"Authorization": f"Bearer {letta_token}"}},
        ]

        async def status() -> dict:
            async with http_client(server.mcp_url, mine) as client:
                return await call(client, "letta_status")

        result = anyio.run(status)
    finally:
        stop(server.process)
        server.log.close()
    states = {s["name"]: s["state"] for s in result["mcp_servers"]}
    assert states == {"sanctum": "usable", "stale": "other-host"}, result["mcp_servers"]
    assert result["registered_as"] == ["sanctum"] and letta_token not in json.dumps(result)


def test_not_registered_hint_over_stdio_uses_the_configured_port(db_path, letta):
    import anyio
    from mcp import Client
    from support import stdio_params

    async def run() -> dict:
        async with Client(stdio_params(db_path, SANCTUM_MCP_PORT="9555")) as client:
            await use(client, letta.port)
            return await call(client, "letta_status")

    status = anyio.run(run)
    assert status["registered"] is False
    assert "http://127.0.0.1:9555/mcp/x/assistant" in status["message"] and "SANCTUM_MCP_PORT" in status["message"]
    assert "<port>" not in status["message"] and "<this host>" not in status["message"]


async def test_old_letta_mcp_path_fallback(modern_client, letta):
    letta.state = "old"
    letta.mcp_servers = [{"server_name": "sanctum-mcp", "type": "sse", "server_url": "http://h.invalid:9000/sse"}]
    await use(modern_client, letta.port)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "ok" and [s["name"] for s in status["mcp_servers"]] == ["sanctum-mcp"]
    assert status["registered"] is False and status["mcp_servers"][0]["state"] == "other-host"  # a name is not enough
    assert [s["outcome"] for s in status["steps"]] == ["ok", "ok", "not-found", "ok"]
    assert status["steps"][-1]["request"] == "GET /v1/tools/mcp/servers"


async def test_password_protected_without_password(modern_client, letta):
    letta.state = "password"
    await use(modern_client, letta.port)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "auth-failed" and status["auth"] == "failed"
    assert status["reachable"] is True and status["version"] == "0.11.7"
    assert "update_letta_server" in status["message"] and "none is configured" in status["message"]


async def test_password_protected_wrong_password(modern_client, letta):
    letta.state = "password"
    await use(modern_client, letta.port, password="wrong-password-000")
    status = await call(modern_client, "letta_status")
    assert status["status"] == "auth-failed" and "Bearer and X-BARE-PASSWORD" in status["message"]
    assert "wrong-password-000" not in json.dumps(status)


async def test_password_protected_right_password_uses_bearer(modern_client, letta):
    letta.state = "password"
    letta.agents = [{"id": "a", "name": "Athena"}]
    await use(modern_client, letta.port, password=PW)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "ok" and status["auth"] == "ok" and status["auth_header"] == "bearer"
    assert status["agent_count"] == 1
    assert PW not in json.dumps(status)


async def test_x_bare_password_fallback(modern_client, letta):
    letta.state = "bare-only"
    await use(modern_client, letta.port, password=PW)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "ok" and status["auth_header"] == "x-bare-password"
    sent = [h for path, h in letta.requests if path == "/v1/agents/count"]
    assert sent[0].get("authorization") == f"Bearer {PW}"
    assert sent[1].get("x-bare-password") == f"password {PW}"


async def test_api_token_is_sent_as_bearer(modern_client, letta):
    letta.state = "password"
    letta.password = "api-token-xyz-123456"
    await use(modern_client, letta.port, token="api-token-xyz-123456")
    status = await call(modern_client, "letta_status")
    assert status["status"] == "ok" and status["auth_header"] == "bearer"


async def test_slow_letta_times_out(modern_client, letta):
    letta.state, letta.delay = "slow", 5.0
    await use(modern_client, letta.port, timeout=1)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "timeout" and status["reachable"] is False
    assert "raise the timeout" in status["message"]


async def test_down_letta_is_connection_refused(modern_client):
    await use(modern_client, closed_port())
    status = await call(modern_client, "letta_status")
    assert status["status"] == "connection-refused" and status["reachable"] is False
    assert "Start the Letta server" in status["message"]


async def test_broken_json(modern_client, letta):
    letta.state = "broken-json"
    await use(modern_client, letta.port)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "bad-response" and status["reachable"] is True
    assert "not JSON" in status["message"] and "text/html" in status["message"]


async def test_server_error(modern_client, letta):
    letta.state = "error"
    await use(modern_client, letta.port)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "server-error" and status["steps"][-1]["http_status"] == 500


async def test_dns_failure(modern_client):
    await call(modern_client, "add_letta_server", {"address": "no-such-host.invalid", "port": 8283,
                                                   "activate": True, "timeout": 5})
    status = await call(modern_client, "letta_status")
    assert status["status"] == "dns-failure" and "does not resolve" in status["message"]


async def test_tls_error(modern_client, letta):
    await use(modern_client, letta.port, scheme="https")
    status = await call(modern_client, "letta_status")
    assert status["status"] == "tls-error" and "scheme='http'" in status["message"]


async def test_redirect_is_not_followed(modern_client, letta):
    with FakeLetta() as elsewhere:
        letta.state = "redirect"
        letta.redirect_to = f"http://127.0.0.1:{elsewhere.port}/v1/health/?token=abc"
        await use(modern_client, letta.port, password=PW)
        status = await call(modern_client, "letta_status")
        assert status["status"] == "redirect" and "token=abc" not in status["message"]
        assert elsewhere.requests == []


async def test_status_of_a_named_connection_and_unknown_id(modern_client, letta):
    server = await call(modern_client, "add_letta_server", {"address": "127.0.0.1", "port": letta.port})
    assert (await call(modern_client, "letta_status", {"server": server["id"]}))["status"] == "ok"
    assert "list_letta_servers" in await call_error(modern_client, "letta_status", {"server": 42})


async def test_no_active_connection(modern_client, db_path):
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE letta_server_config SET is_active = 0")
    status = await call(modern_client, "letta_status")
    assert status["status"] == "not-configured" and "add_letta_server" in status["message"]


async def test_unreadable_secret_is_a_status(modern_client, letta, registry, db_path):
    server = await use(modern_client, letta.port, password=PW)
    with sqlite3.connect(db_path) as conn:  # as if the key file had been replaced
        conn.execute("UPDATE letta_server_config SET server_password = 'fernet:garbage' WHERE id = ?", (server["id"],))
    status = await call(modern_client, "letta_status")
    assert status["status"] == "secret-unreadable" and "key" in status["message"]


# --- the environment override -------------------------------------------------------------------


async def test_environment_override_is_used_alone(modern_client, letta, monkeypatch):
    letta.state = "password"
    monkeypatch.setenv("LETTA_SERVER_URL", f"http://127.0.0.1:{letta.port}")
    monkeypatch.setenv("LETTA_SERVER_PASSWORD", PW)
    status = await call(modern_client, "letta_status")
    assert status["source"] == "environment" and status["server_id"] is None
    assert status["override"]["in_force"] is True and status["status"] == "ok"
    assert set(status["override"]["variables"]) == {"LETTA_SERVER_URL", "LETTA_SERVER_PASSWORD"}
    assert status["override"]["password"] == "********" + PW[-4:] and PW not in json.dumps(status)
    listing = await call(modern_client, "list_letta_servers")
    assert listing["override"]["in_force"] is True


async def test_incomplete_override_is_not_mixed_with_the_database(modern_client, letta, monkeypatch):
    await use(modern_client, letta.port)
    monkeypatch.setenv("LETTA_API_KEY", "some-api-key-123456")
    status = await call(modern_client, "letta_status")
    assert status["status"] == "override-invalid" and "LETTA_SERVER_URL" in status["message"]
    assert letta.requests == []  # the database connection was not used either


# --- sync_letta_agents ----------------------------------------------------------------------------


async def test_sync_adds_links_reports_missing_and_never_deletes(client, letta, db_path):
    await call(client, "create_agent", {"name": "athena"})
    await call(client, "create_agent", {"name": "Timbre", "letta_id": "agent-gone"})
    letta.agents = [
        {"id": "agent-a", "name": "Athena", "description": "config assistant"},
        {"id": "agent-m", "name": "Monday", "description": "planner"},
        {"id": "agent-x", "name": "123"},
        {"id": "agent-y", "name": "MONDAY"},
    ]
    await use(client, letta.port)
    result = await call(client, "sync_letta_agents")
    assert [(a["name"], a["letta_id"]) for a in result["added"]] == [("Monday", "agent-m")]
    assert [(a["name"], a["change"]) for a in result["updated"]] == [("athena", "linked to its Letta id")]
    assert [a["name"] for a in result["missing"]] == ["Timbre"]
    assert {s["letta_id"] for s in result["skipped"]} == {"agent-x", "agent-y"}
    assert result["letta_agents"] == 4
    timbre = await call(client, "get_agent", {"agent": "Timbre"})
    assert timbre["letta_id"] == "agent-gone"
    monday = await call(client, "get_agent", {"agent": "Monday"})
    assert monday["letta_id"] == "agent-m" and monday["description"] == "planner"
    assert [a for a, _ in logs(db_path)][-1] == "letta.sync"

    again = await call(client, "sync_letta_agents")
    assert again["added"] == [] and again["updated"] == [] and sorted(again["unchanged"]) == ["Monday", "athena"]
    letta.agents[1]["name"] = "Monday2"
    renamed = await call(client, "sync_letta_agents")
    assert [(a["name"], a["change"]) for a in renamed["updated"]] == [("Monday2", "renamed from 'Monday'")]


async def test_sync_pages_through_many_agents(modern_client, letta):
    letta.agents = [{"id": f"agent-{i:04d}", "name": f"bot-{i:04d}"} for i in range(250)]
    await use(modern_client, letta.port)
    result = await call(modern_client, "sync_letta_agents")
    assert len(result["added"]) == 250 and result["letta_agents"] == 250
    pages = [h for path, h in letta.requests if path == "/v1/agents/"]
    assert len(pages) == 3


async def test_sync_dry_run_changes_nothing(modern_client, letta, db_path):
    letta.agents = [{"id": "agent-m", "name": "Monday"}]
    await use(modern_client, letta.port)
    before = snapshot(db_path)
    result = await call(modern_client, "sync_letta_agents", {"dry_run": True})
    assert result["dry_run"] is True and [a["name"] for a in result["added"]] == ["Monday"]
    assert snapshot(db_path) == before


async def test_sync_failure_is_an_error_and_changes_nothing(modern_client, letta, db_path):
    letta.state = "password"
    letta.agents = [{"id": "agent-m", "name": "Monday"}]
    await use(modern_client, letta.port)
    before = snapshot(db_path)
    error = await call_error(modern_client, "sync_letta_agents")
    assert "none is configured" in error and "Nothing was changed" in error
    await call(modern_client, "update_letta_server", {"server": 2, "port": closed_port()})
    before = snapshot(db_path)
    error = await call_error(modern_client, "sync_letta_agents")
    assert "connection refused" in error
    assert snapshot(db_path) == before


@pytest.mark.parametrize("url", ["ftp://letta:8283", "http://[bad", "http://letta:99999", "letta:8283"])
async def test_malformed_override_url_is_a_status(modern_client, monkeypatch, url):
    monkeypatch.setenv("LETTA_SERVER_URL", url)
    status = await call(modern_client, "letta_status")
    assert status["status"] == "override-invalid" and "LETTA_SERVER_URL" in status["message"]
    assert (await call(modern_client, "list_letta_servers"))["override"]["complete"] is False


# --- the operator's shell: sanctum-mcp letta env | use ------------------------------------------------
#
# Real `sanctum-mcp` subprocesses and a real POSIX shell that evals what `letta env` prints, as an
# operator's shell would; then the variables are read the way Letta's clients read them.

# What Letta's Python and TypeScript clients do with their environment (letta_client._client.Letta,
# @letta-ai/letta-client, Letta Code): the base URL from LETTA_BASE_URL, `Authorization: Bearer` with
# LETTA_API_KEY. Sanctum's own components (SMCP, this registry's override) read LETTA_SERVER_URL and
# LETTA_SERVER_PASSWORD.
LETTA_CLIENT = """
import json, os, httpx
answer = httpx.get(os.environ["LETTA_BASE_URL"].rstrip("/") + "/v1/agents/count",
                   headers={"Authorization": "Bearer " + os.environ["LETTA_API_KEY"]}, timeout=10)
print(json.dumps({"status": answer.status_code, "body": answer.text}))
"""


def sanctum_cli(db_path, *args: str, stdin: str | None = None):
    import subprocess
    import sys

    from support import REPO, server_env

    return subprocess.run([sys.executable, "-m", "sanctum_mcp", *args], env=server_env(db_path), input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=str(REPO.parent),
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def shell(db_path, script: str, cwd) -> "subprocess.CompletedProcess[str]":
    """`script` run by /bin/sh, where "$SANCTUM" is this checkout's `sanctum-mcp` on db_path."""
    import subprocess
    import sys

    from support import server_env

    env = server_env(db_path, SANCTUM=f"{sys.executable} -m sanctum_mcp", PY=sys.executable)
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=str(cwd), stdin=subprocess.DEVNULL)


def add_by_cli(db_path, port: int, password: str | None = None, token: str | None = None) -> dict:
    args = ["letta", "add", "127.0.0.1", "--port", str(port), "--activate", "--json"]
    stdin = None
    if password is not None:
        args += ["--password", "-"]
        stdin = password + "\n"
    if token is not None:
        args += ["--token", token]
    done = sanctum_cli(db_path, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_letta_env_lets_letta_clients_use_the_stored_connection(db_path, letta, tmp_path):
    letta.state = "password"
    letta.agents = [{"id": "agent-1", "name": "Athena"}]
    added = add_by_cli(db_path, letta.port, password=letta.password)
    done = shell(db_path, 'lines=$($SANCTUM letta env) || exit 9; eval "$lines"\n'
                          '"$PY" -c "$LETTA_CLIENT"\n'
                          '$SANCTUM letta status --json\n'
                          'printf "%s\\n" "$LETTA_SERVER_URL" "$LETTA_SERVER_PASSWORD"\n'
                 .replace("$LETTA_CLIENT", LETTA_CLIENT.replace('"', '\\"')), tmp_path)
    assert done.returncode == 0, done.stderr
    client_line, rest = done.stdout.split("\n", 1)
    assert json.loads(client_line) == {"status": 200, "body": "1"}  # the client got in with the stored password
    status_text, server_url, server_password, _ = rest.rsplit("\n", 3)
    status = json.loads(status_text)  # and sanctum-mcp's own override reads the same variables
    assert (status["source"], status["status"], status["auth"]) == ("environment", "ok", "ok")
    assert server_url == added["url"] and server_password == letta.password
    assert PW not in done.stderr and letta.password not in done.stderr


def test_letta_env_quotes_hostile_secrets_for_eval(db_path, letta, tmp_path):
    """A password or token may hold quotes, $(...), backticks and semicolons: eval must give them back
    byte for byte and run none of them."""
    password = "it's $(touch PWNED1) `touch PWNED2`; touch PWNED3 \"q\" \\ é ${HOME} *"
    token = "'; touch PWNED4; echo '$(touch PWNED5)"
    add_by_cli(db_path, letta.port, password=password, token=token)
    done = shell(db_path, 'lines=$($SANCTUM letta env) || exit 9; eval "$lines"\n'
                          'printf "%s\\0%s" "$LETTA_SERVER_PASSWORD" "$LETTA_API_KEY"\n', tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\0") == [password, token]
    assert not list(tmp_path.glob("PWNED*")), "a secret's text ran as a command"
    printed = sanctum_cli(db_path, "letta", "env")
    for line in printed.stdout.splitlines():
        assert re.fullmatch(r"(export LETTA_[A-Z_]+=\S.*|unset( LETTA_[A-Z_]+)+)", line), line


def test_letta_env_of_a_connection_without_secrets_unsets_the_old_ones(db_path, letta, tmp_path):
    add_by_cli(db_path, letta.port)
    done = shell(db_path, 'export LETTA_API_KEY=old-key LETTA_SERVER_PASSWORD=old-password\n'
                          'lines=$($SANCTUM letta env) || exit 9; eval "$lines"\n'
                          'printf "%s|%s|%s\\n" "$LETTA_BASE_URL" "${LETTA_API_KEY-unset}" '
                          '"${LETTA_SERVER_PASSWORD-unset}"\n', tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"http://127.0.0.1:{letta.port}|unset|unset\n"


def test_letta_env_is_admin_only_and_every_reveal_is_audited(db_path, letta):
    add_by_cli(db_path, letta.port, password=PW)
    assert sanctum_cli(db_path, "user", "add", "ana", "--role", "viewer").returncode == 0
    before = snapshot(db_path)
    refused = sanctum_cli(db_path, "--user", "ana", "letta", "env")
    assert refused.returncode == 1 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert "admin" in refused.stderr and "'ana'" in refused.stderr and "sanctum-mcp letta list" in refused.stderr
    assert PW not in refused.stderr
    after = [row for row in snapshot(db_path) if "sqlite_sequence" not in row]
    before = [row for row in before if "sqlite_sequence" not in row]
    added_rows = [row for row in after if row not in before]
    assert len(added_rows) == 1 and "access.denied" in added_rows[0]  # the refusal is audited, nothing else moved
    assert [row for row in before if row not in after] == []

    shown = sanctum_cli(db_path, "letta", "env")
    assert shown.returncode == 0 and shlex.quote(PW) in shown.stdout
    reveals = [(action, details) for action, details in logs(db_path) if action == "letta.reveal"]
    assert len(reveals) == 1 and reveals[0][1]["actor"] == "operator"
    assert PW not in json.dumps(logs(db_path))


def test_letta_env_without_an_active_connection_or_key_is_a_clear_error(db_path, letta):
    add_by_cli(db_path, letta.port, password=PW)
    with sqlite3.connect(db_path) as conn:  # as if the key file had been replaced
        conn.execute("UPDATE letta_server_config SET server_password = 'fernet:garbage' WHERE is_active = 1")
    unreadable = sanctum_cli(db_path, "letta", "env")
    assert unreadable.returncode == 1 and unreadable.stdout == "" and "key" in unreadable.stderr
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE letta_server_config SET is_active = 0")
    none = sanctum_cli(db_path, "letta", "env")
    assert none.returncode == 1 and none.stdout == "" and "Traceback" not in none.stderr
    assert "sanctum-mcp letta add --activate" in none.stderr and "sanctum-mcp letta activate" in none.stderr


def test_letta_use_activates_and_the_other_letta_verbs_exist(db_path, letta):
    second = add_by_cli(db_path, letta.port)
    used = sanctum_cli(db_path, "letta", "use", "1", "--json")
    assert used.returncode == 0, used.stderr
    assert json.loads(used.stdout)["id"] == 1 and json.loads(used.stdout)["is_active"] is True
    listing = json.loads(sanctum_cli(db_path, "letta", "list", "--json").stdout)
    assert listing["active_id"] == 1 and second["id"] != 1
    for verb in ("status", "list", "add", "use", "env"):
        helped = sanctum_cli(db_path, "letta", verb, "--help")
        assert helped.returncode == 0, f"letta {verb}: {helped.stderr}"


async def test_when_letta_runs_elsewhere_its_loopback_is_not_this_registry(registry):
    """Letta on another machine (a documentation address, never contacted): `localhost` in its list is
    that machine, and the hint says to serve on an address Letta can reach first."""
    from sanctum_mcp.catalogue.letta import serves_names
    from sanctum_mcp.domain.letta.registration import OwnEndpoint, Registration

    own = OwnEndpoint(host="127.0.0.1", port=OWN_PORT, trust_loopback=True, source="this server's own address")
    registration = Registration(own, "http://192.0.2.9:8283", registry.users.token_is_active, serves_names)
    entry = await registration.classify("sanctum", {"type": "streamable_http",
                                                    "server_url": f"http://localhost:{OWN_PORT}/mcp"})
    assert entry.state == "other-host" and "Letta's own machine (192.0.2.9)" in entry.reason
    assert await registration.letta_is_here() is False
    assert "serve --host" in registration.register_url(False)
