"""P6: query_logs on 1,000,000 log rows against 100, every filter of bench_logs.py, interleaved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import bench_logs
from harness import caller, interleaved
from mcp import Client
from report import Row

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server


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
    from sanctum_mcp.domain.shared.pagination import encode_cursor

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
