"""P4 and P5 over HTTP: a Letta-style call (a new Streamable HTTP session per call) against a bare
MCPServer, the same read through the SMCP plugin path, and 20 concurrent check-and-set writers
(writes/s, lost updates)."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator

import anyio
import bench_smcp
import bench_writes
from harness import Setup, bare_argv, check, interleaved, server_env
from mcp import Client
from report import Row


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
