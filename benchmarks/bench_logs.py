"""query_logs on 1,000,000 log rows against 100 rows: does a filtered page cost the same?

Standalone: `python benchmarks/bench_logs.py [--rows N] [--repeat R] [--workdir DIR]`.

Two databases are built with the real schema (sanctum_mcp.storage.migrations) and filled with
sqlite3 executemany from the SAME deterministic pattern (levels, sources, source ids and messages
assigned round-robin with coprime periods, one row every 30 s), so every filter returns a full page
of `--limit` rows on both and the comparison is about finding the rows, not about how many come back.
Each filter is timed through LogService.query (what the query_logs tool runs: one aiosqlite hop,
SQL, pydantic models) and as bare SQL; the medians, their ratio (large / small; target <= 2) and
SQLite's EXPLAIN QUERY PLAN for each filter are printed.

A text filter ("text='needle'", 9 % of the rows; "text, no match") goes one of the ways storage/logs.py
describes (logs_fts, the trigram index of schema version 4, when few rows hold the text; the newest
rows when many do); "sql" times storage/logs.py:page, the way chosen included, and the plan printed
for a text is the way.
Before the index, "text, no match" read every row: 270-760 ms at 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sanctum_mcp.domain.shared.clock import iso  # noqa: E402
from sanctum_mcp.domain.registry import Registry  # noqa: E402
from sanctum_mcp.storage import logs as log_sql  # noqa: E402
from sanctum_mcp.storage.migrations import migrate  # noqa: E402

LEVELS = ("INFO", "INFO", "ERROR", "WARNING", "INFO")  # period 5: 20 % ERROR
SOURCES = ("job", "agent", "job", "config", "server", "job", "backup")  # period 7: 3/7 job
START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=30)


def row(i: int) -> tuple:
    source = SOURCES[i % 7]
    source_id = str(i % 3) if source == "job" else str(i % 40)
    action = {"job": "job.run", "agent": "agent.update", "config": "config.set", "server": "server.log",
              "backup": "backup.create"}[source]
    message = f"{action} number {i}" + (" needle" if i % 11 == 0 else "")
    details = '{"actor":"operator","n":%d}' % i
    return (LEVELS[i % 5], source, source_id, None, action, message, details, iso(START + i * STEP))


def build(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn)
    conn.execute("BEGIN")
    batch = 100_000
    for first in range(0, rows, batch):
        conn.executemany(
            "INSERT INTO logs (level, source, source_id, user_id, action, message, details, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row(i) for i in range(first, min(rows, first + batch))),
        )
    conn.execute("COMMIT")
    conn.close()


def filters_for(rows: int, cursor_deep: tuple[str, int]) -> list[tuple[str, dict]]:
    window_start = iso(START + int(rows * 0.8) * STEP)
    window_end = iso(START + int(rows * 0.95) * STEP)
    since_40 = iso(START + int(rows * 0.4) * STEP)  # wide enough for a full page of WARNING rows on 100 rows
    return [
        ("no filter", {}),
        ("level=ERROR", {"level": "ERROR"}),
        ("source=job", {"source": "job"}),
        ("source=job source_id=1", {"source": "job", "source_id": "1"}),
        ("since..until (15 % window)", {"since": window_start, "until": window_end}),
        ("level=WARNING since", {"level": "WARNING", "since": since_40}),
        ("source=job text='run'", {"source": "job", "text": "run"}),
        ("text='needle' (9 % match)", {"text": "needle"}),
        ("level=ERROR, page at the middle", {"level": "ERROR", "before": cursor_deep}),
        ("text, no match", {"text": "absent-word"}),
    ]


async def time_service(registry: Registry, filters: dict, limit: int, repeat: int) -> tuple[float, int]:
    from sanctum_mcp.domain.shared.pagination import encode_cursor

    kwargs = {k: v for k, v in filters.items() if k != "before"}
    if "before" in filters:
        kwargs["cursor"] = encode_cursor("query_logs", list(filters["before"]))
    count = len((await registry.logs.query(limit=limit, **kwargs)).entries)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await registry.logs.query(limit=limit, **kwargs)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), count


def time_sql(path: Path, filters: dict, limit: int, repeat: int) -> tuple[float, list[str]]:
    """storage/logs.py:page as the service runs it, and how: EXPLAIN QUERY PLAN of page_sql, or for a
    text the way taken (storage/logs.py's docstring)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    _, way = log_sql.page_and_way(conn, **filters, limit=limit + 1)
    if way == "index":
        sql, params = log_sql.page_sql(**filters, limit=limit + 1)
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    else:
        plan = [f"text: way {way}"]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        log_sql.page(conn, **filters, limit=limit + 1)
        samples.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(samples), plan


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the large database")
    parser.add_argument("--small", type=int, default=100, help="rows in the small database")
    parser.add_argument("--limit", type=int, default=10, help="page size")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per filter and database")
    parser.add_argument("--workdir", type=Path, help="keep the databases here (reused when present)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-logs-"))
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {"small": workdir / f"logs-{args.small}.db", "large": workdir / f"logs-{args.rows}.db"}
    for label, rows in (("small", args.small), ("large", args.rows)):
        if not paths[label].exists():
            started = time.perf_counter()
            build(paths[label], rows)
            print(f"built {paths[label].name}: {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)

    registries = {label: await Registry.open(path) for label, path in paths.items()}
    try:
        print(f"\nquery_logs, page of {args.limit}, median of {args.repeat} calls; ratio = {args.rows:,} rows / {args.small} rows")
        print(f"{'filter':<34} {'rows':>9} {'small ms':>9} {'large ms':>9} {'ratio':>6} {'sql small':>10} {'sql large':>10} {'ratio':>6}")
        plans: dict[str, list[str]] = {}
        worst = 0.0
        for (name, small_f), (_, large_f) in zip(
            filters_for(args.small, (iso(START + (args.small // 2) * STEP), args.small // 2)),
            filters_for(args.rows, (iso(START + (args.rows // 2) * STEP), args.rows // 2)),
        ):
            repeat = args.repeat
            s_ms, s_count = await time_service(registries["small"], small_f, args.limit, repeat)
            l_ms, l_count = await time_service(registries["large"], large_f, args.limit, repeat)
            s_sql, _ = time_sql(paths["small"], small_f, args.limit, repeat)
            l_sql, plan = time_sql(paths["large"], large_f, args.limit, repeat)
            plans[name] = plan
            ratio, sql_ratio = l_ms / s_ms, l_sql / s_sql
            counts = f"{s_count}/{l_count}"
            print(f"{name:<34} {counts:>9} {s_ms * 1e3:9.3f} {l_ms * 1e3:9.3f} {ratio:6.2f} "
                  f"{s_sql * 1e3:10.4f} {l_sql * 1e3:10.4f} {sql_ratio:6.1f}", flush=True)
            worst = max(worst, ratio)
        print("\nEXPLAIN QUERY PLAN on the large database:")
        for name, plan in plans.items():
            print(f"  {name:<34} {' | '.join(plan)}")
        print(f"\nworst ratio over the filters: {worst:.2f} (target <= 2.00): {'met' if worst <= 2 else 'MISSED'}")
    finally:
        for registry in registries.values():
            await registry.close()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
