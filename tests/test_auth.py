"""Users, API tokens, permissions, the local operator, and authenticated HTTP (real subprocesses)."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from support import (
    REPO,
    athena_monday_and_instances,
    call,
    call_error,
    free_port,
    server_env,
    snapshot,
    start_http_server,
    stdio_params,
    stop,
)

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller, Permissions
from sanctum_mcp.server.app import build_server
from sanctum_mcp.transports.http import BindRefused, check_bind, is_loopback

INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def rows(db_path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


async def seed(db_path) -> dict[str, str]:
    """operator (admin, first start), alice (user) and viewer vic, each with a token."""
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        await registry.users.create(op, username="alice", role="user", email=None, permissions=None)
        await registry.users.create(op, username="vic", role="viewer", email=None, permissions=None)
        return {name: (await registry.users.create_token(op, name, "test")).token
                for name in ("operator", "alice", "vic")}
    finally:
        await registry.close()


@asynccontextmanager
async def http_client(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


# --- the local operator ---------------------------------------------------------------------------


async def test_first_start_creates_the_admin_operator(registry, db_path):
    assert registry.operator.username == "operator" and registry.operator.role == "admin"
    assert rows(db_path, "SELECT username, role, is_active FROM users") == [("operator", "admin", 1)]
    again = await Registry.open(db_path)
    try:
        assert again.operator == registry.operator
        assert rows(db_path, "SELECT count(*) FROM users") == [(1,)]
    finally:
        await again.close()


async def test_first_start_with_a_named_user(tmp_path):
    registry = await Registry.open(tmp_path / "r.db", user="athena-admin")
    try:
        assert registry.operator.username == "athena-admin" and registry.operator.role == "admin"
    finally:
        await registry.close()


async def test_unknown_or_inactive_local_user_is_refused(registry, db_path):
    await registry.users.create(registry.operator, username="bob", role="user", email=None, permissions=None)
    with pytest.raises(Exception, match="no user named 'nobody'"):
        await Registry.open(db_path, user="nobody")
    bob = await Registry.open(db_path, user="BOB")
    assert bob.operator.username == "bob" and bob.operator.role == "user"
    await bob.close()
    await registry.users.deactivate(registry.operator, "bob")
    with pytest.raises(Exception, match="deactivated"):
        await Registry.open(db_path, user="bob")


async def test_stdio_runs_as_the_named_user(db_path):
    await seed(db_path)
    async with Client(stdio_params(db_path, "--user", "alice")) as client:
        await call(client, "create_agent", {"name": "Athena"})
        error = await call_error(client, "create_user", {"username": "mallory"})
        assert "needs the 'admin' role" in error and "'alice' has 'user'" in error
    alice_id = rows(db_path, "SELECT id FROM users WHERE username = 'alice'")[0][0]
    audit = rows(db_path, "SELECT action, user_id, details FROM logs WHERE action IN ('agent.create', 'access.denied')")
    assert [(a, u, json.loads(d)["actor"]) for a, u, d in audit] == [
        ("agent.create", alice_id, "alice"), ("access.denied", alice_id, "alice")]
    assert rows(db_path, "SELECT last_login IS NOT NULL FROM users WHERE username = 'alice'") == [(1,)]


async def test_a_running_stdio_server_sees_its_user_change(db_path):
    """Role changes and deactivation made by another process apply to the next call over stdio."""
    await seed(db_path)
    async with Client(stdio_params(db_path, "--user", "alice")) as client:
        await call(client, "create_agent", {"name": "Athena"})
        other = await Registry.open(db_path)  # another process's view: the operator at a terminal
        try:
            await other.users.update(other.operator, "alice", {"role": "viewer"})
            error = await call_error(client, "create_agent", {"name": "Monday"})
            assert "needs the 'user' role" in error and "'alice' has 'viewer'" in error
            assert [a["name"] for a in (await call(client, "list_agents"))["agents"]] == ["Athena"]
            await other.users.update(other.operator, "alice", {"is_active": False})
            error = await call_error(client, "list_agents")
            assert "'alice'" in error and "deactivated" in error
            await other.users.update(other.operator, "alice", {"is_active": True, "role": "user"})
            await call(client, "create_agent", {"name": "Timbre"})
        finally:
            await other.close()
    assert rows(db_path, "SELECT name FROM agents ORDER BY name") == [("Athena",), ("Timbre",)]


async def test_stdio_default_user_on_a_new_database(db_path):
    async with Client(stdio_params(db_path)) as client:
        await call(client, "create_agent", {"name": "Athena"})
    assert rows(db_path, "SELECT u.username FROM logs l JOIN users u ON u.id = l.user_id") == [("operator",)]


async def test_serving_as_an_unknown_user_refuses_to_start(db_path):
    await seed(db_path)  # on a database without users, --user NAME would create NAME as the first admin
    done = subprocess.run(
        [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "stdio", "--user", "nobody"],
        env=server_env(db_path), cwd=str(REPO.parent), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0 and "no user named 'nobody'" in done.stderr and "Traceback" not in done.stderr


# --- users and tokens through the tools --------------------------------------------------------------


async def test_token_is_shown_once_and_stored_as_a_hash(client, registry, db_path):
    await call(client, "create_user", {"username": "alice", "role": "user", "email": "alice@example.org"})
    new = await call(client, "create_api_token", {"user": "alice", "name": "letta"})
    token = new["token"]
    assert token.startswith("sanctum_") and len(token) > 40 and "Bearer" in new["usage"]
    raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name))
    assert token.encode() not in raw
    listing = await call(client, "list_users")
    assert token not in json.dumps(listing) and token not in json.dumps(rows(db_path, "SELECT * FROM logs"))
    alice = next(u for u in listing["users"] if u["username"] == "alice")
    assert [(t["id"], t["name"], t["active"]) for t in alice["tokens"]] == [(new["token_id"], "letta", True)]

    caller, token_id = await registry.users.authenticate(token)
    assert (caller.username, caller.role, token_id) == ("alice", "user", new["token_id"])
    assert await registry.users.authenticate(token + "x") is None
    assert await registry.users.authenticate("not-a-token") is None
    assert rows(db_path, "SELECT last_used_at IS NOT NULL FROM api_tokens") == [(1,)]

    revoked = await call(client, "revoke_api_token", {"token_id": new["token_id"]})
    assert revoked["already_revoked"] is False and revoked["token"]["active"] is False
    assert await registry.users.authenticate(token) is None
    again = await call(client, "revoke_api_token", {"token_id": new["token_id"]})
    assert again["already_revoked"] is True
    assert "list_users" in await call_error(client, "revoke_api_token", {"token_id": 999})


async def test_deactivation_revokes_tokens(client, registry):
    await call(client, "create_user", {"username": "bob", "role": "viewer"})
    token = (await call(client, "create_api_token", {"user": "bob"}))["token"]
    result = await call(client, "deactivate_user", {"user": "bob"})
    assert result["user"]["is_active"] is False and len(result["revoked_token_ids"]) == 1
    assert await registry.users.authenticate(token) is None
    reactivated = await call(client, "update_user", {"user": "bob", "active": True})
    assert reactivated["is_active"] is True
    assert await registry.users.authenticate(token) is None  # tokens stay revoked
    assert "already deactivated" not in await call_error(client, "create_api_token", {"user": "nobody"})


async def test_user_rules(client, db_path):
    await call(client, "create_user", {"username": "alice", "email": "a@example.org"})
    before = snapshot(db_path)
    assert "already exists" in await call_error(client, "create_user", {"username": "ALICE"})
    assert "email" in await call_error(client, "create_user", {"username": "al2", "email": "a@example.org"})
    assert "not valid" in await call_error(client, "create_user", {"username": "bad name"})
    assert "all digits" in await call_error(client, "create_user", {"username": "123"})
    assert "not an e-mail" in await call_error(client, "create_user", {"username": "x", "email": "nope"})
    assert "role" in await call_error(client, "create_user", {"username": "x", "role": "root"})
    assert "do not exist" in await call_error(client, "create_user", {"username": "x", "permissions": {"tools": ["nope"]}})
    assert "last active admin" in await call_error(client, "deactivate_user", {"user": "operator"})
    assert "last active admin" in await call_error(client, "update_user", {"user": "operator", "role": "user"})
    assert "last active admin" in await call_error(client, "update_user", {"user": "operator", "active": False})
    assert "at least one" in await call_error(client, "update_user", {"user": "alice"})
    assert snapshot(db_path) == before
    updated = await call(client, "update_user", {"user": "alice", "email": "", "role": "admin",
                                                 "permissions": {"agents": ["Athena"]}})
    assert updated["email"] is None and updated["role"] == "admin" and updated["permissions"]["agents"] == ["Athena"]
    cleared = await call(client, "update_user", {"user": "alice", "permissions": {}})
    assert cleared["permissions"] is None
    # With a second admin, the first one may step down.
    assert (await call(client, "update_user", {"user": "operator", "role": "user"}))["role"] == "user"


# --- permissions narrowing -------------------------------------------------------------------------


async def test_permissions_narrow_a_user_to_some_agents(registry, db_path):
    op = registry.operator
    athena = await registry.agents.create(op, {"name": "Athena", "config": {}})
    monday = await registry.agents.create(op, {"name": "Monday", "config": {}})
    limited = Caller("alice", "user", None, Permissions(agents=frozenset({"athena"})))
    async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
        assert (await call(client, "get_agent", {"agent": "ATHENA"}))["id"] == athena.id
        assert (await call(client, "set_agent_status", {"agent": str(athena.id), "status": "Off"}))["status"] == "Off"
        assert len((await call(client, "list_agents"))["agents"]) == 2
        before = rows(db_path, "SELECT count(*) FROM logs WHERE action = 'access.denied'")[0][0]
        for args in ({"agent": "Monday"}, {"agent": str(monday.id)}):
            error = await call_error(client, "delete_agent", args)
            assert "may only act on the agents athena" in error and "'Monday'" in error
        error = await call_error(client, "create_agent", {"name": "Zeus"})
        assert "'Zeus'" in error
        error = await call_error(client, "update_agent", {"agent": "Athena", "name": "Monday2"})
        assert "'Monday2'" in error
        error = await call_error(client, "sync_letta_agents")
        assert "every agent" in error
        assert "no agent named '999'" in await call_error(client, "get_agent", {"agent": "999"})
        after = rows(db_path, "SELECT count(*) FROM logs WHERE action = 'access.denied'")[0][0]
        assert after - before == 5
    assert (await registry.agents.get("Monday")).name == "Monday"


async def test_permissions_narrow_what_belongs_to_other_agents(registry, db_path):
    """permissions.agents also covers what an agent owns: its settings (agent and instance scope),
    its tool instances and its jobs. Shared things (tool scope) follow the role; host-wide objects
    (a master instance, a job for no agent) may be read but not changed."""
    op = registry.operator
    mine, theirs, host = await athena_monday_and_instances(registry)
    for scope, target in (("agent", "Monday"), ("instance", str(theirs.id)), ("agent", "Athena")):
        await registry.config.set(op, "smcp_port", "9001", scope=scope, target=target)
    every_day = "0 3 * * *"
    await registry.jobs.create(op, {"name": "athena-job", "cron_expression": every_day, "agent": "Athena"})
    await registry.jobs.create(op, {"name": "monday-job", "cron_expression": every_day, "agent": "Monday"})
    await registry.jobs.create(op, {"name": "via-instance", "cron_expression": every_day,
                                    "tool_instance": str(theirs.id)})
    await registry.jobs.create(op, {"name": "host-job", "cron_expression": every_day, "tool_instance": str(host.id)})
    limited = Caller("alice", "user", None, Permissions(agents=frozenset({"Athena"})))
    refused = [
        ("set_config", {"key": "smcp_port", "value": "1", "scope": "agent", "target": "Monday"}, "'Monday'"),
        ("set_config", {"key": "smcp_port", "value": "1", "scope": "agent", "target": "2"}, "'Monday'"),
        ("set_config", {"key": "smcp_port", "value": "1", "scope": "instance", "target": str(theirs.id)},
         f"instance '{theirs.id}' belongs to 'Monday'"),
        ("delete_config", {"key": "smcp_port", "scope": "agent", "target": "Monday"}, "'Monday'"),
        ("rollback_config", {"key": "smcp_port", "scope": "agent", "target": "Monday", "version": 1}, "'Monday'"),
        ("list_config", {"scope": "instance", "target": str(theirs.id)}, "'Monday'"),
        ("config_history", {"key": "smcp_port", "scope": "agent", "target": "Monday"}, "'Monday'"),
        ("get_config", {"key": "smcp_port", "instance": str(theirs.id)}, "'Monday'"),
        ("get_job", {"job": "monday-job"}, "job 'monday-job' belongs to 'Monday'"),
        ("pause_job", {"job": "via-instance"}, "'Monday'"),
        ("delete_job", {"job": "monday-job"}, "'Monday'"),
        ("update_job", {"job": "athena-job", "tool_instance": str(theirs.id)}, "'Monday'"),
        ("create_job", {"name": "x", "cron_expression": every_day, "tool_instance": "m"}, "'Monday'"),
        ("create_job", {"name": "y", "cron_expression": every_day}, "host-wide"),
        ("pause_job", {"job": "host-job"}, "host-wide"),
        ("create_tool_instance", {"tool": "shared", "name": "h2"}, "host-wide"),
    ]
    async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
        before = [line for line in snapshot(db_path) if "logs" not in line]
        denied_before = rows(db_path, "SELECT count(*) FROM logs WHERE action = 'access.denied'")[0][0]
        for tool_name, args, named in refused:
            error = await call_error(client, tool_name, args)
            assert "may only act on the agents Athena" in error and named in error, (tool_name, error)
        assert [line for line in snapshot(db_path) if "logs" not in line] == before
        denied = rows(db_path, "SELECT count(*) FROM logs WHERE action = 'access.denied'")[0][0] - denied_before
        assert denied == len(refused)
        # What is Athena's, shared, or only read, still works.
        await call(client, "set_config", {"key": "smcp_port", "value": "9100", "scope": "agent", "target": "Athena"})
        await call(client, "set_config", {"key": "smcp_port", "value": "9200", "scope": "instance",
                                          "target": str(mine.id)})
        await call(client, "set_config", {"key": "smcp_port", "value": "9300", "scope": "tool", "target": "notes"})
        assert (await call(client, "get_config", {"key": "smcp_port", "instance": str(mine.id)}))["value"] == "9200"
        await call(client, "pause_job", {"job": "athena-job"})
        assert (await call(client, "get_job", {"job": "host-job"}))["name"] == "host-job"
        await call(client, "create_job", {"name": "athena-2", "cron_expression": every_day, "agent": "Athena"})
        assert "no scheduled job named 'ghost'" in await call_error(client, "get_job", {"job": "ghost"})
        # Resources that name an agent or its instance are narrowed the same way; listings are not.
        for uri in ("sanctum://agents/Monday", f"sanctum://config/instance/{theirs.id}", "sanctum://config/agent/monday"):
            with pytest.raises(MCPError, match="may only act on the agents Athena"):
                await client.read_resource(uri)
        for uri in ("sanctum://agents/Athena", f"sanctum://config/instance/{mine.id}", "sanctum://config/tool/notes",
                    "sanctum://agents"):
            assert (await client.read_resource(uri)).contents


async def test_permissions_limit_the_tools(registry):
    limited = Caller("bot", "admin", None, Permissions(tools=frozenset({"list_agents"})))
    async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
        await call(client, "list_agents")
        error = await call_error(client, "list_users")
        assert "not among the tools" in error and "update_user" in error


async def test_permissions_from_the_database_reach_the_caller(client, registry, db_path):
    await call(client, "create_user", {"username": "ann", "role": "user", "permissions": {"agents": ["Athena"]}})
    token = (await call(client, "create_api_token", {"user": "ann"}))["token"]
    caller, _ = await registry.users.authenticate(token)
    assert caller.permissions.allows_agent("athena") and not caller.permissions.allows_agent("Monday")


# --- the bind guard ---------------------------------------------------------------------------------


def _own_lan_addresses() -> list[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return []
    return sorted({i[4][0] for i in infos if not i[4][0].startswith(("127.", "::1"))})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "192.168.1.10", "10.1.2.3", "fe80::1", *_own_lan_addresses()])
def test_non_loopback_needs_an_active_token(host):
    assert not is_loopback(host)
    with pytest.raises(BindRefused, match="no active API token"):
        check_bind(host, active_tokens=0)
    check_bind(host, active_tokens=1)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host):
    assert is_loopback(host)
    check_bind(host, active_tokens=0)


async def test_revoked_tokens_and_inactive_users_do_not_count(client, registry):
    assert await registry.users.usable_token_count() == 0
    await call(client, "create_user", {"username": "bob"})
    new = await call(client, "create_api_token", {"user": "bob"})
    assert await registry.users.usable_token_count() == 1
    await call(client, "revoke_api_token", {"token_id": new["token_id"]})
    assert await registry.users.usable_token_count() == 0


def test_real_start_on_all_interfaces_refuses_without_a_token(db_path):
    done = subprocess.run(
        [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--host", "0.0.0.0",
         "--port", str(free_port())],
        env=server_env(db_path), cwd=str(REPO.parent), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to serve on '0.0.0.0'" in done.stderr and "sanctum-mcp user token" in done.stderr
    assert "Traceback" not in done.stderr


# --- authenticated HTTP ---------------------------------------------------------------------------


async def test_http_needs_a_token_on_every_mcp_route(db_path):
    tokens = await seed(db_path)
    server = start_http_server(db_path)
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            for method, path in (("POST", "/mcp"), ("GET", "/sse"), ("POST", "/messages/?session_id=0")):
                for headers in ({}, {"Authorization": "Bearer sanctum_wrong"}, {"Authorization": "Basic abc"}):
                    response = await http.request(method, path, headers=MCP_HEADERS | headers, json=INIT)
                    assert response.status_code == 401, (method, path, headers)
                    assert response.headers["www-authenticate"].startswith("Bearer")
            assert (await http.get("/healthz")).status_code == 200

            # A valid token with a Host header naming another site: DNS-rebinding protection (421).
            bad_host = MCP_HEADERS | {"Authorization": f"Bearer {tokens['alice']}", "Host": f"evil.example:{server.port}"}
            assert (await http.post("/mcp", headers=bad_host, json=INIT)).status_code == 421
            good = MCP_HEADERS | {"Authorization": f"Bearer {tokens['alice']}"}
            assert (await http.post("/mcp", headers=good, json=INIT)).status_code == 200

        async with http_client(server.mcp_url, tokens["alice"]) as client:
            agent = await call(client, "create_agent", {"name": "Athena"})
            error = await call_error(client, "create_user", {"username": "mallory"})
            assert "needs the 'admin' role" in error
        async with http_client(server.mcp_url, tokens["vic"]) as client:
            assert (await call(client, "get_agent", {"agent": "Athena"}))["id"] == agent["id"]
            assert "needs the 'user' role" in await call_error(client, "delete_agent", {"agent": "Athena"})
        async with Client(sse_client(server.sse_url, headers={"Authorization": f"Bearer {tokens['operator']}"}),
                          mode="legacy") as client:
            listing = await call(client, "list_users")
            assert {u["username"] for u in listing["users"]} == {"operator", "alice", "vic"}
    finally:
        stop(server.process)
    audit = rows(db_path, "SELECT l.action, u.username, l.details FROM logs l LEFT JOIN users u ON u.id = l.user_id "
                          "WHERE l.action IN ('agent.create', 'access.denied') ORDER BY l.id")
    assert [(a, u, json.loads(d)["actor"]) for a, u, d in audit] == [
        ("agent.create", "alice", "alice"), ("access.denied", "alice", "alice"), ("access.denied", "vic", "vic")]
    used = rows(db_path, "SELECT u.username FROM api_tokens t JOIN users u ON u.id = t.user_id "
                         "WHERE t.last_used_at IS NOT NULL ORDER BY u.username")
    assert used == [("alice",), ("operator",), ("vic",)]


async def test_update_user_deactivation_revokes_tokens_for_good(db_path):
    """update_user(active=false) deactivates like deactivate_user: it revokes the user's tokens in the
    same transaction, so reactivating the user does not bring an old (perhaps leaked) token back."""
    tokens = await seed(db_path)
    server = start_http_server(db_path)
    try:
        async with http_client(server.mcp_url, tokens["alice"]) as client:
            await call(client, "list_agents")
        async with http_client(server.mcp_url, tokens["operator"]) as admin:
            off = await call(admin, "update_user", {"user": "alice", "active": False})
            assert off["is_active"] is False and [t["active"] for t in off["tokens"]] == [False]
            on = await call(admin, "update_user", {"user": "alice", "active": True})
            assert on["is_active"] is True and [t["active"] for t in on["tokens"]] == [False]
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(server.mcp_url, json=INIT,
                                       headers=MCP_HEADERS | {"Authorization": f"Bearer {tokens['alice']}"})
            assert response.status_code == 401
    finally:
        stop(server.process)
    revoked = rows(db_path, "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id "
                            "WHERE u.username = 'alice' AND t.revoked_at IS NOT NULL")
    audit = rows(db_path, "SELECT details FROM logs WHERE action = 'user.update' ORDER BY id")
    assert json.loads(audit[0][0])["revoked_token_ids"] == [revoked[0][0]]


async def test_revoking_a_token_locks_it_out_while_the_server_runs(db_path):
    tokens = await seed(db_path)
    server = start_http_server(db_path)
    try:
        async with http_client(server.mcp_url, tokens["alice"]) as client:
            await call(client, "list_agents")
        token_id = rows(db_path, "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id "
                                 "WHERE u.username = 'alice'")[0][0]
        done = subprocess.run([sys.executable, "-m", "sanctum_mcp", "user", "revoke-token", str(token_id)],
                              env=server_env(db_path), cwd=str(REPO.parent), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(server.mcp_url, json=INIT,
                                       headers=MCP_HEADERS | {"Authorization": f"Bearer {tokens['alice']}"})
            assert response.status_code == 401
    finally:
        stop(server.process)


async def test_trust_loopback(db_path):
    tokens = await seed(db_path)
    server = start_http_server(db_path, "--trust-loopback", "--user", "alice")
    try:
        async with http_client(server.mcp_url, None) as client:
            await call(client, "create_agent", {"name": "Athena"})
        async with Client(sse_client(server.sse_url), mode="legacy") as client:
            await call(client, "get_agent", {"agent": "Athena"})
        async with httpx.AsyncClient(timeout=30) as http:
            wrong = await http.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | {"Authorization": "Bearer nope"})
            assert wrong.status_code == 401  # a wrong token is never rescued by the loopback rule
            bad_host = await http.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | {"Host": "evil.example"})
            assert bad_host.status_code == 421
        async with http_client(server.mcp_url, tokens["vic"]) as client:  # a token still means its own user
            assert "needs the 'user' role" in await call_error(client, "delete_agent", {"agent": "Athena"})
        other = await Registry.open(db_path)
        try:  # the trusted local user is deactivated while the server runs: loopback no longer lets anyone in
            await other.users.update(other.operator, "alice", {"is_active": False})
        finally:
            await other.close()
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.post(server.mcp_url, json=INIT, headers=MCP_HEADERS)).status_code == 401
    finally:
        stop(server.process)
    assert rows(db_path, "SELECT u.username FROM logs l JOIN users u ON u.id = l.user_id "
                         "WHERE l.action = 'agent.create'") == [("alice",)]


def test_cli_creates_the_first_token_for_http(db_path):
    env = server_env(db_path)
    run = lambda *args: subprocess.run([sys.executable, "-m", "sanctum_mcp", *args], env=env,  # noqa: E731
                                       cwd=str(REPO.parent), capture_output=True, text=True, timeout=60)
    added = run("user", "add", "letta-bot", "--role", "user", "--agents", "Athena,Monday")
    assert added.returncode == 0, added.stderr
    made = run("user", "token", "letta-bot", "--name", "letta")
    assert made.returncode == 0 and made.stdout.strip().startswith("sanctum_")
    assert "shown only this once" in made.stderr
    listing = run("user", "list")
    assert "letta-bot" in listing.stdout and "1:letta" in listing.stdout and "Athena" in listing.stdout
    assert made.stdout.strip() not in listing.stdout
    refused = run("--user", "letta-bot", "user", "add", "mallory")
    assert refused.returncode != 0 and "needs the 'admin' role" in refused.stderr
