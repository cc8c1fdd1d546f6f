"""Real transports: a stdio subprocess, and one HTTP server serving Streamable HTTP and SSE."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import httpx
import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from support import REPO, call, call_error, server_env, start_http_server, stdio_params, stop

from sanctum_mcp.transports.http import BindRefused, check_bind, is_loopback


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_subprocess(db_path, mode):
    async with Client(stdio_params(db_path), mode=mode) as client:
        tools = (await client.list_tools()).tools
        assert "list_agents" in {t.name for t in tools}
        created = await call(client, "create_agent", {"name": "Athena"})
        assert (await call(client, "get_agent", {"agent": "athena"}))["id"] == created["id"]
        error = await call_error(client, "get_agent", {"agent": "Nobody"})
        assert "list_agents" in error
    with sqlite3.connect(db_path) as conn:  # the subprocess wrote the real file
        assert conn.execute("SELECT name FROM agents").fetchall() == [("Athena",)]


async def test_streamable_http_and_sse_share_one_registry(http_server):
    async with Client(http_server.mcp_url) as client:
        await call(client, "create_agent", {"name": "Monday"})
    # Two SSE connections at once: the SDK runs a lifespan per SSE connection, and the registry
    # must still be the one opened per process (both see the write made over /mcp).
    async with sse_client(http_server.sse_url) as (r1, w1), sse_client(http_server.sse_url) as (r2, w2):
        async with ClientSession(r1, w1) as one, ClientSession(r2, w2) as two:
            await one.initialize()
            await two.initialize()
            await call(one, "create_agent", {"name": "Timbre"})
            names = [a["name"] for a in (await call(two, "list_agents"))["agents"]]
            assert names == ["Monday", "Timbre"]
    async with Client(http_server.mcp_url) as client:  # a Letta-style fresh session per call
        assert len((await call(client, "list_agents"))["agents"]) == 2


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
BOTH = {"Accept": "application/json, text/event-stream"}


def test_requests_are_answered_with_one_json_body_by_default(http_server):
    response = httpx.post(http_server.mcp_url, json=INITIALIZE, headers=BOTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["result"]["serverInfo"]["name"] == "sanctum-mcp"


async def test_stream_responses_carry_progress_over_http(db_path):
    """--stream-responses: an SSE stream per request, so a backup's progress reaches the client
    before its result; by default (one JSON body) the same call succeeds without progress."""
    for option, expect_progress in (("--stream-responses", True), (None, False)):
        server = start_http_server(db_path, "--trust-loopback", *([option] if option else []))
        try:
            response = httpx.post(server.mcp_url, json=INITIALIZE, headers=BOTH)
            expected = "text/event-stream" if expect_progress else "application/json"
            assert response.headers["content-type"].startswith(expected)
            seen: list[str | None] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                seen.append(message)

            async with Client(server.mcp_url) as client:
                result = await client.call_tool("create_backup", {"name": f"b-{expect_progress}"},
                                                progress_callback=on_progress)
                assert not result.is_error
            assert (any(m and "completed" in m for m in seen)) is expect_progress, seen
        finally:
            stop(server.process)
            server.log.close()


def test_foreign_host_header_is_refused_with_421(http_server):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Host": "evil.example:9000", "Accept": "application/json, text/event-stream"}
    response = httpx.post(http_server.mcp_url, json=body, headers=headers)
    assert response.status_code == 421
    response = httpx.get(http_server.sse_url, headers={"Host": "evil.example"})
    assert response.status_code == 421
    response = httpx.post(http_server.mcp_url, json=body,
                          headers={"Origin": "http://evil.example", "Accept": "application/json, text/event-stream"})
    assert response.status_code == 403


def test_health_endpoint(http_server):
    assert httpx.get(f"{http_server.base}/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "203.0.113.7", "[::]"])
def test_non_loopback_addresses_are_refused_without_an_active_token(host):
    assert not is_loopback(host)
    with pytest.raises(BindRefused, match="refusing to serve"):
        check_bind(host, active_tokens=0)
    check_bind(host, active_tokens=1)


def test_serving_on_all_interfaces_refuses_to_start(db_path):
    done = subprocess.run(
        [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1"],
        env=server_env(db_path), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to serve on '0.0.0.0'" in done.stderr
    assert not db_path.exists()  # refused before touching anything


def test_newer_database_refused_at_the_command_line(db_path):
    subprocess.run([sys.executable, "-m", "sanctum_mcp", "init"], env=server_env(db_path), check=True,
                   capture_output=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", "serve"], env=server_env(db_path),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode != 0 and "schema version 99" in done.stderr and "Traceback" not in done.stderr


def test_installed_package_works_outside_the_checkout(tmp_path):
    """`pip install .` into a fresh venv; the command, `python -m` and the packaged schema work."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPO)],
                         capture_output=True, text=True, timeout=900)
    if pip.returncode != 0 and "Could not find a version" in pip.stderr + pip.stdout:
        pytest.skip(f"package index unreachable: {pip.stderr[-300:]}")
    assert pip.returncode == 0, pip.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "db").mkdir()  # a database's folder must exist (only ~/.sanctum is created on its own)
    env = server_env(tmp_path / "db" / "registry.db")
    for command in ([str(venv / "bin" / "sanctum-mcp")], [str(venv / "bin" / "python"), "-m", "sanctum_mcp"]):
        version = subprocess.run([*command, "--version"], cwd=elsewhere, env=env, capture_output=True, text=True)
        assert version.returncode == 0 and "sanctum-mcp" in version.stdout
        init = subprocess.run([*command, "init"], cwd=elsewhere, env=env, capture_output=True, text=True)
        assert init.returncode == 0, init.stderr
    with sqlite3.connect(tmp_path / "db" / "registry.db") as conn:
        assert conn.execute("SELECT count(*) FROM system_config").fetchone()[0] >= 9
