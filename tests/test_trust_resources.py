"""Resources and the configure_sanctum prompt pass the same gate as the tools whose data they show.

A user narrowed by `permissions.tools` or `permissions.agents` must not read through a resource or
the prompt what the tools would refuse them. Real `sanctum-mcp serve` subprocesses, over stdio
acting as a real user of a real database file (`--user`), and over HTTP as a bearer token's user.
"""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from support import athena_monday_and_instances, start_http_server, stdio_params, stop

from sanctum_mcp.domain.users.models import PermissionSet

# Every resource (and template, filled in) -> the tools whose data it shows.
RESOURCES = {
    "sanctum://agents": ["list_agents"],
    "sanctum://agents/Athena": ["get_agent"],
    "sanctum://config/system": ["list_config"],
    "sanctum://config/agent/Athena": ["list_config"],
    "sanctum://config/tool/notes": ["list_config"],
    "sanctum://jobs/due": ["list_jobs", "query_logs"],
}


async def add_user(registry, name: str, role: str, **permissions) -> None:
    await registry.users.create(registry.operator, username=name, role=role, email=None,
                                permissions=PermissionSet(**permissions) if permissions else None)


async def refused(client: Client, uri: str) -> str:
    with pytest.raises(MCPError) as failure:
        await client.read_resource(uri)
    text = str(failure.value)
    assert "Traceback" not in text
    return text


async def test_resources_follow_permissions_tools(registry, db_path):
    await athena_monday_and_instances(registry)
    await registry.config.set(registry.operator, "smcp_port", "9001", scope="agent", target="Athena")
    await add_user(registry, "lister", "admin", tools=["list_tools"])
    await add_user(registry, "reader", "viewer", tools=["get_agent", "list_jobs"])
    templates = {"sanctum://agents/{name}", "sanctum://config/{scope}/{target}"}
    async with Client(stdio_params(db_path, "--user", "lister")) as client:
        # The table above covers every resource and template the server publishes.
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        listed |= {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert listed == {u for u in RESOURCES if "Athena" not in u and "notes" not in u} | templates | {"sanctum://schema"}
        for uri, tools in RESOURCES.items():
            error = await refused(client, uri)
            assert "not among the tools 'lister' may call" in error and tools[0] in error, (uri, error)
        # The schema shows no registry data: anyone may read it.
        assert "CREATE TABLE" in (await client.read_resource("sanctum://schema")).contents[0].text
    async with Client(stdio_params(db_path, "--user", "reader")) as client:
        assert json.loads((await client.read_resource("sanctum://agents/Athena")).contents[0].text)["name"] == "Athena"
        assert "list_agents" in await refused(client, "sanctum://agents")
        # jobs/due also shows job runs from the logs: both tools are needed.
        assert "query_logs" in await refused(client, "sanctum://jobs/due")
        assert "smcp_port" not in await refused(client, "sanctum://config/agent/Athena")


async def test_configure_sanctum_prompt_follows_permissions(registry, db_path):
    await athena_monday_and_instances(registry)
    op = registry.operator
    await registry.config.set(op, "smcp_port", "9101", scope="agent", target="Athena")
    await registry.config.set(op, "smcp_port", "9202", scope="agent", target="Monday")
    await add_user(registry, "alice", "user", agents=["Athena"])
    await add_user(registry, "bot", "user", tools=["get_agent"])
    async with Client(stdio_params(db_path, "--user", "alice")) as client:
        mine = (await client.get_prompt("configure_sanctum", {"agent": "Athena"})).messages[0].content.text
        assert "smcp_port = 9101" in mine and "9202" not in mine
        with pytest.raises(MCPError) as failure:
            await client.get_prompt("configure_sanctum", {"agent": "Monday"})
        assert "may only act on the agents Athena" in str(failure.value) and "9202" not in str(failure.value)
        plain = (await client.get_prompt("configure_sanctum", {})).messages[0].content.text
        assert "## Current system settings" in plain and "9202" not in plain
    async with Client(stdio_params(db_path, "--user", "bot")) as client:
        for args in ({}, {"agent": "Athena"}):
            with pytest.raises(MCPError) as failure:
                await client.get_prompt("configure_sanctum", args)
            assert "not among the tools 'bot' may call" in str(failure.value) and "list_config" in str(failure.value)
            assert "9101" not in str(failure.value)


async def test_refused_resource_reads_are_audited(registry, db_path):
    await add_user(registry, "lister", "admin", tools=["list_tools"])
    async with Client(stdio_params(db_path, "--user", "lister")) as client:
        await refused(client, "sanctum://config/system")
    rows = await registry.db.read(lambda conn: conn.execute(
        "SELECT message FROM logs WHERE action = 'access.denied'").fetchall())
    assert len(rows) == 1 and "list_config" in rows[0][0]


async def test_resources_follow_the_token_user_over_http(registry, db_path):
    """Over HTTP the caller is the bearer token's user, for static resources too (the SDK gives them
    no Context; the gate still finds who is reading)."""
    await athena_monday_and_instances(registry)
    await add_user(registry, "lister", "admin", tools=["list_tools"])
    await add_user(registry, "alice", "viewer", agents=["Athena"])
    tokens = {name: (await registry.users.create_token(registry.operator, name, None)).token for name in ("lister", "alice")}
    server = start_http_server(db_path)
    try:
        for name, expect in (("lister", "not among the tools 'lister' may call"), ("alice", None)):
            headers = {"Authorization": f"Bearer {tokens[name]}"}
            async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
                async with Client(streamable_http_client(server.mcp_url, http_client=http)) as client:
                    for uri in ("sanctum://agents", "sanctum://config/system", "sanctum://jobs/due"):
                        if expect:
                            assert expect in await refused(client, uri)
                        else:
                            assert (await client.read_resource(uri)).contents
                    if name == "alice":
                        assert "may only act on the agents Athena" in await refused(client, "sanctum://agents/Monday")
    finally:
        stop(server.process)
        server.log.close()
