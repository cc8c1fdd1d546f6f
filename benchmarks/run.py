"""sanctum-mcp benchmark report: one run, one table, every figure a median with its ratio to a
baseline measured in the same run (this machine's speed and noise cancel out of the ratios).

    python benchmarks/run.py [--quick] [--rows N] [--agents N] [--log-rows N]     (or: make bench)

P1  get_config with a four-level resolve (instance -> tool -> agent -> system), get_agent and
    list_agents against the SDK's no-op tool floor, in memory and over stdio (target <= 1.25x).
P2  get_config and one page of list_agents at 1,000,000 configuration rows and 10,000 agents
    against 100 rows and 100 agents (target <= 1.15x).
P3  stdio cold start (spawn -> initialize answered) against a bare one-tool MCPServer (<= 1.15x).
P4  a Letta-style call (a new Streamable HTTP session per call: initialize, call, close) against
    the same call of a no-op tool on a bare MCPServer served by uvicorn (<= 1.3x), answering with
    JSON bodies as sanctum-mcp does and with the SDK's default SSE stream per request, and the
    same read through the SMCP plugin path (a new process per call).
P5  20 concurrent HTTP clients doing check-and-set set_config: writes per second (>= 300/s) and
    lost updates (0).
P6  query_logs filtered on 1,000,000 log rows against 100 rows (<= 2x).
P7  the size of tools/list: whole (<= 90 KB for all) and model-facing tokens, estimated as bytes/4
    (<= 8k for all, <= 3k for the assistant profile), for all, each profile and each toolset.

benchmarks/README.md says what each row measures and what was found where a target is missed.
The standalone scripts (bench_config.py, bench_smcp.py, bench_writes.py, bench_logs.py) measure
single areas in more detail; this report reuses their set-up and measuring code.

Exit status: 0 when the run completed and every correctness check held (no lost update, every
call answered without error); timing targets are reported as ok/MISSED and never fail the run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_config  # noqa: E402
import bench_logs  # noqa: E402
import bench_listing  # noqa: E402
import bench_smcp  # noqa: E402
import bench_writes  # noqa: E402

from sanctum_mcp.domain.registry import Registry  # noqa: E402
from sanctum_mcp.server.app import build_server  # noqa: E402


# --- the table ---------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    value: float
    unit: str = "ms"
    baseline: str = ""
    base: float | None = None
    limit: float | None = None  # target on value / base: <= limit (or >= limit when at_least)
    at_least: bool = False
    target: str = ""  # how the target reads in the table (derived from limit when empty)
    passed: bool | None = None  # for targets that are not a ratio (lost updates)

    @property
    def ratio(self) -> float | None:
        return self.value / self.base if self.base else None

    def verdict(self) -> str:
        if self.passed is not None:
            return "ok" if self.passed else "MISSED"
        if self.limit is None or self.ratio is None:
            return ""
        ok = self.ratio >= self.limit if self.at_least else self.ratio <= self.limit
        return "ok" if ok else "MISSED"

    def target_text(self) -> str:
        if self.target or self.limit is None:
            return self.target
        return f"{'>=' if self.at_least else '<='}{self.limit:g}x"


def show(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:.3f} ms" if value < 100 else f"{value:.1f} ms"
    if unit == "/s":
        return f"{value:.0f}/s"
    return f"{value:g}{unit}"


def print_table(rows: list[Row]) -> None:
    width = max(len("measure (median)"), *(len(r.label) for r in rows))
    based = max(len("baseline (same run)"), *(len(r.baseline) for r in rows))
    header = (f"{'measure (median)':<{width}} {'value':>11}  {'baseline (same run)':<{based}} {'baseline':>11} "
              f"{'ratio':>7} {'target':>7}  verdict")
    print(header)
    print("-" * len(header))
    section = None
    for r in rows:
        if section is not None and r.label[:2] != section:
            print()
        section = r.label[:2]
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.label:<{width}} {show(r.value, r.unit):>11}  {r.baseline:<{based}} {show(r.base, r.unit):>11} "
              f"{ratio:>7} {r.target_text():>7}  {r.verdict()}".rstrip())


# --- measuring ---------------------------------------------------------------------------------


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


@dataclass
class Setup:
    workdir: Path
    small_db: Path
    large_db: Path
    args: dict  # get_config arguments: the key and the instance (a four-level resolve)
    canned: Path  # the get_config result, for the shaped no-op
    rows: int
    agents: int


# --- P1 + P2: in memory ------------------------------------------------------------------------


async def in_memory(setup: Setup, n: int) -> list[Row]:
    small = await Registry.open(setup.small_db)
    large = await Registry.open(setup.large_db)
    canned = json.loads(setup.canned.read_text())
    page = {"limit": 20}
    try:
        async with (
            Client(bench_config.bare_server(canned)) as floor,
            Client(build_server(small)) as ours,
            Client(build_server(large)) as big,
        ):
            p1 = await interleaved({
                "noop": caller(floor, "noop", {}),
                "shaped": caller(floor, "noop_shaped", {}),
                "get_config": caller(ours, "get_config", setup.args),
                "get_agent": caller(ours, "get_agent", {"agent": "Athena"}),
                "list_agents": caller(ours, "list_agents", page),
            }, n)
            p2 = await interleaved({
                "get_config": caller(ours, "get_config", setup.args),
                "get_config_large": caller(big, "get_config", setup.args),
                "list_agents": caller(ours, "list_agents", page),
                "list_agents_large": caller(big, "list_agents", page),
            }, n)
        domain = await interleaved({  # the same reads without MCP: what the database adds, alone
            "get_config": lambda: small.config.get(small.operator, setup.args["key"], instance=setup.args["instance"]),
            "get_config_large": lambda: large.config.get(large.operator, setup.args["key"],
                                                         instance=setup.args["instance"]),
            "list_agents": lambda: small.agents.list(limit=20),
            "list_agents_large": lambda: large.agents.list(limit=20),
        }, n)
    finally:
        await small.close()
        await large.close()
    floor_label, shaped_label = "no-op tool, one-field result", "no-op returning a get_config result"
    return [
        Row("P1 get_config (4 levels), in-memory", p1["get_config"], baseline=floor_label, base=p1["noop"], limit=1.25),
        Row("P1 get_config (4 levels), in-memory", p1["get_config"], baseline=shaped_label, base=p1["shaped"],
            limit=1.25),
        Row("P1 get_agent, in-memory", p1["get_agent"], baseline=floor_label, base=p1["noop"], limit=1.25),
        Row("P1 list_agents (page of 20), in-memory", p1["list_agents"], baseline=floor_label, base=p1["noop"]),
        Row(f"P2 get_config (4 levels), {setup.rows:,} rows", p2["get_config_large"],
            baseline="the same, 100 configuration rows", base=p2["get_config"], limit=1.15),
        Row(f"P2 list_agents (page of 20), {setup.agents:,} agents", p2["list_agents_large"],
            baseline="the same, 100 agents", base=p2["list_agents"], limit=1.15),
        Row(f"P2 (domain only) get_config, {setup.rows:,} rows", domain["get_config_large"],
            baseline="the same, 100 configuration rows", base=domain["get_config"]),
        Row(f"P2 (domain only) list_agents, {setup.agents:,} agents", domain["list_agents_large"],
            baseline="the same, 100 agents", base=domain["list_agents"]),
    ]


def validation_cost(setup: Setup, reps: int) -> Row:
    """What the SDK client does with every structured result: check it against the tool's
    outputSchema with jsonschema (validator compiled once per session, as the SDK does)."""
    from jsonschema.validators import validator_for

    from sanctum_mcp.catalogue import all_tools

    canned = json.loads(setup.canned.read_text())
    schema = all_tools()["get_config"].output_schema
    floor_schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}

    def timed(schema: dict, document: dict) -> float:
        validator = validator_for(schema)(schema)
        samples = []
        for _ in range(reps):
            start = time.perf_counter()
            errors = list(validator.iter_errors(document))
            samples.append((time.perf_counter() - start) * 1000)
            assert not errors, errors
        return statistics.median(samples)

    return Row("P1 (cause) client-side outputSchema check", timed(schema, canned),
               baseline="the same for the one-field result", base=timed(floor_schema, {"ok": True}))


# --- P1: stdio ---------------------------------------------------------------------------------


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


INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}


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


# --- P3: cold start ----------------------------------------------------------------------------


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


# --- P4 + P5: HTTP -----------------------------------------------------------------------------


@contextlib.contextmanager
def http_server(argv: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        bench_writes.wait_until_up("127.0.0.1", port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        bench_writes.stop(process)


def letta_style(url: str, tool: str, arguments: dict) -> Callable[[], Awaitable[None]]:
    """What Letta does for every tool call: a new session (initialize), the call, close."""
    async def call() -> None:
        async with Client(url, mode="legacy") as client:
            check(await client.call_tool(tool, arguments), tool)

    return call


def session_and_listing(url: str) -> Callable[[], Awaitable[None]]:
    """The part of a Letta-style call that depends on the size of the tool catalogue: the client
    lists the tools in every new session before its first call (to validate results)."""
    async def call() -> None:
        async with Client(url, mode="legacy") as client:
            await client.list_tools()

    return call


async def http_rows(setup: Setup, letta_calls: int, smcp_calls: int, writes: int) -> list[Row]:
    ours_port, bare_port, sse_port = (bench_writes.free_port() for _ in range(3))
    env = server_env(setup.small_db)
    ours_argv = [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--trust-loopback",
                 "--host", "127.0.0.1", "--port", str(ours_port)]
    # Two bare servers: answering with JSON bodies as sanctum-mcp does (like for like), and with the
    # SDK's default SSE stream per request (what a server written with the SDK's defaults costs).
    bare = bare_argv("--http", str(bare_port), "--shaped", str(setup.canned), "--json")
    bare_sse = bare_argv("--http", str(sse_port))
    with (http_server(ours_argv, env, ours_port) as ours_url, http_server(bare, env, bare_port) as bare_url,
          http_server(bare_sse, env, sse_port) as sse_url):
        m = await interleaved({
            "noop": letta_style(bare_url, "noop", {}),
            "noop_sse": letta_style(sse_url, "noop", {}),
            "shaped": letta_style(bare_url, "noop_shaped", {}),
            "get_config": letta_style(ours_url, "get_config", setup.args),
            # The same server at its assistant endpoint (12 tools listed instead of 60).
            "get_config_assistant": letta_style(f"{ours_url}/x/assistant", "get_config", setup.args),
            "list_bare": session_and_listing(bare_url),
            "list_ours": session_and_listing(ours_url),
        }, letta_calls, rounds=letta_calls, warmup=3)
        smcp = await anyio.to_thread.run_sync(smcp_path, setup, smcp_calls)
        runs: list[bench_writes.WriteStats] = []
        floors: list[float] = []
        for i in range(3):  # three runs of each, alternating; the medians are reported
            runs.append(await bench_writes.run_writes(ours_url, clients=20, writes=writes, mode="own",
                                                      prefix=f"bench_counter_{i}"))
            floors.append(await bench_writes.run_calls(bare_url, "noop", {}, clients=20, calls=writes))
        shared = await bench_writes.run_writes(ours_url, clients=20, writes=max(1, writes // 5), mode="shared")
    own = statistics.median(r.writes_per_second for r in runs)
    floor = statistics.median(floors)
    lost = sum(r.lost for r in runs) + shared.lost
    acknowledged = sum(r.writes for r in runs) + shared.writes
    return [
        Row("P4 Letta-style get_config (new HTTP session)", m["get_config"],
            baseline="the same, no-op on a bare MCPServer (JSON)", base=m["noop"], limit=1.3),
        Row("P4 Letta-style get_config (new HTTP session)", m["get_config"],
            baseline="the same, no-op returning its result (JSON)", base=m["shaped"], limit=1.3),
        Row("P4 Letta-style get_config (new HTTP session)", m["get_config"],
            baseline="no-op, bare MCPServer, SDK defaults (SSE)", base=m["noop_sse"], limit=1.3),
        Row("P4 Letta-style get_config, /mcp/x/assistant", m["get_config_assistant"],
            baseline="the same, no-op on a bare MCPServer (JSON)", base=m["noop"], limit=1.3),
        Row("P4 (cause) new session + tools/list, no call", m["list_ours"],
            baseline="the same on the bare one-tool MCPServer", base=m["list_bare"]),
        Row("P4 get_config via SMCP plugin (process per call)", smcp,
            baseline="Letta-style get_config (above)", base=m["get_config"]),
        Row("P5 check-and-set set_config, 20 clients, own keys", own, unit="/s",
            baseline="the target, 300 writes/s", base=300.0, limit=1.0, at_least=True),
        Row("P5 check-and-set set_config, 20 clients, own keys", own, unit="/s",
            baseline="no-op calls, same clients, bare (JSON)", base=floor),
        Row("P5 check-and-set set_config, 20 clients, one key", shared.writes_per_second, unit="/s",
            baseline=f"({shared.conflicts} conflicts re-read and retried)"),
        Row("P5 lost updates (all runs)", float(lost), unit="",
            baseline=f"of {acknowledged} acknowledged writes", target="= 0", passed=lost == 0),
    ]


def smcp_path(setup: Setup, calls: int) -> float:
    """What SMCP does for every call of a plugin tool: a new process running the installed shim."""
    from sanctum_mcp.smcp.install import install

    plugins = setup.workdir / "plugins"
    plugins.mkdir(exist_ok=True)
    cli = install(plugins, user="operator", force=True)  # the small database's first user
    argv = [sys.executable, str(cli), "get_config", "--key", setup.args["key"], "--instance", setup.args["instance"]]
    samples = bench_smcp.bench_processes(argv, calls, server_env(setup.small_db), setup.workdir,
                                         check=lambda result: result.get("scope") == "instance")
    return statistics.median(samples) * 1000


# --- P6: logs ----------------------------------------------------------------------------------


@dataclass
class LogSetup:
    small_db: Path
    large_db: Path
    small_rows: int
    rows: int


def logs_setup(workdir: Path, rows: int) -> LogSetup:
    """Two log databases filled from the same deterministic pattern (bench_logs.build)."""
    setup = LogSetup(workdir / "logs-small.db", workdir / "logs-large.db", 100, rows)
    bench_logs.build(setup.small_db, setup.small_rows)
    bench_logs.build(setup.large_db, setup.rows)
    return setup


def query_logs_arguments(filters: dict, limit: int) -> dict:
    from sanctum_mcp.domain.pagination import encode_cursor

    arguments = {k: v for k, v in filters.items() if k != "before"} | {"limit": limit}
    if "before" in filters:
        arguments["cursor"] = encode_cursor("query_logs", list(filters["before"]))
    return arguments


async def logs_rows(setup: LogSetup, n: int, limit: int = 10) -> list[Row]:
    """query_logs through the in-memory client, every filter of bench_logs.py on both databases,
    interleaved; the worst filter is the P6 figure, and a text alone that matches nothing (which read
    every row before logs_fts, schema version 4) has its own row."""
    def deep(rows: int) -> tuple[str, int]:
        return bench_logs.iso(bench_logs.START + (rows // 2) * bench_logs.STEP), rows // 2

    small = await Registry.open(setup.small_db)
    large = await Registry.open(setup.large_db)
    try:
        async with Client(build_server(small)) as small_client, Client(build_server(large)) as large_client:
            fns: dict[str, Callable[[], Awaitable[None]]] = {}
            for (name, small_f), (_, large_f) in zip(bench_logs.filters_for(setup.small_rows, deep(setup.small_rows)),
                                                     bench_logs.filters_for(setup.rows, deep(setup.rows))):
                fns[f"small|{name}"] = caller(small_client, "query_logs", query_logs_arguments(small_f, limit))
                fns[f"large|{name}"] = caller(large_client, "query_logs", query_logs_arguments(large_f, limit))
            m = await interleaved(fns, n, warmup=3)
    finally:
        await small.close()
        await large.close()
    names = sorted({k.split("|", 1)[1] for k in m})
    ratio = {name: m[f"large|{name}"] / m[f"small|{name}"] for name in names}
    worst = max(names, key=ratio.__getitem__)
    text_only = "text, no match"
    return [
        Row(f"P6 query_logs, no filter, {setup.rows:,} rows", m["large|no filter"],
            baseline=f"the same, {setup.small_rows} rows", base=m["small|no filter"], limit=2.0),
        Row(f"P6 query_logs, worst filter: {worst}", m[f"large|{worst}"],
            baseline=f"the same, {setup.small_rows} rows", base=m[f"small|{worst}"], limit=2.0),
        Row(f"P6 query_logs, {text_only}", m[f"large|{text_only}"],
            baseline=f"the same, {setup.small_rows} rows", base=m[f"small|{text_only}"], limit=2.0),
        Row("P6 query_logs, text='needle' (9 % match)", m["large|text='needle' (9 % match)"],
            baseline=f"the same, {setup.small_rows} rows", base=m[f"small|text='needle' (9 % match)"], limit=2.0),
    ]


# --- the run -----------------------------------------------------------------------------------


# --- P7: the listing's size ------------------------------------------------------------------------


async def listing_rows(workdir: Path) -> list[Row]:
    """Sizes, not times (bench_listing.py): issue 16's targets as the baseline, ratio <= 1."""
    figures = await bench_listing.measure_all(workdir / "listing.db")
    everything, assistant = figures["all"], figures["assistant"]
    rows = [
        Row("P7 tools/list, all (whole)", round(everything["whole"] / 1000, 1), unit=" KB",
            baseline="issue 16 target", base=bench_listing.BUDGET_ALL_WHOLE_KB, limit=1.0, target="<=90KB"),
        Row("P7 model-facing tokens, all (bytes/4)", everything["tokens"], unit="",
            baseline="issue 16 target", base=bench_listing.BUDGET_ALL_TOKENS, limit=1.0, target="<=8000"),
        Row("P7 model-facing tokens, assistant (bytes/4)", assistant["tokens"], unit="",
            baseline="issue 16 target", base=bench_listing.BUDGET_ASSISTANT_TOKENS, limit=1.0, target="<=3000"),
    ]
    for name, f in figures.items():
        rows.append(Row(f"P7 {name}: whole / model-facing / tokens", round(f["whole"] / 1000, 1), unit=" KB",
                        baseline=f"{f['model'] / 1000:.1f} KB, ~{f['tokens']:,} tokens, {len(f['per_tool'])} tools"))
    return rows


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


