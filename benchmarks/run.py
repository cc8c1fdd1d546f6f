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
P8  the browser console: the System Settings page against a trivial page of the same app (<= 3x),
    and a settings save against the set_config tool call over HTTP (<= 1.25x).

benchmarks/README.md says what each row measures and what was found where a target is missed.
The rows are measured by one module per family: rows_memory.py (P1, P2 in memory), rows_stdio.py
(P1 over stdio, P3), rows_http.py (P4, P5), rows_logs.py (P6), rows_listing.py (P7), rows_console.py (P8), sharing harness.py (timing, set-up,
server processes) and report.py (the table). The standalone scripts (bench_config.py, bench_smcp.py,
bench_writes.py, bench_logs.py) measure single areas in more detail; the rows reuse their set-up and
measuring code.

Exit status: 0 when the run completed and every correctness check held (no lost update, every
call answered without error); timing targets are reported as ok/MISSED and never fail the run.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import anyio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness import prepare  # noqa: E402
from report import Row, print_table  # noqa: E402
from rows_console import console_rows  # noqa: E402
from rows_http import http_rows  # noqa: E402
from rows_listing import listing_rows  # noqa: E402
from rows_logs import logs_rows, logs_setup  # noqa: E402
from rows_memory import in_memory, validation_cost  # noqa: E402
from rows_stdio import cold_start, server_side_stdio, stdio  # noqa: E402


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


FAMILIES = tuple(f"P{i}" for i in range(1, 9))


async def main_async(args: argparse.Namespace) -> list[Row]:
    quick, only = args.quick, set(args.only)

    def wanted(*families: str) -> bool:
        return bool(only.intersection(families))

    n_memory, n_stdio = (300, 150) if quick else (2000, 1000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sanctum-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        setup = await prepare(workdir, args.rows, args.agents)
        log_setup = await anyio.to_thread.run_sync(logs_setup, workdir, args.log_rows) if wanted("P6") else None
        print(f"set-up: {args.rows:,} configuration rows, {args.agents:,} agents, "
              f"{args.log_rows if log_setup else 0:,} log rows in {time.perf_counter() - started:.1f} s", flush=True)
        if wanted("P1", "P2"):
            rows += await in_memory(setup, n_memory)
        if wanted("P1"):
            rows.append(validation_cost(setup, 200 if quick else 2000))
            rows += await stdio(setup, n_stdio)
            rows += await anyio.to_thread.run_sync(server_side_stdio, setup, n_stdio)
        if wanted("P3"):
            rows += await anyio.to_thread.run_sync(cold_start, setup, 3 if quick else 25)
        if wanted("P4", "P5"):
            rows += await http_rows(setup, 15 if quick else 100, 4 if quick else 30, 5 if quick else 25)
        if log_setup is not None:
            rows += await logs_rows(log_setup, 30 if quick else 200)
        if wanted("P7"):
            rows += await listing_rows(workdir)
        if wanted("P8"):
            rows += await console_rows(setup, 20 if quick else 200, 10 if quick else 60)
    rows = [r for r in rows if r.label[:2] in only]  # a step may measure rows of two families
    rows.sort(key=lambda r: FAMILIES.index(r.label[:2]))  # stable: keeps the order within a section
    return rows


def families(text: str) -> list[str]:
    chosen = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown) or 'nothing'}: name families among {', '.join(FAMILIES)}")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 50,000 rows, 1,000 agents and fewer calls (figures are rough)")
    parser.add_argument("--rows", type=int, help="configuration rows for P2 (default 1,000,000; quick 50,000)")
    parser.add_argument("--agents", type=int, help="agents for P2 (default 10,000; quick 1,000)")
    parser.add_argument("--log-rows", type=int, help="log rows for P6 (default 1,000,000; quick 50,000)")
    parser.add_argument("--only", type=families, default=list(FAMILIES), metavar="P7,P8",
                        help="measure only these families (default: all)")
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
