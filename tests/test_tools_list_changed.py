"""tools/list_changed (issue 15, "Live"): a session's tool list follows its user's role,
permissions.tools, active flag and tokens; when a change alters what a live session would list, that
session (and only it) is told. Through real clients: a real `sanctum-mcp serve --transport http` with
users' tokens, a stdio subprocess, CLI subprocesses on the same database."""

from __future__ import annotations

import contextlib
import json
import logging
import warnings

import anyio
import httpx2
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from support import Notifications, call, cli, stdio_params

from sanctum_mcp.server import subscriptions
from sanctum_mcp.server.app import build_server

WAIT = 60  # seconds: a generous bound that fails on a hang, never a timing assertion
ANN_TOOLS = ["list_agents", "get_agent", "changes_since"]


class ToolsInbox(Notifications):
    """Every notifications/tools/list_changed a client receives."""

    def __init__(self) -> None:
        super().__init__("notifications/tools/list_changed", WAIT)

    async def next(self) -> int:
        await self.arrival()
        return self.count


@contextlib.asynccontextmanager
async def http_client(url: str, token: str | None = None, inbox=None, *, modern: bool = False):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    options = {} if modern else {"mode": "legacy"}  # modern: the SDK's default, 2026-07-28
    async with httpx2.AsyncClient(timeout=30, headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http), message_handler=inbox, **options) as c:
            yield c


