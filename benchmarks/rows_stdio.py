"""P1 over stdio (the SDK's stdio client, and raw JSON-RPC lines: what the server alone costs) and
P3, the stdio cold start (spawn -> initialize answered) against a bare one-tool MCPServer."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from harness import INITIALIZE, OURS_STDIO, Setup, bare_argv, caller, interleaved, interleaved_blocking, server_env
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from report import Row


async def stdio(setup: Setup, n: int) -> list[Row]:
    env = server_env(setup.small_db)
    floor_params = StdioServerParameters(command=sys.executable, args=bare_argv("--shaped", str(setup.canned))[1:], env=env)
    ours_params = StdioServerParameters(command=OURS_STDIO[0], args=OURS_STDIO[1:], env=env)
    with open(os.devnull, "w") as quiet:  # the servers' own log lines stay out of the report
        async with (Client(stdio_client(floor_params, errlog=quiet)) as floor,
                    Client(stdio_client(ours_params, errlog=quiet)) as ours):
            m = await stdio_calls(floor, ours, setup, n)
    floor_label, shaped_label = "no-op tool, stdio", "no-op returning a get_config result, stdio"
    return [
        Row("P1 get_config (4 levels), stdio", m["get_config"], baseline=floor_label, base=m["noop"], limit=1.25),
        Row("P1 get_config (4 levels), stdio", m["get_config"], baseline=shaped_label, base=m["shaped"], limit=1.25),
        Row("P1 get_agent, stdio", m["get_agent"], baseline=floor_label, base=m["noop"], limit=1.25),
        Row("P1 list_agents (page of 20), stdio", m["list_agents"], baseline=floor_label, base=m["noop"]),
    ]


async def stdio_calls(floor: Client, ours: Client, setup: Setup, n: int) -> dict[str, float]:
    return await interleaved({
        "noop": caller(floor, "noop", {}),
        "shaped": caller(floor, "noop_shaped", {}),
        "get_config": caller(ours, "get_config", setup.args),
        "get_agent": caller(ours, "get_agent", {"agent": "Athena"}),
        "list_agents": caller(ours, "list_agents", {"limit": 20}),
    }, n)


class RawStdio:
    """A server subprocess spoken to in raw JSON-RPC lines over stdio (legacy handshake). No client
    library in the loop: a round trip is what the SERVER costs, without the client's JSON Schema
    check of structuredContent."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env)
        self.next_id = 1
        self.send(INITIALIZE)
        self.receive()
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict) -> None:
        assert self.process.stdin
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def receive(self) -> bytes:
        assert self.process.stdout
        return self.process.stdout.readline()

    def call(self, tool: str, arguments: dict) -> Callable[[], None]:
        def once() -> None:
            self.next_id += 1
            self.send({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}})
            line = self.receive()
            if b'"isError":true' in line or b'"error"' in line[:40] or not line:
                raise RuntimeError(f"{tool} failed: {line[:300]!r}")

        return once

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def server_side_stdio(setup: Setup, n: int) -> list[Row]:
    env = server_env(setup.small_db)
    bare, ours = RawStdio(bare_argv("--shaped", str(setup.canned)), env), RawStdio(OURS_STDIO, env)
    try:
        m = interleaved_blocking({
            "noop": bare.call("noop", {}),
            "shaped": bare.call("noop_shaped", {}),
            "get_config": ours.call("get_config", setup.args),
            "get_agent": ours.call("get_agent", {"agent": "Athena"}),
        }, n)
    finally:
        bare.close()
        ours.close()
    return [
        Row("P1 get_config, stdio raw JSON-RPC (server only)", m["get_config"], baseline="no-op tool, raw JSON-RPC",
            base=m["noop"]),
        Row("P1 get_config, stdio raw JSON-RPC (server only)", m["get_config"],
            baseline="no-op returning a get_config result, raw", base=m["shaped"]),
        Row("P1 get_agent, stdio raw JSON-RPC (server only)", m["get_agent"], baseline="no-op tool, raw JSON-RPC",
            base=m["noop"]),
    ]


def cold_start_ms(argv: list[str], env: dict[str, str]) -> float:
    """Spawn -> the `initialize` response line read back."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert process.stdin and process.stdout
    process.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
    process.stdin.flush()
    line = process.stdout.readline()
    elapsed = (time.perf_counter() - start) * 1000
    process.kill()
    process.wait()
    if b'"result"' not in line:
        raise RuntimeError(f"no initialize result from {argv}: {line[:200]!r}")
    return elapsed


def cold_start(setup: Setup, trials: int) -> list[Row]:
    env = server_env(setup.small_db)
    bare = bare_argv()
    samples: dict[str, list[float]] = {"ours": [], "bare": []}
    cold_start_ms(OURS_STDIO, env), cold_start_ms(bare, env)  # warm the OS file cache
    for _ in range(trials):
        samples["bare"].append(cold_start_ms(bare, env))
        samples["ours"].append(cold_start_ms(OURS_STDIO, env))
    return [Row("P3 stdio cold start (spawn -> initialize)", statistics.median(samples["ours"]),
                baseline="bare one-tool MCPServer", base=statistics.median(samples["bare"]), limit=1.15)]
