"""P7: what a client's tools/list costs it, in bytes and estimated tokens, per toolset and profile.

    python benchmarks/bench_listing.py          (also part of `make bench`)

whole: the bytes of the tools/list result as the client receives it (compact JSON). model-facing:
what a model reads of each tool, name + description + inputSchema (compact JSON), and its tokens
estimated as bytes / 4 (no tokenizer is at hand offline; English prose and JSON average about 4
bytes per token for current tokenizers). Measured through the SDK's in-memory client, as an admin.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from sanctum_mcp.catalogue.toolsets import PROFILES, TOOLSETS, Selection, select
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server

# The budgets tests/test_trust_toolsets.py keeps (issue 16's targets): tokens model-facing, whole KB.
BUDGET_ALL_TOKENS = 8_000
BUDGET_ALL_WHOLE_KB = 90
BUDGET_ASSISTANT_TOKENS = 3_000


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def model_facing(tool: dict[str, Any]) -> int:
    return len((tool["name"] + tool.get("description", "") + compact(tool["inputSchema"])).encode())


def measure(listing: dict[str, Any]) -> dict[str, Any]:
    """listing: a tools/list result as JSON. -> whole bytes, model-facing bytes and tokens, per tool."""
    per_tool = {t["name"]: model_facing(t) for t in listing["tools"]}
    model = sum(per_tool.values())
    return {"whole": len(compact(listing).encode()), "model": model, "tokens": model // 4, "per_tool": per_tool}


async def listing_of(registry: Registry, selection: Selection) -> dict[str, Any]:
    async with Client(build_server(registry, selection=selection)) as client:
        result = await client.list_tools()
    return result.model_dump(by_alias=True, exclude_none=True, mode="json")


def selections() -> dict[str, Selection]:
    chosen = {name: select(toolsets=name) for name in PROFILES}
    chosen.update({f"toolset {name}": select(toolsets=name) for name in TOOLSETS})
    return chosen


async def measure_all(db: Path) -> dict[str, dict[str, Any]]:
    registry = await Registry.open(db)
    try:
        return {name: measure(await listing_of(registry, s)) for name, s in selections().items()}
    finally:
        await registry.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        figures = anyio.run(measure_all, Path(tmp) / "listing.db")
    for name, f in figures.items():
        print(f"{name:<20} whole {f['whole'] / 1000:7.1f} KB  model-facing {f['model'] / 1000:6.1f} KB  "
              f"~{f['tokens']:,} tokens ({len(f['per_tool'])} tools)")


if __name__ == "__main__":
    main()
