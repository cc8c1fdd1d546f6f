"""What every row family of run.py shares: interleaved timing (alternating rounds, medians), calling
a tool and checking its answer, the server processes and their environment, and the set-up (two
registries, small and large, and the canned get_config result). Imported by run.py, which puts
this folder and the repository on sys.path first."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bench_config
from mcp import Client

from sanctum_mcp.server.app import build_server

HERE = Path(__file__).resolve().parent

BATCH = 20  # calls of one kind in a row: short, so that the machine's drift hits every kind alike


def schedule(names: list[str], n: int, rounds: int | None, warmup: int) -> Iterator[tuple[str, bool]]:
    """(name, timed) in the order calls are made: `warmup` untimed calls of each, then `rounds`
    rounds (default: batches of BATCH calls) of n // rounds timed calls of each in turn. Every
    other round runs them in reverse order, so that none always follows the same neighbour (on
    these machines a call can be 10-15 % slower right after another client's calls)."""
    rounds = rounds or max(1, n // BATCH)
    for name in names:
        for _ in range(warmup):
            yield name, False
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            for _ in range(max(1, n // rounds)):
                yield name, True


async def interleaved(fns: dict[str, Callable[[], Awaitable[object]]], n: int, rounds: int | None = None,
                      warmup: int = 20) -> dict[str, float]:
    """Medians (ms) of several calls measured in alternating rounds."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for name, timed in schedule(list(fns), n, rounds, warmup):
        start = time.perf_counter()
        await fns[name]()
        if timed:
            samples[name].append((time.perf_counter() - start) * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}


def interleaved_blocking(fns: dict[str, Callable[[], object]], n: int, rounds: int | None = None,
                         warmup: int = 20) -> dict[str, float]:
    """interleaved() for blocking calls."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for name, timed in schedule(list(fns), n, rounds, warmup):
        start = time.perf_counter()
        fns[name]()
        if timed:
            samples[name].append((time.perf_counter() - start) * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}


def check(result, tool: str) -> None:
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content[0].text}")


def caller(client: Client, tool: str, arguments: dict) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        check(await client.call_tool(tool, arguments), tool)

    return call


def server_env(db: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")} | {"SANCTUM_MCP_DB": str(db)}


OURS_STDIO = [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "stdio"]


def bare_argv(*options: str) -> list[str]:
    return [sys.executable, str(HERE / "bare_server.py"), *options]


INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}


@dataclass
class Setup:
    workdir: Path
    small_db: Path
    large_db: Path
    args: dict  # get_config arguments: the key and the instance (a four-level resolve)
    canned: Path  # the get_config result, for the shaped no-op
    rows: int
    agents: int


async def prepare(workdir: Path, rows: int, agents: int) -> Setup:
    small, args = await bench_config.prepare(workdir / "small.db", 100, agents=100)
    try:
        async with Client(build_server(small)) as client:
            result = await client.call_tool("get_config", args)
        check(result, "get_config")
        assert result.structured_content["scope"] == "instance" and len(result.structured_content["overrides"]) == 3
    finally:
        await small.close()
    large, large_args = await bench_config.prepare(workdir / "large.db", rows, agents=agents)
    await large.close()
    assert large_args == args
    canned = workdir / "get_config.json"
    canned.write_text(json.dumps(result.structured_content))
    return Setup(workdir, workdir / "small.db", workdir / "large.db", args, canned, rows, agents)
