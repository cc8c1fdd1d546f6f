"""Independent clients against stdio, Streamable HTTP and SSE: the MCP Inspector CLI and the
TypeScript SDK (`tests/interop/ts_client.mjs`), both from npm.

They are installed from npm into tests/interop/ on first use. If npm or the registry is
unavailable, these tests are SKIPPED with the reason (never passed silently).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import server_env

pytestmark = pytest.mark.interop

INTEROP = Path(__file__).resolve().parent / "interop"
INSPECTOR = INTEROP / "node_modules" / "@modelcontextprotocol" / "inspector-cli" / "build" / "index.js"
TS_SDK = INTEROP / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"


@pytest.fixture(scope="session")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed: the interop tests cannot run")
    if not INSPECTOR.exists() or not TS_SDK.exists():
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=INTEROP,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"npm install of the interop clients failed (registry unreachable?): {done.stderr[-400:]}")
    return node


@pytest.fixture(scope="session")
def inspector(node) -> list[str]:
    return [node, str(INSPECTOR)]


def _run(inspector: list[str], target: list[str], *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([*inspector, *target, *args], capture_output=True, text=True, timeout=120,
                          env=env or dict(os.environ))
    assert done.returncode == 0, f"inspector failed: {done.stdout[-1000:]} {done.stderr[-1000:]}"
    return json.loads(done.stdout)


def _stdio_target(db_path: Path) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "stdio"], server_env(db_path)


def test_inspector_over_stdio(inspector, db_path):
    target, env = _stdio_target(db_path)
    listed = _run(inspector, target, "--method", "tools/list", env=env)
    assert "create_agent" in {t["name"] for t in listed["tools"]}
    created = _run(inspector, target, "--method", "tools/call", "--tool-name", "create_agent",
                   "--tool-arg", "name=Athena", env=env)
    assert created["isError"] is False and created["structuredContent"]["name"] == "Athena"
    read = _run(inspector, target, "--method", "tools/call", "--tool-name", "get_agent", "--tool-arg", "agent=athena", env=env)
    assert read["structuredContent"]["name"] == "Athena"
    resource = _run(inspector, target, "--method", "resources/read", "--uri", "sanctum://agents", env=env)
    assert "Athena" in resource["contents"][0]["text"]
    refused = _run(inspector, target, "--method", "tools/call", "--tool-name", "get_agent", "--tool-arg", "agent=Nobody", env=env)
    assert refused["isError"] is True and "list_agents" in refused["content"][0]["text"]


@pytest.mark.parametrize("path,transport", [("/mcp", "http"), ("/sse", "sse")])
def test_inspector_over_http(inspector, http_server, path, transport):
    url = f"{http_server.base}{path}"
    listed = _run(inspector, [url], "--transport", transport, "--method", "tools/list")
    assert "list_agents" in {t["name"] for t in listed["tools"]}
    created = _run(inspector, [url], "--transport", transport, "--method", "tools/call",
                   "--tool-name", "create_agent", "--tool-arg", f"name=Agent-{transport}")
    assert created["isError"] is False
    listed = _run(inspector, [url], "--transport", transport, "--method", "tools/call", "--tool-name", "list_agents")
    assert f"Agent-{transport}" in json.dumps(listed["structuredContent"])


def _ts(node: str, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([node, str(INTEROP / "ts_client.mjs"), *args], capture_output=True, text=True,
                          timeout=120, env=env or dict(os.environ), cwd=INTEROP)
    assert done.returncode == 0, f"TypeScript client failed: {done.stdout[-1000:]} {done.stderr[-1500:]}"
    return json.loads(done.stdout)


def _check_ts_report(report: dict, name: str) -> None:
    assert report["server"]["name"] == "sanctum-mcp"
    assert {"list_agents", "create_agent", "get_agent"} <= set(report["tools"])
    assert report["created"]["isError"] in (False, None) and report["created"]["structuredContent"]["name"] == name
    assert report["read"]["structuredContent"]["name"] == name
    assert report["missing"]["isError"] is True and "list_agents" in report["missing"]["content"][0]["text"]
    assert name in report["resourceText"]


def test_typescript_sdk_over_stdio(node, db_path):
    target, env = _stdio_target(db_path)
    report = _ts(node, "stdio", *target, env=env | {"AGENT_NAME": "TsStdio"})
    _check_ts_report(report, "TsStdio")


@pytest.mark.parametrize("path,kind", [("/mcp", "http"), ("/sse", "sse")])
def test_typescript_sdk_over_http(node, http_server, path, kind):
    name = f"Ts-{kind}"
    report = _ts(node, kind, f"{http_server.base}{path}", env=dict(os.environ, AGENT_NAME=name))
    _check_ts_report(report, name)
