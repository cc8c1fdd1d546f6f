"""sanctum-mcp benchmark report: one run, one table, every figure a median with its ratio to a
baseline measured in the same run (this machine's noise cancels out of the ratios).

    python benchmarks/run.py [--quick]        (or: make bench)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import MCPServer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sanctum_mcp.domain.registry import Registry  # noqa: E402
from sanctum_mcp.server.app import build_server  # noqa: E402


@dataclass
class Row:
    name: str
    median_ms: float
    baseline: str
    baseline_ms: float
    target: float | None  # the ratio must be <= target (or >= for throughput rows)

    @property
    def ratio(self) -> float:
        return self.median_ms / self.baseline_ms if self.baseline_ms else float("nan")

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "ok" if self.ratio <= self.target else "MISSED"


def bare_server() -> MCPServer:
    server = MCPServer("floor")

    @server.tool()
    def noop() -> str:
        """Do nothing."""
        return "ok"

    return server


async def median_ms(fn: Callable[[], Awaitable[object]], n: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def interleaved(fns: dict[str, Callable[[], Awaitable[object]]], n: int, rounds: int = 5) -> dict[str, float]:
    """Medians of several calls measured in alternating rounds, so drift hits them all alike."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        for _ in range(20):
            await fn()
    per_round = max(1, n // rounds)
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(per_round):
                start = time.perf_counter()
                await fn()
                samples[name].append((time.perf_counter() - start) * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}


def check(result) -> None:
    if result.is_error:
        raise RuntimeError(result.content[0].text)


async def seed(registry: Registry, agents: int) -> None:
    from sanctum_mcp.domain.identity import LOCAL_OPERATOR

    for i in range(agents):
        await registry.agents.create(LOCAL_OPERATOR, {"name": f"agent-{i:05d}", "description": "bench"})


async def spine_in_memory(n: int, workdir: Path) -> list[Row]:
    registry = await Registry.open(workdir / "inmem.db")
    await seed(registry, 20)
    try:
        async with Client(bare_server()) as floor, Client(build_server(registry)) as ours:
            async def noop():
                check(await floor.call_tool("noop", {}))

            async def get_agent():
                check(await ours.call_tool("get_agent", {"agent": "agent-00007"}))

            async def list_agents():
                check(await ours.call_tool("list_agents", {"limit": 20}))

            m = await interleaved({"noop": noop, "get_agent": get_agent, "list_agents": list_agents}, n)
    finally:
        await registry.close()
    return [
        Row("get_agent, in-memory", m["get_agent"], "no-op tool, in-memory", m["noop"], 1.25),
        Row("list_agents (20), in-memory", m["list_agents"], "no-op tool, in-memory", m["noop"], None),
    ]


def stdio_params(args: list[str], env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=args, env=env)


async def spine_stdio(n: int, workdir: Path) -> list[Row]:
    db = workdir / "stdio.db"
    registry = await Registry.open(db)
    await seed(registry, 20)
    await registry.close()
    env = dict(os.environ, SANCTUM_MCP_DB=str(db))
    ours_params = stdio_params(["-m", "sanctum_mcp", "serve", "--transport", "stdio"], env)
    floor_params = stdio_params([str(HERE / "bare_server.py")], env)
    async with Client(floor_params) as floor, Client(ours_params) as ours:
        async def noop():
            check(await floor.call_tool("noop", {}))

        async def get_agent():
            check(await ours.call_tool("get_agent", {"agent": "agent-00007"}))

        async def list_agents():
            check(await ours.call_tool("list_agents", {"limit": 20}))

        m = await interleaved({"noop": noop, "get_agent": get_agent, "list_agents": list_agents}, n)
    return [
        Row("get_agent, stdio", m["get_agent"], "no-op tool, stdio", m["noop"], 1.25),
        Row("list_agents (20), stdio", m["list_agents"], "no-op tool, stdio", m["noop"], None),
    ]


INITIALIZE = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "bench", "version": "0"}},
}) + "\n"


