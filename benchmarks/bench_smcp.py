"""The same registry read through the direct MCP paths and through the SMCP plugin path, in one run.

    python benchmarks/bench_smcp.py [--calls 200] [--process-calls 30] [--smcp-python PATH] [--json]

Paths, all calling `get_agent {"agent": "Athena"}` on the same fresh database:
- mcp in-memory: the SDK's Client bound to the server object (no transport);
- mcp stdio: one `sanctum-mcp serve` subprocess, many calls over its pipes;
- smcp plugin: what SMCP does for every tool call, a new process
  `python <plugins>/sanctum/cli.py get_agent --agent Athena` (the installed shim, which re-executes
  sanctum-mcp's Python), stdin closed, JSON on stdout;
- smcp direct: `python -m sanctum_mcp.smcp --user operator -- get_agent --agent Athena` without the shim, to show
  what the shim's extra interpreter start costs.
Figures are medians (and 90th percentiles) of wall-clock time per call; ratios are to the in-memory
and stdio medians of the same run, so the machine's speed cancels out.
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
from collections.abc import Callable
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parents[1]


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(db_path: Path) -> None:
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR

    registry = await Registry.open(db_path)
    try:
        await registry.agents.create(LOCAL_OPERATOR, {"name": "Athena", "description": "Sanctum Configuration Assistant",
                                                      "status": "Healthy", "is_active": True, "config": {"tempo": 1}})
    finally:
        await registry.close()


async def bench_in_memory(db_path: Path, calls: int) -> list[float]:
    from mcp import Client

    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.server.app import build_server

    registry = await Registry.open(db_path)
    try:
        async with Client(build_server(registry)) as client:
            return await _timed_calls(client, calls)
    finally:
        await registry.close()


async def bench_stdio(db_path: Path, calls: int) -> list[float]:
    from mcp import Client, StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")} | {"SANCTUM_MCP_DB": str(db_path)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "sanctum_mcp", "serve", "--transport", "stdio"],
                                   env=env)
    async with Client(params) as client:
        return await _timed_calls(client, calls)


async def _timed_calls(client, calls: int) -> list[float]:
    for _ in range(5):  # warm-up
        await client.call_tool("get_agent", {"agent": "Athena"})
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        result = await client.call_tool("get_agent", {"agent": "Athena"})
        samples.append(time.perf_counter() - start)
        assert not result.is_error and result.structured_content["name"] == "Athena"
    return samples


def is_athena(result: dict) -> bool:
    return result.get("name") == "Athena"


def bench_processes(argv: list[str], calls: int, env: dict[str, str], cwd: Path,
                    check: Callable[[dict], bool] = is_athena) -> list[float]:
    """Wall-clock seconds of `calls` runs of argv, each a new process as SMCP starts it (stdin closed,
    JSON on stdout); `check(result)` must hold for every result."""
    samples = []
    for i in range(calls + 2):
        start = time.perf_counter()
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=str(cwd))
        elapsed = time.perf_counter() - start
        assert done.returncode == 0 and check(json.loads(done.stdout)), done.stdout + done.stderr
        if i >= 2:  # the first two warm the page cache
            samples.append(elapsed)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per MCP path (default 200)")
    parser.add_argument("--process-calls", type=int, default=30, help="calls per process-per-call path (default 30)")
    parser.add_argument("--smcp-python", default=sys.executable,
                        help="the interpreter SMCP would run cli.py with (default: this one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    from sanctum_mcp.smcp.install import install

    with tempfile.TemporaryDirectory(prefix="bench-smcp-") as tmp:
        tmp_path = Path(tmp)
        db_path = tmp_path / "registry.db"
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        anyio.run(seed, db_path)
        cli = install(plugins, user="operator")  # seed() made the first user, the admin operator
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")} | {"SANCTUM_MCP_DB": str(db_path)}
        results = {
            "mcp in-memory": anyio.run(bench_in_memory, db_path, args.calls),
            "mcp stdio": anyio.run(bench_stdio, db_path, args.calls),
            "smcp plugin (shim)": bench_processes([args.smcp_python, str(cli), "get_agent", "--agent", "Athena"],
                                                  args.process_calls, env, tmp_path),
            "smcp direct": bench_processes([sys.executable, "-m", "sanctum_mcp.smcp", "--user", "operator", "--",
                                            "get_agent", "--agent", "Athena"], args.process_calls, env, tmp_path),
        }

    medians = {name: statistics.median(samples) for name, samples in results.items()}
    base_mem, base_stdio = medians["mcp in-memory"], medians["mcp stdio"]
    rows = [
        {"path": name, "calls": len(samples), "median_ms": round(medians[name] * 1000, 3),
         "p90_ms": round(quantile(samples, 0.9) * 1000, 3),
         "x_in_memory": round(medians[name] / base_mem, 1), "x_stdio": round(medians[name] / base_stdio, 1)}
        for name, samples in results.items()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"get_agent, same database, one run ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"{'path':<22} {'calls':>5} {'median ms':>10} {'p90 ms':>9} {'x in-memory':>12} {'x stdio':>8}")
    for row in rows:
        print(f"{row['path']:<22} {row['calls']:>5} {row['median_ms']:>10.3f} {row['p90_ms']:>9.3f} "
              f"{row['x_in_memory']:>12.1f} {row['x_stdio']:>8.1f}")


if __name__ == "__main__":
    main()
