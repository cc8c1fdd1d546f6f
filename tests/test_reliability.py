"""Reliability: kill -9 mid-write must never lose an acknowledged write or corrupt the file."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest
from support import server_env

INITIALIZE = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "crash", "version": "0"}},
}


def _crash_trial(db_path, seed: int) -> tuple[list[str], int]:
    """Write agents over raw stdio JSON-RPC until a kill -9 lands at a random moment.

    Returns the names whose creation was acknowledged, and how many requests were sent.
    """
    rng = random.Random(seed)
    process = subprocess.Popen(
        [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "stdio"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=server_env(db_path),
    )
    acknowledged: list[str] = []
    sent = 0

    def send(message: dict) -> None:
        process.stdin.write((json.dumps(message) + "\n").encode())
        process.stdin.flush()

    try:
        send(INITIALIZE)
        process.stdout.readline()
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        # The kill lands somewhere inside the burst of writes, at a random instant.
        killer = threading.Timer(rng.uniform(0.02, 0.4), lambda: os.kill(process.pid, signal.SIGKILL))
        killer.start()
        for i in range(10_000):
            name = f"s{seed}-w{i}"
            try:
                send({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                      "params": {"name": "create_agent", "arguments": {"name": name}}})
                sent += 1
                line = process.stdout.readline()
            except (BrokenPipeError, OSError):
                break
            if not line:
                break
            reply = json.loads(line)
            assert not reply["result"].get("isError"), reply
            acknowledged.append(name)
        killer.cancel()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:  # BrokenPipeError: buffered bytes for a process that is gone
                pass
    return acknowledged, sent


@pytest.mark.parametrize("seed", range(20))
def test_kill_9_never_loses_an_acknowledged_write(tmp_path, seed):
    db_path = tmp_path / "registry.db"
    subprocess.run([sys.executable, "-m", "sanctum_mcp", "init"], env=server_env(db_path), check=True, capture_output=True)
    acknowledged, sent = _crash_trial(db_path, seed)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT name FROM agents")}
        audited = conn.execute("SELECT count(*) FROM logs WHERE action = 'agent.create'").fetchone()[0]
    missing = [n for n in acknowledged if n not in stored]
    assert not missing, f"acknowledged writes lost after kill -9: {missing[:5]}"
    # At most the one request in flight may have committed without its answer reaching us.
    assert len(stored) - len(acknowledged) in (0, 1)
    assert audited == len(stored)  # the audit row commits with its mutation, never apart


# --- concurrency: 20 writers doing check-and-set on the same keys --------------------------------


async def _cas_increment(client, key: str, attempts: list[int], conflicts: list[str]) -> None:
    """Read the counter and its version, write value+1 with expected_version; retry on conflict."""
    from support import call

    while True:
        current = await call(client, "get_config", {"key": key})
        value, version = int(current["value"]), current["version"]
        attempts.append(1)
        result = await client.call_tool("set_config", {
            "key": key, "value": str(value + 1), "scope": "system", "expected_version": version,
        })
        if not result.is_error:
            return
        conflicts.append(result.content[0].text)


async def test_twenty_concurrent_writers_lose_no_update(http_server):
    """20 Streamable HTTP clients, each adding 1 to two shared counters 5 times with check-and-set."""
    import anyio
    from mcp import Client
    from support import call

    keys, writers, increments = ("counter_a", "counter_b"), 20, 5
    async with Client(http_server.mcp_url) as setup:
        for key in keys:
            # counter_a and counter_b: one slip apart on purpose, each new.
            await call(setup, "set_config", {"key": key, "value": "0", "scope": "system", "type": "integer",
                                             "create": True})
    attempts: list[int] = []
    conflicts: list[str] = []

    async def writer(index: int) -> None:
        async with Client(http_server.mcp_url) as client:
            for step in range(increments):
                await _cas_increment(client, keys[(index + step) % 2], attempts, conflicts)

    async with anyio.create_task_group() as group:
        for index in range(writers):
            group.start_soon(writer, index)

    async with Client(http_server.mcp_url) as check:
        totals = [int((await call(check, "get_config", {"key": key}))["value"]) for key in keys]
    assert sum(totals) == writers * increments, f"lost updates: {writers * increments - sum(totals)}"
    assert len(attempts) == writers * increments + len(conflicts)
    # Every refusal says what the current version is, so the writer can retry without guessing.
    for text in conflicts:
        assert "expected_version=" in text and "Nothing was changed" in text, text
