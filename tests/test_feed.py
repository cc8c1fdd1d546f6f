"""The change feed (issue 15, "Live"): a revision per committed change, changes_since narrowed like
reads, the notifier, and resource subscriptions through real clients (SDK in memory, a real
`sanctum-mcp serve --transport http`, CLI subprocesses on the same database)."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import sqlite3
import warnings

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import SubscriptionLost
from mcp.shared.exceptions import MCPError
from support import (Notifications, athena_monday_and_instances, call, call_confirmed, call_error, cli, server_log,
                     stdio_params)

from sanctum_mcp.catalogue.toolsets import select
from sanctum_mcp.domain.shared.identity import Caller, Permissions
from sanctum_mcp.server import subscriptions
from sanctum_mcp.server.app import build_server

CANARY = "sk-canary-feed-0123456789"
WAIT = 60  # seconds: a generous bound that fails on a hang, never a timing assertion


def feed_rows(db_path) -> list[dict]:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM changes ORDER BY revision")]


# --- revisions ---------------------------------------------------------------------------------


async def test_every_committed_change_gets_a_growing_revision_naming_no_value(modern_client, db_path):
    start = (await call(modern_client, "changes_since", {"revision": 0}))["revision"]
    athena = await call(modern_client, "create_agent", {"name": "Athena"})
    await call(modern_client, "set_config", {"key": "openai_api_key", "value": CANARY})
    await call(modern_client, "set_config", {"key": "flask_port", "value": "9100", "scope": "agent",
                                             "target": "Athena"})
    page = await call(modern_client, "changes_since", {"revision": start})
    got = [(c["kind"], c["action"], c.get("name"), c.get("key")) for c in page["changes"]]
    assert got == [("agent", "agent.create", "Athena", None), ("config", "config.set", None, "openai_api_key"),
                   ("config", "config.set", "Athena", "flask_port")]
    revisions = [c["revision"] for c in page["changes"]]
    assert revisions == sorted(set(revisions)) and revisions[0] > start
    assert page["revision"] == page["up_to"] == revisions[-1] and page["more"] is False
    assert page["changes"][2]["agent_id"] == athena["id"] and page["changes"][1]["agent_id"] is None
    assert all(c["actor"] == "operator" for c in page["changes"])
    assert CANARY not in json.dumps(page) and CANARY not in json.dumps(feed_rows(db_path))
    # Reads, reveals and refusals change nothing: no revision.
    await call(modern_client, "get_config", {"key": "openai_api_key", "reveal": True})
    await call(modern_client, "list_agents")
    await call_error(modern_client, "set_config", {"key": "flask_port", "value": "not a port"})
    await call_error(modern_client, "delete_agent", {"agent": "Nobody"})
    assert (await call(modern_client, "changes_since", {"revision": 0}))["revision"] == page["revision"]


async def test_changes_since_pages_and_says_reload_everything_when_it_cannot_answer(modern_client, registry):
    from sanctum_mcp.storage import changes as changes_sql

    for name in ("A1", "A2", "A3"):
        await call(modern_client, "create_agent", {"name": name})
    first = await call(modern_client, "changes_since", {"revision": 0, "limit": 2})
    assert [c["name"] for c in first["changes"]] == ["A1", "A2"] and first["more"] is True
    rest = await call(modern_client, "changes_since", {"revision": first["up_to"]})
    assert [c["name"] for c in rest["changes"]] == ["A3"] and rest["more"] is False and not rest["reset"]
    ahead = await call(modern_client, "changes_since", {"revision": rest["revision"] + 5})
    assert ahead["reset"] is True and "Reload everything" in ahead["message"] and ahead["changes"] == []
    assert "revision" in await call_error(modern_client, "changes_since", {"revision": -1})

    # A long history: the window keeps the newest KEPT rows; a reader further behind is told to reload.
    def many(conn):
        for n in range(changes_sql.KEPT + 5):
            changes_sql.insert(conn, {"kind": "agent", "action": "agent.update", "object_id": "1", "actor": "t"})

    await registry.db.write(many)
    behind = await call(modern_client, "changes_since", {"revision": rest["revision"]})
    assert behind["reset"] is True and "older than the feed keeps" in behind["message"]
    assert behind["revision"] == rest["revision"] + changes_sql.KEPT + 5
    with contextlib.closing(sqlite3.connect(registry.db.path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM changes").fetchone()[0] == changes_sql.KEPT


async def test_a_narrowed_user_does_not_see_changes_of_other_agents(registry):
    async with Client(build_server(registry)) as admin:
        await call(admin, "create_agent", {"name": "Athena"})
        await call(admin, "create_agent", {"name": "Monday"})
        for agent in ("Athena", "Monday"):
            await call(admin, "set_config", {"key": "flask_port", "value": "9100", "scope": "agent",
                                             "target": agent})
            await call(admin, "set_agent_status", {"agent": agent, "status": "Off"})
        await call(admin, "set_config", {"key": "flask_port", "value": "9200"})
        await call(admin, "create_user", {"username": "vic", "role": "viewer"})
        everything = await call(admin, "changes_since", {"revision": 0})
    assert {c["name"] for c in everything["changes"] if c["kind"] in ("agent", "config")} >= {"Athena", "Monday"}
    assert "user" in {c["kind"] for c in everything["changes"]}

    limited = Caller("ann", "user", None, Permissions(agents=frozenset({"athena"})))
    async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
        seen = await call(client, "changes_since", {"revision": 0})
    names = {c["name"] for c in seen["changes"]}
    assert "Athena" in names and "Monday" not in names, names
    monday = next(c["object_id"] for c in everything["changes"] if c["name"] == "Monday" and c["kind"] == "agent")
    assert all(c["agent_id"] != int(monday) for c in seen["changes"])
    assert ("config", "system") in {(c["kind"], c["scope"]) for c in seen["changes"]}  # host-wide: visible
    assert "user" not in {c["kind"] for c in seen["changes"]}  # list_users is for admins
    assert seen["revision"] == everything["revision"]

    viewer = Caller("vic", "viewer", None, Permissions(tools=frozenset({"changes_since", "list_agents"})))
    async with Client(build_server(registry, identify=lambda _ctx: viewer)) as client:
        seen = await call(client, "changes_since", {"revision": 0})
    assert {c["kind"] for c in seen["changes"]} == {"agent"}  # no list_config in permissions.tools


async def test_a_deleted_job_of_another_agents_instance_stays_out_of_a_narrowed_users_feed(registry):
    # The job names no agent of its own, only Monday's instance: once deleted, the feed must still
    # know it was Monday's (the job row is gone when the change is written).
    await athena_monday_and_instances(registry)
    async with Client(build_server(registry)) as admin:
        for name, instance in (("monday-private", "m"), ("athena-job", "a")):
            await call(admin, "create_job", {"name": name, "cron_expression": "@daily", "tool_instance": instance})
            await call(admin, "delete_job", {"job": name})
    limited = Caller("ann", "user", None, Permissions(agents=frozenset({"athena"})))
    async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
        seen = await call(client, "changes_since", {"revision": 0})
    jobs = [(c["action"], c["name"]) for c in seen["changes"] if c["kind"] == "job"]
    assert jobs == [("job.create", "athena-job"), ("job.delete", "athena-job")], jobs


async def test_an_endpoint_serving_some_tools_shows_no_change_of_a_kind_it_does_not_serve(registry):
    # /mcp/x/assistant serves no users, tools, plugins, Letta servers or backups: its changes_since
    # does not name them either, whoever the caller is (here the admin's token).
    async with Client(build_server(registry)) as admin:
        await call(admin, "create_agent", {"name": "Athena"})
        await call(admin, "create_user", {"username": "mallory", "role": "viewer"})
        await call(admin, "create_tool", {"name": "hidden-tool", "category": "athena", "tool_type": "utility"})
        everything = await call(admin, "changes_since", {"revision": 0})
    assert {"agent", "user", "tool"} <= {c["kind"] for c in everything["changes"]}
    assistant = build_server(registry, selection=select("assistant"))
    async with Client(assistant) as client:
        seen = await call(client, "changes_since", {"revision": 0})
    assert {c["kind"] for c in seen["changes"]} == {"agent"}, seen["changes"]
    assert seen["revision"] == everything["revision"]


async def test_a_restore_keeps_revisions_growing_and_says_reload_everything(modern_client):
    await call(modern_client, "create_agent", {"name": "Athena"})
    backup = await call(modern_client, "create_backup", {"type": "full"})
    await call(modern_client, "create_agent", {"name": "Monday"})
    before = (await call(modern_client, "changes_since", {"revision": 0}))["revision"]
    await call_confirmed(modern_client, "restore_backup", {"backup_id": backup["id"]})
    after = await call(modern_client, "changes_since", {"revision": before})
    assert after["revision"] > before and after["reset"] is True and "restored" in after["message"]
    assert [c["action"] for c in after["changes"]] == ["backup.restore"]
    # The feed is the live database's, carried over: the changes before the restore are still there.
    assert "Monday" in [c["name"] for c in (await call(modern_client, "changes_since", {"revision": 0}))["changes"]]
    await call(modern_client, "create_agent", {"name": "Zeus"})
    assert (await call(modern_client, "changes_since", {"revision": after["revision"]}))["changes"][0]["name"] == "Zeus"


# --- the notifier --------------------------------------------------------------------------------


async def test_the_notifier_wakes_for_this_process_and_for_a_cli_subprocess(registry, db_path):
    notifier = registry.notifier
    start = await notifier.current()
    assert await notifier.wait_beyond(start, 0.2) == start  # nothing happened: the same revision

    woke: list[int] = []
    async with anyio.create_task_group() as tg:
        async def wait() -> None:
            woke.append(await notifier.wait_beyond(start, WAIT))

        tg.start_soon(wait)
        await anyio.sleep(0.1)
        await registry.agents.create(registry.operator, {"name": "Athena", "config": {}})
    assert woke and woke[0] > start

    mine = woke[0]
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: anyio.to_thread.run_sync(
            lambda: cli(db_path, "agents", "create", "Monday")))
        other = await notifier.wait_beyond(mine, WAIT)
    assert other > mine
    page = await registry.feed.changes_since(registry.operator, mine, kinds={"agent"})
    assert [c.name for c in page.changes] == ["Monday"]


# --- MCP: resource subscriptions -----------------------------------------------------------------


class Inbox(Notifications):
    """Every notifications/resources/updated a client receives."""

    def __init__(self) -> None:
        super().__init__("notifications/resources/updated", WAIT)

    @property
    def uris(self) -> list[str]:
        return [str(params.uri) for params in self.received]

    async def next(self) -> list[str]:
        await self.arrival()
        return self.uris


@contextlib.asynccontextmanager
async def legacy_http(url: str, inbox=None):
    async with httpx2.AsyncClient(timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy", message_handler=inbox) as c:
            yield c


async def test_a_subscriber_over_http_hears_of_changes_by_another_client_and_by_the_cli(served, db_path):
    inbox = Inbox()
    async with legacy_http(served.mcp_url, inbox) as follower, legacy_http(served.mcp_url) as other:
        caps = follower.server_capabilities
        assert caps.resources.subscribe is True and caps.tools.list_changed is True  # test_tools_list_changed.py
        await call(other, "create_agent", {"name": "Athena"})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resources/subscribe is deprecated at 2026-07-28, not at 2025
            await follower.subscribe_resource("sanctum://agents/Athena")
            await follower.subscribe_resource("sanctum://config/agent/athena")
        await call(other, "create_agent", {"name": "Monday"})  # not followed
        await call(other, "update_agent", {"agent": "Athena", "description": "the assistant"})
        assert "sanctum://agents/Athena" in await inbox.next()
        done = await anyio.to_thread.run_sync(lambda: cli(
            db_path, "config", "set", "flask_port", "9100", "--scope", "agent", "--target", "Athena"))
        assert done.returncode == 0, done.stderr
        while "sanctum://config/agent/athena" not in await inbox.next():
            pass
        assert set(inbox.uris) == {"sanctum://agents/Athena", "sanctum://config/agent/athena"}


def changes_to_fill_a_stalled_stream() -> int:
    """Changes that push more than the kernel may buffer for a client that reads nothing (the
    largest TCP send buffer, read from Linux; 4 MiB elsewhere), at 100 notifications of ~130 bytes
    per change with half the changes coalesced into one round (as seen here: ~550 for 4 MiB)."""
    try:
        most = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
    except (OSError, ValueError, IndexError):
        most = 4 * 1024 * 1024
    return max(1500, most // 2000)


async def test_a_subscriber_that_stops_reading_holds_up_no_other_subscriber(served, db_path):
    # A legacy session follows Athena under 100 URIs (case variants of her name), opens its standalone
    # stream and never reads it: once the buffers fill, every notification to it blocks.
    assert cli(db_path, "agents", "create", "Athena").returncode == 0
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json",
               "mcp-protocol-version": "2025-11-25"}
    with httpx.Client(base_url=served.base, timeout=30) as http:
        started = http.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "stalled", "version": "1"}}})
        headers["mcp-session-id"] = started.headers["mcp-session-id"]
        http.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        names = ["".join(c) for c in itertools.product(*[(ch.lower(), ch.upper()) for ch in "athena"])][:100]
        for n, name in enumerate(names, 1):
            answer = http.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": n, "method": "resources/subscribe",
                                                              "params": {"uri": f"sanctum://agents/{name}"}})
            assert "error" not in answer.json(), answer.text
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((served.host, served.port))
    stalled.sendall((f"GET /mcp HTTP/1.1\r\nHost: {served.host}:{served.port}\r\nAccept: text/event-stream\r\n"
                     f"mcp-session-id: {headers['mcp-session-id']}\r\nmcp-protocol-version: 2025-11-25\r\n\r\n").encode())
    inbox = Inbox()
    try:
        async with legacy_http(served.mcp_url, inbox) as follower:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await follower.subscribe_resource("sanctum://agents/Athena")
            for n in range(changes_to_fill_a_stalled_stream()):
                await call(follower, "set_agent_status", {"agent": "Athena", "status": ("Off", "Ready")[n % 2]})
            inbox.arrived = anyio.Event()  # what arrives from now on
            await call(follower, "update_agent", {"agent": "Athena", "description": "the assistant"})
            await inbox.arrival()  # within WAIT: it took 100 x 5 s per change before
    finally:
        stalled.close()
    assert "Traceback" not in server_log(served)


async def test_a_stdio_subscriber_hears_of_a_change_made_by_the_cli(db_path):
    done = cli(db_path, "agents", "create", "Athena")
    assert done.returncode == 0, done.stderr
    inbox = Inbox()
    async with Client(stdio_params(db_path, "--no-scheduler"), mode="legacy", message_handler=inbox) as follower:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await follower.subscribe_resource("sanctum://agents")
        done = await anyio.to_thread.run_sync(lambda: cli(db_path, "agents", "set-status", "Athena", "Off"))
        assert done.returncode == 0, done.stderr
        assert await inbox.next() == ["sanctum://agents"]


async def test_agents_a_letta_sync_adds_or_links_are_changes_of_those_agents(db_path):
    """sync_letta_agents is audited once (kind letta); each agent it adds, links or renames is also a
    change of that agent, so a follower of sanctum://agents hears of it, and changes_since shows it
    to a user limited to that agent."""
    from fake_letta import FakeLetta

    inbox = Inbox()
    with FakeLetta() as letta:
        letta.agents = [{"id": "agent-a", "name": "Athena"}, {"id": "agent-m", "name": "Monday"}]
        async with Client(stdio_params(db_path, "--no-scheduler"), mode="legacy", message_handler=inbox) as client:
            await call(client, "create_agent", {"name": "Athena"})
            await call(client, "add_letta_server", {"address": "127.0.0.1", "port": letta.port, "activate": True})
            start = (await call(client, "changes_since", {"revision": 0}))["revision"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await client.subscribe_resource("sanctum://agents")
            await call(client, "sync_letta_agents")
            assert await inbox.next() == ["sanctum://agents"]
            page = await call(client, "changes_since", {"revision": start})
            monday = (await call(client, "get_agent", {"agent": "Monday"}))["id"]
            await call(client, "create_user", {"username": "mo", "role": "viewer",
                                               "permissions": {"agents": ["Monday"]}})
    got = {(c["kind"], c.get("name"), c.get("agent_id")) for c in page["changes"]}
    assert {("agent", "Athena", 1), ("agent", "Monday", monday)} <= got, got
    narrowed = Caller(user_id=2, username="mo", role="viewer", permissions=Permissions(agents=("Monday",)))
    from sanctum_mcp.domain.registry import Registry

    registry = await Registry.open(db_path)
    try:
        async with Client(build_server(registry, identify=lambda _ctx: narrowed)) as mo:
            seen = await call(mo, "changes_since", {"revision": start})
    finally:
        await registry.close()
    assert [c.get("name") for c in seen["changes"] if c["kind"] == "agent"] == ["Monday"]


async def test_a_listen_stream_of_2026_hears_of_a_change(served):
    async with httpx2.AsyncClient(timeout=30) as http:
        async with Client(streamable_http_client(served.mcp_url, http_client=http)) as follower, \
                legacy_http(served.mcp_url) as other:
            await call(other, "create_agent", {"name": "Athena"})
            async with follower.listen(resource_subscriptions=["sanctum://agents/Athena"]) as sub:
                await call(other, "set_agent_status", {"agent": "Athena", "status": "Off"})
                with anyio.fail_after(WAIT):
                    event = await sub.__anext__()
            assert event.uri == "sanctum://agents/Athena"


async def test_a_subscriber_who_loses_the_right_to_read_hears_no_more(served):
    # vic (deactivated) and ann (no longer allowed list_agents) subscribed to sanctum://agents while
    # they could read it; their sessions stay open. The admin's subscription shows when changes came.
    admin_inbox, vic_inbox, ann_inbox = Inbox(), Inbox(), Inbox()
    async with legacy_http(served.mcp_url, admin_inbox) as admin:
        tokens = {}
        for name in ("vic", "ann"):
            await call(admin, "create_user", {"username": name, "role": "viewer"})
            tokens[name] = (await call(admin, "create_api_token", {"user": name}))["token"]
        async with contextlib.AsyncExitStack() as held:
            async def session(name, inbox=None, modern=False):
                http = await held.enter_async_context(httpx2.AsyncClient(
                    timeout=30, headers={"Authorization": f"Bearer {tokens[name]}"}))
                options = {} if modern else {"mode": "legacy", "message_handler": inbox}
                return await held.enter_async_context(Client(streamable_http_client(served.mcp_url, http_client=http),
                                                              **options))

            vic, ann = await session("vic", vic_inbox), await session("ann", ann_inbox)
            vic_modern = await session("vic", modern=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for client in (admin, vic, ann):
                    await client.subscribe_resource("sanctum://agents")
            listening = await held.enter_async_context(vic_modern.listen(resource_subscriptions=["sanctum://agents"]))
            await call(admin, "create_agent", {"name": "A1"})
            for inbox in (admin_inbox, vic_inbox, ann_inbox):
                assert await inbox.next() == ["sanctum://agents"]
            with anyio.fail_after(WAIT):
                assert (await listening.__anext__()).uri == "sanctum://agents"

            await call(admin, "deactivate_user", {"user": "vic"})
            await call(admin, "update_user", {"user": "ann", "permissions": {"tools": ["get_agent"]}})
            heard = admin_inbox.count
            await call(admin, "create_agent", {"name": "A2"})
            while admin_inbox.count == heard:
                await admin_inbox.arrival()
            await anyio.sleep(1)  # time for anything else the follower sent (in order) to arrive
            assert (vic_inbox.count, ann_inbox.count) == (1, 1)
            with anyio.fail_after(WAIT), pytest.raises((MCPError, SubscriptionLost, StopAsyncIteration)):
                await listening.__anext__()  # ended, not told of A2
    assert "Traceback" not in server_log(served)


async def test_one_user_cannot_hold_every_listen_stream_of_the_server(served):
    # The server holds at most 256 listen streams (2026-07-28) in all: a viewer's token opening as
    # many as it can must leave room for everyone else.
    async with legacy_http(served.mcp_url) as admin:  # the loopback operator
        await call(admin, "create_user", {"username": "vic", "role": "viewer"})
        token = (await call(admin, "create_api_token", {"user": "vic"}))["token"]
    limits = httpx2.Limits(max_connections=400, max_keepalive_connections=400)
    async with contextlib.AsyncExitStack() as held:
        http = await held.enter_async_context(httpx2.AsyncClient(
            timeout=30, limits=limits, headers={"Authorization": f"Bearer {token}"}))
        vic = await held.enter_async_context(Client(streamable_http_client(served.mcp_url, http_client=http)))
        refusal = None
        for _ in range(subscriptions.MAX_LISTEN_STREAMS + 1):
            try:
                await held.enter_async_context(vic.listen(resource_subscriptions=["sanctum://agents"]))
            except MCPError as exc:
                refusal = str(exc)
                break
        assert refusal is not None and "vic" in refusal and "close one" in refusal, refusal
        async with httpx2.AsyncClient(timeout=30) as other_http, \
                Client(streamable_http_client(served.mcp_url, http_client=other_http)) as operator:
            async with operator.listen(resource_subscriptions=["sanctum://agents"]) as stream:
                assert stream.honored is not None
    assert "Traceback" not in server_log(served)


async def test_subscriptions_are_bounded_per_session_and_end_with_it(registry):
    server = build_server(registry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        async with Client(server, mode="legacy") as client:
            refused = 0
            for n in range(10_000):
                try:
                    await client.subscribe_resource(f"sanctum://agents/agent-{n}")
                except MCPError as exc:
                    assert "already follows 100 resources" in str(exc) and "unsubscribe" in str(exc)
                    refused += 1
            assert refused == 10_000 - 100 and server.followers.count() == 100
            await client.subscribe_resource("sanctum://agents/agent-5")  # already held: fine
            await client.unsubscribe_resource("sanctum://agents/agent-5")
            await client.subscribe_resource("sanctum://agents/agent-100")  # room again
            assert server.followers.count() == 100
            await client.unsubscribe_resource("x")  # never subscribed: fine
            await client.unsubscribe_resource("sanctum://agents/agent-6")
            with pytest.raises(MCPError, match="longer than"):
                await client.subscribe_resource("sanctum://agents/" + "x" * 5000)
            assert server.followers.count() == 99
        assert server.followers.count() == 0  # the session ended: its subscriptions went with it


async def test_subscribing_passes_the_gate_of_reading(registry):
    await registry.agents.create(registry.operator, {"name": "Monday", "config": {}})
    limited = Caller("ann", "user", None, Permissions(agents=frozenset({"athena"})))
    server = build_server(registry, identify=lambda _ctx: limited)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        async with Client(server, mode="legacy") as client:
            with pytest.raises(MCPError, match="Monday"):
                await client.subscribe_resource("sanctum://agents/Monday")
            with pytest.raises(MCPError, match="Monday"):
                await client.subscribe_resource("sanctum://config/agent/Monday")
            await client.subscribe_resource("sanctum://agents/Athena")
            await client.subscribe_resource("test://watched-resource")  # not served here: never fires
            assert server.followers.count() == 2


# --- no write skips the feed ---------------------------------------------------------------------

IGNORED = ("logs", "changes", "sqlite_sequence")  # the log and the feed themselves (logs_fts* too)


def registry_content(db_path) -> dict[str, list[tuple]]:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in tables if not t.startswith(IGNORED)}


async def test_every_tool_call_that_changes_the_registry_gets_a_revision_and_no_other_does(tmp_path):
    """Each tool with test_roles.py's harmless arguments on a fresh copy of its small world: a call
    that changed any table (but the log and the feed) moved the revision, and one that changed
    nothing did not."""
    import shutil

    from fake_letta import FakeLetta
    from test_roles import HARMLESS, world

    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.domain.registry import Registry

    changed = []
    with FakeLetta() as letta:
        letta.agents = [{"id": "agent-a", "name": "Athena"}]
        base = tmp_path / "world"
        base.mkdir()
        registry = await Registry.open(base / "registry.db")
        try:
            await world(registry, letta)
        finally:
            await registry.close()
        for name in all_tools():
            here = tmp_path / name
            shutil.copytree(base, here)
            registry = await Registry.open(here / "registry.db")
            try:
                async with Client(build_server(registry)) as client:
                    before, revision = registry_content(registry.db.path), await registry.notifier.current()
                    result = await client.call_tool(name, HARMLESS[name])
                    preview = re.search(r"confirm='([0-9a-f]+)'", result.content[0].text) if result.is_error else None
                    if preview is not None:  # a destructive tool previews first (changing nothing), then acts
                        assert await registry.notifier.current() == revision, name
                        result = await client.call_tool(name, {**HARMLESS[name], "confirm": preview.group(1)})
                    after, now = registry_content(registry.db.path), await registry.notifier.current()
            finally:
                await registry.close()
            assert not result.is_error, (name, result.content[0].text[:300])
            differs = sorted(t for t in before if before[t] != after.get(t))
            assert (now > revision) == bool(differs), (name, differs, revision, now)
            if differs:
                changed.append(name)
    mutating = {name for name, spec in all_tools().items() if spec.mutates}
    # Every tool that may change something did here, but those whose harmless call is a no-op.
    # (already enabled, not linked, at its default, already synced; a note only writes the log)
    no_ops = {"enable_plugin", "unlink_plugin", "reset_config", "rollback_config", "sync_letta_agents",
              "sync_smcp_plugins", "log_event"}
    assert mutating - set(changed) <= no_ops, sorted(mutating - set(changed))