def compile_bytecode() -> None:
    """Byte-compile sanctum_mcp and these scripts (into their __pycache__ folders), as pip does when
    it installs a package: the processes started here (stdio and HTTP servers, cold starts, SMCP
    calls) then load bytecode like an installed sanctum-mcp does, even where the environment
    forbids writing it at run time (PYTHONDONTWRITEBYTECODE), which would otherwise make every
    start recompile ~10,000 lines (the SDK's own packages were compiled when installed)."""
    import compileall

    for folder in (HERE.parent / "sanctum_mcp", HERE):
        if not compileall.compile_dir(str(folder), quiet=1):
            raise RuntimeError(f"could not byte-compile {folder}")


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


async def main_async(args: argparse.Namespace) -> list[Row]:
    quick = args.quick
    n_memory, n_stdio = (300, 150) if quick else (2000, 1000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sanctum-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        setup = await prepare(workdir, args.rows, args.agents)
        log_setup = await anyio.to_thread.run_sync(logs_setup, workdir, args.log_rows)
        print(f"set-up: {args.rows:,} configuration rows, {args.agents:,} agents, {args.log_rows:,} log rows "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        rows += await in_memory(setup, n_memory)
        rows.append(validation_cost(setup, 200 if quick else 2000))
        rows += await stdio(setup, n_stdio)
        rows += await anyio.to_thread.run_sync(server_side_stdio, setup, n_stdio)
        rows += await anyio.to_thread.run_sync(cold_start, setup, 3 if quick else 25)
        rows += await http_rows(setup, 15 if quick else 100, 4 if quick else 30, 5 if quick else 25)
        rows += await logs_rows(log_setup, 30 if quick else 200)
        rows += await listing_rows(workdir)
    order = {f"P{i}": i for i in range(1, 8)}
    rows.sort(key=lambda r: order[r.label[:2]])  # stable: keeps the order within a section
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 50,000 rows, 1,000 agents and fewer calls (figures are rough)")
    parser.add_argument("--rows", type=int, help="configuration rows for P2 (default 1,000,000; quick 50,000)")
    parser.add_argument("--agents", type=int, help="agents for P2 (default 10,000; quick 1,000)")
    parser.add_argument("--log-rows", type=int, help="log rows for P6 (default 1,000,000; quick 50,000)")
    args = parser.parse_args()
    args.rows = args.rows or (50_000 if args.quick else 1_000_000)
    args.agents = args.agents or (1_000 if args.quick else 10_000)
    args.log_rows = args.log_rows or (50_000 if args.quick else 1_000_000)
    # Before any MCPServer is built in this process: MCPServer() configures the root logger at INFO
    # when nothing else has, and the SDK clients then log every HTTP request.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import importlib.metadata

    print(f"sanctum-mcp benchmark report{' (--quick: rough figures)' if args.quick else ''}")
    print(f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {platform.node()}; {os.cpu_count()} CPUs; "
          f"Python {platform.python_version()}; mcp {importlib.metadata.version('mcp')}; load average before: {load()}",
          flush=True)
    started = time.perf_counter()
    compile_bytecode()
    rows = anyio.run(main_async, args)
    print(f"measured in {time.perf_counter() - started:.0f} s; load average after: {load()}\n")
    print_table(rows)
    broken = [r for r in rows if r.passed is False]
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
