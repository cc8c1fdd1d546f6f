"""What the protocol offers beyond tools: completion/complete for the prompt's and the resource
templates' arguments (narrowed by the caller's permissions, bounded), and logging/setLevel (accepted,
and never a way to raise the server's own logging). In-memory SDK clients in both protocol eras,
real `sanctum-mcp serve` subprocesses over HTTP and stdio."""

from __future__ import annotations

import logging

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference
from support import athena_monday_and_instances, call, start_http_server, stop
from test_auth import http_client

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller, Permissions
from sanctum_mcp.domain.users.models import PermissionSet
from sanctum_mcp.server.app import build_server

PROMPT = PromptReference(name="configure_sanctum")
AGENT = ResourceTemplateReference(uri="sanctum://agents/{name}")
CONFIG = ResourceTemplateReference(uri="sanctum://config/{scope}/{target}")


async def complete(client: Client, ref, name: str, value: str, context: dict[str, str] | None = None):
    return (await client.complete(ref, {"name": name, "value": value}, context)).completion


async def values(client: Client, ref, name: str, value: str, context: dict[str, str] | None = None) -> list[str]:
    return (await complete(client, ref, name, value, context)).values


# --- completion/complete ----------------------------------------------------------------------------


async def test_completion_offers_agent_names_by_prefix_ignoring_case(client, registry):
    for name in ("Athena", "Atlas", "Monday"):
        await registry.agents.create(registry.operator, {"name": name, "config": {}})
    assert await values(client, PROMPT, "agent", "at") == ["Athena", "Atlas"]
    assert await values(client, PROMPT, "agent", "") == ["Athena", "Atlas", "Monday"]
    assert await values(client, AGENT, "name", "MON") == ["Monday"]
    assert await values(client, AGENT, "name", "zz") == []
    # A prefix match, not a substring match.
    assert await values(client, AGENT, "name", "thena") == []


async def test_completion_of_a_config_target_follows_its_scope(client, registry):
    mine, theirs, host = await athena_monday_and_instances(registry)
    await registry.users.create(registry.operator, username="ana", role="viewer", email=None, permissions=None)
    assert await values(client, CONFIG, "scope", "") == ["agent", "instance", "tool", "user"]
    assert await values(client, CONFIG, "scope", "IN") == ["instance"]
    assert await values(client, CONFIG, "target", "", {"scope": "agent"}) == ["Athena", "Monday"]
    assert await values(client, CONFIG, "target", "n", {"scope": "tool"}) == ["notes"]
    assert await values(client, CONFIG, "target", "", {"scope": "instance"}) == [
        str(i.id) for i in sorted((mine, theirs, host), key=lambda i: i.id)]
    assert await values(client, CONFIG, "target", "", {"scope": "user"}) == ["ana", "operator"]
    # Without the scope there is nothing sensible to offer, and the system scope has no target.
    assert await values(client, CONFIG, "target", "") == []
    assert await values(client, CONFIG, "target", "", {"scope": "system"}) == []
    assert await values(client, CONFIG, "target", "", {"scope": "nonsense"}) == []


async def test_completion_is_narrowed_by_permissions_agents(registry):
    """An agent-limited user is offered only what the resources would show them: their agents, their
    agents' and host-wide instances, every tool (shared), and among users only themselves."""
    mine, theirs, host = await athena_monday_and_instances(registry)
    await registry.users.create(registry.operator, username="alice", role="user", email=None, permissions=None)
    limited = Caller("alice", "user", None, Permissions(agents=frozenset({"athena"})))
    for options in ({}, {"mode": "legacy"}):
        async with Client(build_server(registry, identify=lambda _ctx: limited), **options) as client:
            assert await values(client, PROMPT, "agent", "") == ["Athena"]
            assert await values(client, AGENT, "name", "mon") == []
            assert await values(client, CONFIG, "target", "", {"scope": "agent"}) == ["Athena"]
            assert await values(client, CONFIG, "target", "", {"scope": "instance"}) == sorted(
                [str(mine.id), str(host.id)], key=int)
            assert await values(client, CONFIG, "target", "", {"scope": "tool"}) == ["notes", "shared"]
            assert await values(client, CONFIG, "target", "", {"scope": "user"}) == ["alice"]


async def test_completion_offers_nothing_behind_a_tool_the_caller_may_not_call(registry):
    """A resource or prompt passes the gate of the tool whose data it shows (get_agent for
    sanctum://agents/{name}, list_config for the config template and the prompt): completions for
    it follow the same role and permissions.tools."""
    await athena_monday_and_instances(registry)
    only_get_agent = Caller("tina", "viewer", None, Permissions(tools=frozenset({"get_agent"})))
    async with Client(build_server(registry, identify=lambda _ctx: only_get_agent)) as client:
        assert await values(client, AGENT, "name", "") == ["Athena", "Monday"]
        assert await values(client, PROMPT, "agent", "") == []
        assert await values(client, CONFIG, "scope", "") == []
        assert await values(client, CONFIG, "target", "", {"scope": "agent"}) == []


