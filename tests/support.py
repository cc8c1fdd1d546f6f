"""Helpers shared by the tests: calling tools, snapshotting the database, subprocess servers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[1]


# --- calling tools --------------------------------------------------------------------------


async def call(client: Client, name: str, arguments: dict[str, Any] | None = None) -> Any:
    """Call a tool that must succeed; return its structured result (checked against its text)."""
    result = await client.call_tool(name, arguments or {})
    text = result.content[0].text if result.content else ""
    assert not result.is_error, f"{name} failed: {text}"
    assert json.loads(text) == result.structured_content, "text and structured content disagree"
    return result.structured_content


async def call_error(client: Client, name: str, arguments: dict[str, Any] | None = None) -> str:
    """Call a tool that must fail; return the error text."""
    result = await client.call_tool(name, arguments or {})
    text = result.content[0].text if result.content else ""
    assert result.is_error, f"{name} should have failed but returned {text}"
    assert "Traceback" not in text
    return text


async def confirmation(client: Client, name: str, arguments: dict[str, Any]) -> str:
    """The first step of a destructive call: it must answer with a preview; return its confirmation."""
    preview = await call_error(client, name, arguments)
    found = re.search(r"confirm='([0-9a-f]+)'", preview)
    assert found and "Nothing was changed" in preview, preview
    return found.group(1)


async def call_confirmed(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    """A destructive call in its two steps (preview, then the same call with its confirmation)."""
    return await call(client, name, {**arguments, "confirm": await confirmation(client, name, arguments)})


async def call_through_preview(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    """Call a tool that must succeed, confirming its preview if it answers with one (a destructive
    tool's preview depends on the arguments and the state: rollback to the current value has none)."""
    result = await client.call_tool(name, arguments)
    text = result.content[0].text if result.content else ""
    found = re.search(r"confirm='([0-9a-f]+)'", text) if result.is_error else None
    if found is not None:
        return await call(client, name, {**arguments, "confirm": found.group(1)})
    assert not result.is_error, f"{name} failed: {text}"
    assert json.loads(text) == result.structured_content, "text and structured content disagree"
    return result.structured_content


# --- the database as a whole ----------------------------------------------------------------


def snapshot(path: Path) -> list[str]:
    """Every row of every table (and the schema), to prove a refused mutation changed nothing.

    Except the rows of logs_fts and its shadow tables: the text index of logs, derived from the logs
    rows (which stay in), as an ordinary index's content is not in a dump either."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [line for line in conn.iterdump() if not line.startswith('INSERT INTO "logs_fts')]


def schema_before_environments(schema: str) -> str:
    """schema.sql as it was before schema version 5: no environment_config, no
    config_history.environment, and config_history's version-1 index."""
    from sanctum_mcp.storage.migrations import HISTORY_ENVIRONMENT_COLUMN

    start, end = schema.index("-- [v5] environment_config"), schema.index("-- [/v5]") + len("-- [/v5]")
    old_index = "CREATE INDEX IF NOT EXISTS idx_config_history_key\n    ON config_history(scope, target, key, version);"
    schema = schema[:start] + old_index + schema[end:]
    column = f"\n, {HISTORY_ENVIRONMENT_COLUMN})"
    assert column in schema
    return schema.replace(column, "\n)")


# --- subprocess servers -----------------------------------------------------------------------


def server_env(db_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")}
    env["SANCTUM_MCP_DB"] = str(db_path)
    env.update(extra)
    return env


def cli(db_path: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """`sanctum-mcp ARGS --db DB_PATH` as a subprocess (the operator at a terminal); never a traceback."""
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", *args, "--db", str(db_path)], input=stdin,
                          capture_output=True, text=True, env=server_env(db_path, **env), cwd=str(REPO.parent),
                          timeout=120, stdin=None if stdin is not None else subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def stdio_params(db_path: Path, *args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "sanctum_mcp", "serve", "--transport", "stdio", *args],
        env=server_env(db_path, **env),
        cwd=str(REPO.parent),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpServer:
    def __init__(self, process: subprocess.Popen, host: str, port: int, log=None) -> None:
        self.process, self.host, self.port = process, host, port
        self.log = log  # the server's stderr (a temporary file)
        # A wildcard bind is reached through loopback: tests never send traffic to another address.
        shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
        self.base = f"http://{shown}:{port}"
        self.mcp_url = f"{self.base}/mcp"
        self.sse_url = f"{self.base}/sse"


def start_http_server(db_path: Path, *args: str, host: str = "127.0.0.1", timeout: float = 30.0,
                      preexec_fn=None, **env: str) -> HttpServer:
    """`preexec_fn` runs in the child before the server starts (e.g. to lower its open-files limit)."""
    port = free_port()
    # stderr goes to a file, never an undrained pipe: a busy server would block once the pipe filled.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--host", host, "--port", str(port), *args],
        env=server_env(db_path, **env),
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=str(REPO.parent),
        preexec_fn=preexec_fn,
    )
    server = HttpServer(process, host, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}: {log.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("HTTP server did not come up in time")


def server_log(server: HttpServer) -> str:
    """What the server wrote to stderr so far. pread: the child shares this file's offset, so a
    seek here would move where it writes."""
    fd = server.log.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


async def athena_monday_and_instances(registry) -> tuple[Any, Any, Any]:
    """Agents Athena and Monday, tools 'notes' and 'shared' (master), and three instances: Athena's
    ('a'), Monday's ('m') and a host-wide one ('h'). For the permissions.agents tests."""
    op = registry.operator
    for name in ("Athena", "Monday"):
        await registry.agents.create(op, {"name": name, "config": {}})
    await registry.tools.create_tool(op, {"name": "notes", "category": "athena", "tool_type": "utility"})
    await registry.tools.create_tool(op, {"name": "shared", "category": "master", "tool_type": "utility"})
    mine = await registry.tools.create_instance(op, tool="notes", agent="Athena", name="a", config={})
    theirs = await registry.tools.create_instance(op, tool="notes", agent="Monday", name="m", config={})
    host = await registry.tools.create_instance(op, tool="shared", agent=None, name="h", config={})
    return mine, theirs, host


class Notifications:
    """Every notification of one method a client receives (pass it as a Client's message_handler)."""

    def __init__(self, method: str, wait: float = 60) -> None:
        self.method = method
        self.wait = wait  # seconds: a generous bound that fails on a hang, never a timing assertion
        self.received: list[Any] = []
        self.arrived = anyio.Event()

    async def __call__(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == self.method:
            self.received.append(root.params)
            self.arrived.set()

    @property
    def count(self) -> int:
        return len(self.received)

    async def arrival(self) -> None:
        """Until a notification arrives that was not waited for yet."""
        with anyio.fail_after(self.wait):
            await self.arrived.wait()
        self.arrived = anyio.Event()