def cold_start_ms(argv: list[str], env: dict[str, str]) -> float:
    """Spawn -> the `initialize` response line read back."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert process.stdin and process.stdout
    process.stdin.write(INITIALIZE.encode())
    process.stdin.flush()
    line = process.stdout.readline()
    elapsed = (time.perf_counter() - start) * 1000
    process.kill()
    process.wait()
    if b'"result"' not in line:
        raise RuntimeError(f"no initialize result from {argv}: {line[:200]!r}")
    return elapsed


def cold_start(trials: int, workdir: Path) -> list[Row]:
    db = workdir / "cold.db"
    env = dict(os.environ, SANCTUM_MCP_DB=str(db))
    subprocess.run([sys.executable, "-m", "sanctum_mcp", "init"], env=env, check=True, capture_output=True)
    ours = [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "stdio"]
    bare = [sys.executable, str(HERE / "bare_server.py")]
    samples: dict[str, list[float]] = {"ours": [], "bare": []}
    cold_start_ms(ours, env), cold_start_ms(bare, env)  # warm the OS file cache
    for _ in range(trials):
        samples["bare"].append(cold_start_ms(bare, env))
        samples["ours"].append(cold_start_ms(ours, env))
    return [Row("stdio cold start (spawn -> initialize)", statistics.median(samples["ours"]),
                "bare one-tool MCPServer", statistics.median(samples["bare"]), 1.15)]


def raw_stdio_ms(argv: list[str], env: dict[str, str], tool: str, arguments: dict, n: int) -> float:
    """Median round trip of tools/call as raw JSON-RPC lines over stdio (legacy handshake).

    No client library in the loop: this is what the SERVER costs, without the JSON Schema
    validation of structuredContent that SDK clients do on their side.
    """
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert process.stdin and process.stdout
    def send(message: dict) -> None:
        process.stdin.write((json.dumps(message) + "\n").encode())
        process.stdin.flush()
    try:
        send(json.loads(INITIALIZE))
        process.stdout.readline()
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        samples = []
        for i in range(n + 20):
            request = {"jsonrpc": "2.0", "id": i + 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
            start = time.perf_counter()
            send(request)
            line = process.stdout.readline()
            if i >= 20:
                samples.append((time.perf_counter() - start) * 1000)
            if b'"isError":true' in line or b'"error"' in line[:40]:
                raise RuntimeError(f"{tool} failed: {line[:300]!r}")
        return statistics.median(samples)
    finally:
        process.kill()
        process.wait()


def server_side_stdio(n: int, workdir: Path) -> list[Row]:
    db = workdir / "stdio.db"
    env = dict(os.environ, SANCTUM_MCP_DB=str(db))
    ours = [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "stdio"]
    bare = [sys.executable, str(HERE / "bare_server.py")]
    floor = raw_stdio_ms(bare, env, "noop", {}, n)
    get_agent = raw_stdio_ms(ours, env, "get_agent", {"agent": "agent-00007"}, n)
    floor = statistics.median([floor, raw_stdio_ms(bare, env, "noop", {}, n)])
    return [Row("get_agent, stdio raw JSON-RPC (server only)", get_agent, "no-op tool, stdio raw JSON-RPC", floor, 1.25)]


def print_table(rows: list[Row]) -> None:
    header = f"{'measure':<44} {'median':>10} {'baseline':<34} {'base':>10} {'ratio':>7} {'target':>7}  "
    print(header)
    print("-" * len(header))
    for r in rows:
        target = f"<={r.target:g}x" if r.target else ""
        print(f"{r.name:<44} {r.median_ms:>8.3f}ms {r.baseline:<34} {r.baseline_ms:>8.3f}ms "
              f"{r.ratio:>6.2f}x {target:>7}  {r.verdict()}")


async def main_async(args: argparse.Namespace) -> list[Row]:
    n = 200 if args.quick else 2000
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows += await spine_in_memory(n, workdir)
        rows += await spine_stdio(n // 2, workdir)
        rows += await anyio.to_thread.run_sync(server_side_stdio, n // 2, workdir)
        rows += await anyio.to_thread.run_sync(cold_start, 5 if args.quick else 15, workdir)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    rows = anyio.run(main_async, args)
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
