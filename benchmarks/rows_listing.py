"""P7: the size of tools/list (bench_listing.py), whole and as model-facing tokens, for all tools,
each profile and each toolset, against issue 16's targets."""

from __future__ import annotations

from pathlib import Path

import bench_listing
from report import Row


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
