"""Toolsets, profiles, --tools, --read-only and per-URL selection; listings that follow the caller.

Through real clients: stdio and HTTP subprocesses, the SDK's in-memory client.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import REPO, call_error, server_env, snapshot, start_http_server, stdio_params

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller, Permissions
from sanctum_mcp.server.app import build_server

# What the issue asks of the assistant profile, written out here rather than read from the code.
ASSISTANT = {
    "list_agents", "get_agent", "set_agent_status",
    "get_config", "list_config", "config_history", "set_config", "reset_config",
    "list_jobs", "get_job", "preview_job_runs", "query_logs", "changes_since",
}


async def names(client: Client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


@asynccontextmanager
async def http_client(url: str, token: str | None = None, **options) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), **options) as client:
            yield client


def refusal_shape(text: str, name: str) -> str:
    return text.replace(repr(name), "NAME")


async def test_assistant_profile_lists_and_serves_only_its_tools(db_path):
    async with Client(stdio_params(db_path, "--toolsets", "assistant")) as client:
        assert await names(client) == ASSISTANT
        before = snapshot(db_path)
        outside = await call_error(client, "create_user", {"username": "mallory", "role": "admin"})
        missing = await call_error(client, "no_such_tool", {})
        assert "is not a tool of this endpoint" in outside and "tools/list" in outside
        # The same words whether the tool exists elsewhere or not: nothing to probe.
        assert refusal_shape(outside, "create_user") == refusal_shape(missing, "no_such_tool")
        assert snapshot(db_path) == before


async def test_read_only_wins_over_toolsets_and_tools_from_the_environment(db_path):
    env = {"SANCTUM_MCP_TOOLSETS": "config", "SANCTUM_MCP_TOOLS": "create_user", "SANCTUM_MCP_READ_ONLY": "1"}
    async with Client(stdio_params(db_path, **env)) as client:
        assert await names(client) == {"get_config", "list_config", "config_history", "export_config"}
        text = await call_error(client, "set_config", {"key": "x", "value": 1, "scope": "system"})
        assert "is not a tool of this endpoint" in text


def test_unknown_toolset_or_tool_is_refused_at_start(db_path):
    for args, valid in ((["--toolsets", "config,athena"], "agents, config, tools"),
                        (["--tools", "get_config,fly"], "list_agents, get_agent"),
                        ([], "1 or 0")):
        env = server_env(db_path, **({"SANCTUM_MCP_READ_ONLY": "maybe"} if not args else {}))
        done = subprocess.run([sys.executable, "-m", "sanctum_mcp", "serve", *args], env=env, input="",
                              capture_output=True, text=True, timeout=60, cwd=str(REPO.parent))
        assert done.returncode != 0, done
        assert valid in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not db_path.exists(), "refused before anything was opened"


async def test_url_selects_toolsets_over_http_and_unknown_url_names_the_valid_ones(db_path):
    server = start_http_server(db_path, "--trust-loopback")
    try:
        async with http_client(server.mcp_url) as everything:
            assert await names(everything) == set(all_tools())
        async with http_client(f"{server.mcp_url}/x/assistant") as assistant:
            assert await names(assistant) == ASSISTANT
            before = snapshot(db_path)
            text = await call_error(assistant, "create_api_token", {"user": "operator"})
            assert "is not a tool of this endpoint" in text
            assert snapshot(db_path) == before
            resources = {str(r.uri) for r in (await assistant.list_resources()).resources}
            assert "sanctum://agents" in resources
        # A 2025-era client keeps a session; every request of it is held to the URL it was sent to.
        async with http_client(f"{server.mcp_url}/x/logs,jobs", mode="legacy") as narrow:
            assert await names(narrow) == {n for n, s in all_tools().items() if s.group in ("Logs", "Jobs")}
            assert "is not a tool of this endpoint" in await call_error(narrow, "list_users")
        answer = httpx.post(f"{server.mcp_url}/x/athena", json={}, timeout=30)
        assert answer.status_code == 404 and "assistant" in answer.json()["error"], answer.text
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


async def test_serve_selection_is_the_ceiling_of_every_url(db_path):
    server = start_http_server(db_path, "--trust-loopback", "--read-only")
    try:
        async with http_client(f"{server.mcp_url}/x/assistant") as assistant:
            assert await names(assistant) == {n for n in ASSISTANT if all_tools()[n].read_only}
            assert "is not a tool of this endpoint" in await call_error(assistant, "set_agent_status",
                                                                         {"agent": "x", "status": "Inactive"})
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


async def test_listing_follows_the_callers_role_and_permissions(registry):
    viewer = Caller(username="vic", role="viewer")
    async with Client(build_server(registry, identify=lambda _ctx: viewer)) as client:
        listed = await names(client)
        assert listed == {n for n, s in all_tools().items() if s.role == "viewer"}
        assert "create_user" not in listed and "list_users" not in listed
    limited = Caller(username="lim", role="user", permissions=Permissions(tools=frozenset({"get_agent", "list_users"})))
    async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
        assert await names(client) == {"get_agent"}  # list_users needs admin
        # Outside the caller's rights but inside the selection: authorize()'s own refusal, as before.
        assert "not among the tools" in await call_error(client, "list_agents")


async def test_listing_over_http_follows_the_tokens_role(db_path):
    registry = await Registry.open(db_path)
    try:
        await registry.users.create(registry.operator, username="vic", role="viewer", email=None, permissions=None)
        token = (await registry.users.create_token(registry.operator, "vic", "test")).token
    finally:
        await registry.close()
    server = start_http_server(db_path)
    try:
        async with http_client(server.mcp_url, token) as client:
            assert await names(client) == {n for n, s in all_tools().items() if s.role == "viewer"}
        async with http_client(f"{server.mcp_url}/x/config", token) as client:
            assert await names(client) == {"get_config", "list_config", "config_history", "export_config"}
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


async def test_resources_and_prompt_follow_the_selection(registry):
    from sanctum_mcp.catalogue.toolsets import select

    async with Client(build_server(registry, selection=select(toolsets="logs"))) as client:
        assert {str(r.uri) for r in (await client.list_resources()).resources} == {"sanctum://schema"}
        assert (await client.list_resource_templates()).resource_templates == []
        assert (await client.list_prompts()).prompts == []
        try:
            await client.read_resource("sanctum://agents")
        except Exception as exc:  # the SDK raises the server's error
            assert "does not serve list_agents" in str(exc)
        else:
            raise AssertionError("a resource of an unselected tool was read")


# --- the context budget ------------------------------------------------------------------------------
#
# What a model reads of each tool (name + description + inputSchema, compact JSON) and the whole
# tools/list as the client receives it. Tokens are estimated as bytes / 4 (no tokenizer offline);
# benchmarks/bench_listing.py reports the same figures for every toolset and profile.
# Issue 16's targets: 8,000 tokens and 90 KB for all, 3,000 tokens for assistant. New tools must fit
# within these (say each thing once; a model needs the rule, not the history).
BUDGETS = {  # selection -> (model-facing tokens, whole listing bytes or None)
    "all": (8_000, 90_000),
    "assistant": (3_000, None),
}


def _budget_selection(name: str):
    from sanctum_mcp.catalogue.toolsets import select

    return select(toolsets=name)


def _compact(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def test_listing_stays_within_its_context_budget(registry):
    over = []
    for name, (tokens, whole) in BUDGETS.items():
        async with Client(build_server(registry, selection=_budget_selection(name))) as client:
            listing = (await client.list_tools()).model_dump(by_alias=True, exclude_none=True, mode="json")
        sizes = {t["name"]: len((t["name"] + t.get("description", "") + _compact(t["inputSchema"])).encode())
                 for t in listing["tools"]}
        full = {t["name"]: len(_compact(t).encode()) for t in listing["tools"]}
        estimated, total = sum(sizes.values()) // 4, len(_compact(listing).encode())
        largest = ", ".join(f"{n} {b:,} B" for n, b in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
        if estimated > tokens:
            over.append(f"{name}: ~{estimated:,} tokens model-facing > {tokens:,}; largest: {largest}")
        if whole is not None and total > whole:
            largest = ", ".join(f"{n} {b:,} B" for n, b in sorted(full.items(), key=lambda kv: -kv[1])[:5])
            over.append(f"{name}: tools/list {total:,} B > {whole:,}; largest with output schemas: {largest}")
    assert not over, "the listing outgrew its budget (tighten descriptions or schemas):\n" + "\n".join(over)


async def test_completions_follow_the_selection(registry):
    """completion/complete offers registry names only for a prompt or template the endpoint serves."""
    from mcp_types import PromptReference, ResourceTemplateReference
    from support import athena_monday_and_instances

    from sanctum_mcp.catalogue.toolsets import select

    await athena_monday_and_instances(registry)
    template = ResourceTemplateReference(uri="sanctum://agents/{name}")
    prompt = PromptReference(name="configure_sanctum")
    async with Client(build_server(registry)) as client:  # the same question where it is served
        assert "Athena" in (await client.complete(template, {"name": "name", "value": "A"})).completion.values
    async with Client(build_server(registry, selection=select(toolsets="logs"))) as client:
        for ref, argument in ((template, "name"), (prompt, "agent")):
            offered = (await client.complete(ref, {"name": argument, "value": "A"})).completion
            assert offered.values == [], (ref, offered)