async def names(client: Client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


async def user_with_token(admin: Client, username: str, **fields) -> str:
    await call(admin, "create_user", {"username": username, **fields})
    return (await call(admin, "create_api_token", {"user": username}))["token"]


async def test_a_user_whose_tools_an_admin_narrows_is_told_and_lists_the_change_and_no_one_else_is(served):
    ann_inbox, bob_inbox = ToolsInbox(), ToolsInbox()
    async with http_client(served.mcp_url) as admin:  # the loopback operator
        ann_token = await user_with_token(admin, "ann", role="user", permissions={"tools": ANN_TOOLS})
        bob_token = await user_with_token(admin, "bob", role="user")
        async with http_client(served.mcp_url, ann_token, ann_inbox) as ann, \
                http_client(served.mcp_url, bob_token, bob_inbox) as bob:
            assert ann.server_capabilities.tools.list_changed is True
            # The listing is per caller, from the same cache: ann sees her three, bob his role's.
            assert await names(ann) == set(ANN_TOOLS)
            bob_sees = await names(bob)
            assert "get_agent" in bob_sees and "create_agent" in bob_sees and "create_user" not in bob_sees

            await call(admin, "update_user", {"user": "ann", "permissions": {"tools": ["list_agents", "changes_since"]}})
            assert await ann_inbox.next() == 1
            assert await names(ann) == {"list_agents", "changes_since"}
            assert await names(bob) == bob_sees

            # Unrelated changes (a setting, another agent) change no one's tool list: nothing is sent.
            await call(admin, "set_config", {"key": "flask_port", "value": "9100"})
            await call(admin, "create_agent", {"name": "Athena"})
            # Changing ann's e-mail touches her but not her tool list: nothing either.
            await call(admin, "update_user", {"user": "ann", "email": "ann@example.org"})
            # The follower handles revisions in order: once ann hears of this later change, every
            # earlier one has been handled (and anything for bob already sent).
            await call(admin, "update_user", {"user": "ann", "permissions": {"tools": ANN_TOOLS}})
            assert await ann_inbox.next() == 2
            assert await names(ann) == set(ANN_TOOLS)
            await anyio.sleep(1)  # time for anything else the follower sent (in order) to arrive
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ping is removed at 2026-07-28, not at 2025
                await bob.send_ping()
            assert bob_inbox.count == 0 and ann_inbox.count == 2


async def test_a_revoked_token_or_a_deactivated_user_is_told_its_list_changed(served, db_path):
    inbox, other_inbox = ToolsInbox(), ToolsInbox()
    async with http_client(served.mcp_url) as admin:
        first = await user_with_token(admin, "ann", role="user")
        second = (await call(admin, "create_api_token", {"user": "ann"}))
        async with http_client(served.mcp_url, first, inbox) as ann, \
                http_client(served.mcp_url, second["token"], other_inbox):
            assert "get_agent" in await names(ann)
            done = await anyio.to_thread.run_sync(lambda: cli(db_path, "user", "revoke-token", str(second["token_id"])))
            assert done.returncode == 0, done.stderr
            assert await other_inbox.next() == 1  # the session signed in with the revoked token
            # ann's session on her other token lists what it did: nothing for it. Then ann is deactivated.
            await call(admin, "deactivate_user", {"user": "ann"})
            assert await inbox.next() == 1
            assert other_inbox.count == 1


async def test_a_legacy_sse_session_is_told_as_a_streamable_http_one_is(served):
    inbox = ToolsInbox()
    async with http_client(served.mcp_url) as admin:
        token = await user_with_token(admin, "ann", role="user", permissions={"tools": ANN_TOOLS})
        async with sse_client(served.sse_url, headers={"Authorization": f"Bearer {token}"}) as (read, write), \
                ClientSession(read, write, message_handler=inbox) as ann:
            await ann.initialize()
            assert {t.name for t in (await ann.list_tools()).tools} == set(ANN_TOOLS)
            await call(admin, "update_user", {"user": "ann", "permissions": {"tools": ["list_agents"]}})
            assert await inbox.next() == 1
            assert {t.name for t in (await ann.list_tools()).tools} == {"list_agents"}


async def test_a_listen_stream_of_2026_asking_for_tool_list_changes_hears_of_its_own_user_only(served):
    async with http_client(served.mcp_url) as admin:
        ann_token = await user_with_token(admin, "ann", role="user")
        bob_token = await user_with_token(admin, "bob", role="user")
        async with http_client(served.mcp_url, ann_token, modern=True) as ann, \
                http_client(served.mcp_url, bob_token, modern=True) as bob:
            async with ann.listen(tools_list_changed=True) as ann_events, \
                    bob.listen(tools_list_changed=True) as bob_events, anyio.create_task_group() as tg:
                bob_heard: list[str] = []
                bob_arrived = anyio.Event()

                async def collect() -> None:
                    async for event in bob_events:
                        bob_heard.append(type(event).__name__)
                        bob_arrived.set()

                tg.start_soon(collect)
                await call(admin, "update_user", {"user": "ann", "role": "viewer"})
                with anyio.fail_after(WAIT):
                    event = await ann_events.__anext__()
                assert type(event).__name__ == "ToolsListChanged"
                assert "create_agent" not in await names(ann)
                await call(admin, "update_user", {"user": "bob", "role": "viewer"})
                with anyio.fail_after(WAIT):
                    await bob_arrived.wait()
                await call(admin, "update_user", {"user": "ann", "role": "user"})
                with anyio.fail_after(WAIT):
                    await ann_events.__anext__()
                assert "create_agent" in await names(ann)
                await anyio.sleep(1)  # time for anything else the follower sent (in order) to arrive
                assert bob_heard == ["ToolsListChanged"]  # his own change only, never ann's two
                tg.cancel_scope.cancel()


async def test_a_stdio_session_for_the_local_user_is_told_when_its_role_changes(db_path):
    done = cli(db_path, "user", "add", "ops", "--role", "admin")
    assert done.returncode == 0, done.stderr
    inbox = ToolsInbox()
    async with Client(stdio_params(db_path, "--no-scheduler", "--user", "ops"), mode="legacy",
                      message_handler=inbox) as ops:
        assert ops.server_capabilities.tools.list_changed is True
        assert "create_user" in await names(ops)
        done = await anyio.to_thread.run_sync(lambda: cli(db_path, "config", "set", "flask_port", "9100"))
        assert done.returncode == 0, done.stderr
        done = await anyio.to_thread.run_sync(lambda: cli(db_path, "users", "update", "ops", "--role", "viewer"))
        assert done.returncode == 0, done.stderr
        await inbox.next()
        listed = await names(ops)
        assert "create_user" not in listed and "create_agent" not in listed and "list_agents" in listed
        await anyio.sleep(1)  # time for anything else the follower sent (in order) to arrive
        assert inbox.count == 1  # the setting before it sent nothing


async def test_a_stdio_listen_stream_of_2026_is_told_when_the_local_users_role_changes(db_path):
    done = cli(db_path, "user", "add", "ops", "--role", "admin")
    assert done.returncode == 0, done.stderr
    async with Client(stdio_params(db_path, "--no-scheduler", "--user", "ops")) as ops:  # 2026-07-28
        assert "create_user" in await names(ops)
        async with ops.listen(tools_list_changed=True) as events:
            done = await anyio.to_thread.run_sync(lambda: cli(db_path, "users", "update", "ops", "--role", "viewer"))
            assert done.returncode == 0, done.stderr
            with anyio.fail_after(WAIT):
                event = await events.__anext__()
            assert type(event).__name__ == "ToolsListChanged"
        assert "create_user" not in await names(ops) and "list_agents" in await names(ops)


async def test_followed_sessions_are_bounded_and_end_with_their_session(registry, monkeypatch, caplog):
    monkeypatch.setattr(subscriptions, "MAX_TRACKED", 2)
    caplog.set_level(logging.WARNING, logger="sanctum_mcp.subscriptions")
    server = build_server(registry)  # the local user, as over stdio
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            client = await stack.enter_async_context(Client(server, mode="legacy"))
            await client.list_tools()
        assert server.followers.tracked() == 2
        assert "the most whose tool list is followed" in caplog.text
    assert server.followers.tracked() == 0  # the sessions ended: nothing of them is kept


async def test_a_restore_keeps_users_so_it_changes_no_tool_list_and_sends_nothing(db_path):
    # A restore carries the live users and tokens over (domain/backups/restore.py): ops stays an
    # admin though the backup holds ops as a viewer. Every session's list is computed again, unchanged.
    for args in (("user", "add", "ops", "--role", "viewer"), ("backup",), ("users", "update", "ops", "--role", "admin")):
        done = cli(db_path, *args)
        assert done.returncode == 0, done.stderr
        if args == ("backup",):
            backup_id = json.loads(done.stdout)["id"]
    inbox = ToolsInbox()
    async with Client(stdio_params(db_path, "--no-scheduler", "--user", "ops"), mode="legacy",
                      message_handler=inbox) as ops:
        assert "create_user" in await names(ops)
        for args in (("restore", str(backup_id), "--yes"), ("users", "update", "ops", "--role", "user")):
            done = await anyio.to_thread.run_sync(lambda args=args: cli(db_path, *args))
            assert done.returncode == 0, done.stderr
        await inbox.next()  # for the role change, handled after the restore
        listed = await names(ops)
        assert "create_user" not in listed and "create_agent" in listed
        await anyio.sleep(1)  # time for anything else the follower sent (in order) to arrive
        assert inbox.count == 1