async def test_completion_over_http_is_narrowed_by_the_tokens_user(db_path):
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        mine, theirs, host = await athena_monday_and_instances(registry)
        await registry.users.create(op, username="alice", role="user", email=None,
                                    permissions=PermissionSet(agents=["Athena"]))
        alice = (await registry.users.create_token(op, "alice", "test")).token
        admin = (await registry.users.create_token(op, "operator", "test")).token
    finally:
        await registry.close()
    server = start_http_server(db_path)
    try:
        async with http_client(server.mcp_url, alice) as client:
            assert client.server_capabilities.completions is not None
            assert await values(client, PROMPT, "agent", "") == ["Athena"]
            assert await values(client, CONFIG, "target", "", {"scope": "instance"}) == sorted(
                [str(mine.id), str(host.id)], key=int)
            assert await values(client, CONFIG, "target", "", {"scope": "user"}) == ["alice"]
        async with http_client(server.mcp_url, admin) as client:
            assert await values(client, PROMPT, "agent", "") == ["Athena", "Monday"]
            assert await values(client, CONFIG, "target", "", {"scope": "user"}) == ["alice", "operator"]
    finally:
        stop(server.process)
        server.log.close()


async def test_completion_is_bounded_to_100_values(client, registry):
    def tx(conn):
        conn.executemany("INSERT INTO agents (name) VALUES (?)", [(f"Agent-{i:03d}",) for i in range(150)])

    await registry.db.write(tx)
    first = await complete(client, PROMPT, "agent", "agent-")
    assert len(first.values) == 100 and first.has_more is True
    assert first.values == [f"Agent-{i:03d}" for i in range(100)]
    narrow = await complete(client, PROMPT, "agent", "agent-14")
    assert narrow.values == [f"Agent-{i:03d}" for i in range(140, 150)] and not narrow.has_more
    assert narrow.total == 10


async def test_completion_of_hostile_values_answers_nothing_without_error(client, registry):
    await registry.agents.create(registry.operator, {"name": "Athena", "config": {}})
    # LIKE's wildcards and its escape character are literal text, a huge value matches nothing.
    for value in ("%", "_thena", "\\", "A%", "x" * 1_000_000, "\u0000"):
        assert await values(client, PROMPT, "agent", value) == [], value
    assert await values(client, AGENT, "name", "a") == ["Athena"]


async def test_completion_of_unknown_references_answers_empty(client, registry):
    await registry.agents.create(registry.operator, {"name": "Athena", "config": {}})
    assert await values(client, PromptReference(name="no_such_prompt"), "agent", "") == []
    assert await values(client, PROMPT, "no_such_argument", "") == []
    assert await values(client, ResourceTemplateReference(uri="sanctum://nowhere/{x}"), "x", "") == []


# --- logging/setLevel -----------------------------------------------------------------------------


async def test_logging_set_level_is_accepted_on_handshake_versions(server):
    async with Client(server, mode="legacy") as client:
        assert client.server_capabilities.logging is not None
        own, sdk = logging.getLogger("sanctum_mcp").level, logging.getLogger("mcp").level
        for level in ("debug", "info", "emergency"):
            assert (await client.set_logging_level(level)).model_dump(exclude_none=True) == {}
        # The level is the client's: the server's own loggers stay where the operator put them.
        assert (logging.getLogger("sanctum_mcp").level, logging.getLogger("mcp").level) == (own, sdk)


async def test_logging_set_level_debug_never_raises_server_logging_of_secrets(db_path):
    """A client asking for debug logs must not turn on DEBUG logging on the server's stderr: the
    SDK's and sse_starlette's DEBUG records hold whole messages and streamed results, so a secret
    being set or revealed."""
    secret = "hunter2-very-secret-value"
    server = start_http_server(db_path, "--trust-loopback", "--stream-responses", "-v")
    try:
        async with httpx2.AsyncClient(timeout=30) as http:
            async with Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy") as client:
                await client.set_logging_level("debug")
                await call(client, "set_config", {"key": "api_secret", "value": secret, "scope": "system",
                                                  "sensitive": True, "category": "api_keys"})
                revealed = await call(client, "get_config", {"key": "api_secret", "reveal": True})
                assert revealed["revealed_value"] == secret
    finally:
        stop(server.process)
        server.log.seek(0)
        logged = server.log.read().decode(errors="replace")
        server.log.close()
    assert "api_secret" in logged or "get_config" in logged  # -v: the server did log the calls
    assert secret not in logged


async def test_logging_set_level_over_http_on_handshake_versions_only(http_server):
    async with httpx2.AsyncClient(timeout=30) as http:
        async with Client(streamable_http_client(http_server.mcp_url, http_client=http), mode="legacy") as client:
            assert client.protocol_version.startswith("2025")
            assert (await client.set_logging_level("warning")).model_dump(exclude_none=True) == {}
            await call(client, "list_agents")
    # 2026-07-28 removed the method (log delivery is a per-request opt-in there).
    async with http_client(http_server.mcp_url, None) as client:
        assert not client.protocol_version.startswith("2025")
        with pytest.raises(MCPError, match="Method not found"):
            await client.set_logging_level("warning")


async def test_every_prompt_and_template_argument_is_completed(client):
    """A new resource template or prompt argument gets a row in server/completions.py:OFFERS."""
    import re

    from sanctum_mcp.server.completions import OFFERS

    wanted = {("template", t.uri_template, var) for t in (await client.list_resource_templates()).resource_templates
              for var in re.findall(r"{(\w+)}", t.uri_template)}
    wanted |= {("prompt", p.name, a.name) for p in (await client.list_prompts()).prompts for a in p.arguments or []}
    assert wanted and wanted <= set(OFFERS), sorted(wanted - set(OFFERS))
    from sanctum_mcp.catalogue import find_tool

    assert all(find_tool(tool) is not None for _offer, tool in OFFERS.values())
