"""Benchmark: get_config against the SDK's own floor, and at 1,000,000 configuration rows.

    python benchmarks/bench_config.py [--calls 2000] [--rounds 10] [--rows 1000000] [--agents 10000]

Everything is measured in ONE run and reported as ratios, because absolute times on a shared
machine drift. Four targets, each driven through the SDK's in-memory Client (modern protocol):

  floor   a no-op tool on a bare MCPServer returning a one-field result (the cheapest call the
          SDK can make);
  shaped  a no-op tool on a bare MCPServer returning a canned get_config result, with the same
          output schema: the SDK's own cost for a result of this size, which includes the
          client re-validating the structured result against the output schema with jsonschema
          (about 10 us per schema node on these machines);
  small   get_config with a four-level resolve (instance -> tool -> agent -> system, the key set
          at all four levels) on a registry with 100 configuration rows;
  large   the same call on a registry with 1,000,000 configuration rows (bulk-inserted with
          sqlite3 executemany; smcp_port is also set for every bulk agent, the rest are distinct
          keys). No ANALYZE is run: a real registry is not analyzed either.

Calls are taken in interleaved batches (floor, shaped, small, large, floor, ...) so that drift
hits all alike; the medians of all samples are compared. Targets: small <= 1.25 x shaped (what
sanctum-mcp adds to the SDK), large <= 1.15 x small. small / floor is reported too. Exit status 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mcp import Client  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.server.mcpserver.tools.base import Tool  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from sanctum_mcp.catalogue import all_tools  # noqa: E402
from sanctum_mcp.domain.config.models import ResolvedConfig  # noqa: E402

from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR  # noqa: E402
from sanctum_mcp.domain.registry import Registry  # noqa: E402
from sanctum_mcp.server.app import build_server  # noqa: E402

TARGET_FLOOR = 1.25
TARGET_SCALE = 1.15


class Pong(BaseModel):
    ok: bool


def bare_server(canned: dict | None = None) -> MCPServer:
    """A bare MCPServer with `noop` (one-field result) and `noop_shaped` (a canned get_config result
    published with get_config's own output schema)."""

    def noop() -> Pong:
        """Do nothing."""
        return Pong(ok=True)

    result = ResolvedConfig.model_validate(canned) if canned else None

    def noop_shaped() -> ResolvedConfig:
        """Return a canned result."""
        return result

    shaped = Tool.from_function(noop_shaped, name="noop_shaped", structured_output=True)
    shaped.fn_metadata.output_schema = all_tools()["get_config"].output_schema
    return MCPServer(name="floor", tools=[Tool.from_function(noop, name="noop", structured_output=True), shaped])


async def prepare(path: Path, rows: int, agents: int = 1) -> tuple[Registry, dict]:
    """A registry with Athena, tool 'mailer', instance 'athena-mailer', smcp_port set at all four
    levels, `rows` configuration rows in total and `agents` agents in total (Athena and bulk-inserted
    ones named agent-000001, ...)."""
    registry = await Registry.open(path)
    athena = await registry.agents.create(LOCAL_OPERATOR, {"name": "Athena", "config": {}})
    if agents > 1:
        statuses = ("Healthy", "Ready", "Degraded", "Off")
        with sqlite3.connect(path) as conn:
            conn.executemany(
                "INSERT INTO agents (name, description, status, config, is_active) VALUES (?, ?, ?, ?, ?)",
                ((f"agent-{i:06d}", f"bench agent {i}", statuses[i % 4], '{"tempo": 1}', int(i % 5 != 0))
                 for i in range(1, agents)),
            )
    with sqlite3.connect(path) as conn:
        tool_id = conn.execute("INSERT INTO tools (name) VALUES ('mailer')").lastrowid
        instance_id = conn.execute(
            "INSERT INTO tool_instances (tool_id, agent_id, name) VALUES (?, ?, 'athena-mailer')", (tool_id, athena.id)
        ).lastrowid
    config = registry.config
    await config.set(LOCAL_OPERATOR, "smcp_port", "9001", scope="agent", target="Athena")
    await config.set(LOCAL_OPERATOR, "smcp_port", "9002", scope="tool", target="mailer")
    await config.set(LOCAL_OPERATOR, "smcp_port", "9003", scope="instance", target=str(instance_id))
    filler = rows - 3
    if filler > 0:
        rng = random.Random(42)
        scopes = ("agent", "tool", "instance", "user")
        # A popular key: smcp_port is also overridden for up to half of the bulk agents (on the large
        # registry, for every one of them), as a real fleet would, so the resolve has to pick
        # Athena's row among many rows of the same key.
        popular = min(max(agents - 1, 0), filler // 2)
        athena_id = athena.id

        def generate():
            for i in range(popular):
                agent_id = athena_id + 1 + i  # the bulk agents' ids follow Athena's
                yield ("agent", str(agent_id), "smcp_port", str(10000 + i % 50000), "integer")
            # Distinct (scope, target, key): target ids from 1,000,000 upwards never collide with real ones.
            for i in range(filler - popular):
                yield (scopes[i % 4], str(1_000_000 + i // 4000), f"key_{i % 4000:04d}_{rng.randrange(10**6)}",
                       str(i), "integer")

        with sqlite3.connect(path) as conn:
            conn.executemany(
                "INSERT INTO configurations (scope, target, key, value, type) VALUES (?, ?, ?, ?, ?)", generate()
            )
    count = await registry.db.read(lambda c: c.execute("SELECT count(*) FROM configurations").fetchone()[0])
    assert count == rows, (count, rows)
    count = await registry.db.read(lambda c: c.execute("SELECT count(*) FROM agents").fetchone()[0])
    assert count == max(agents, 1), (count, agents)
    return registry, {"key": "smcp_port", "instance": str(instance_id)}


async def batch(client: Client, name: str, args: dict, n: int, into: list[float]) -> None:
    for _ in range(n):
        start = time.perf_counter()
        result = await client.call_tool(name, args)
        into.append(time.perf_counter() - start)
        if result.is_error:
            raise SystemExit(f"{name} failed: {result.content[0].text}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per target (default 2000)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved batches (default 10)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the large registry")
    parser.add_argument("--agents", type=int, default=10_000, help="agents in the large registry (the small has 100)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-config-") as folder:
        started = time.perf_counter()
        small, small_args = await prepare(Path(folder) / "small.db", 100, agents=100)
        large, large_args = await prepare(Path(folder) / "large.db", options.rows, agents=options.agents)
        print(f"setup: 100 and {options.rows:,} configuration rows in {time.perf_counter() - started:.1f} s")
        samples: dict[str, list[float]] = {"floor": [], "shaped": [], "small": [], "large": []}
        try:
            async with Client(build_server(small)) as small_client:
                check = await small_client.call_tool("get_config", small_args)
            assert check.structured_content["scope"] == "instance" and len(check.structured_content["overrides"]) == 3
            async with (
                Client(bare_server(check.structured_content)) as floor,
                Client(build_server(small)) as small_client,
                Client(build_server(large)) as large_client,
            ):
                targets = {
                    "floor": (floor, "noop", {}),
                    "shaped": (floor, "noop_shaped", {}),
                    "small": (small_client, "get_config", small_args),
                    "large": (large_client, "get_config", large_args),
                }
                shaped = await floor.call_tool("noop_shaped", {})
                assert shaped.structured_content == check.structured_content
                for client, name, args in targets.values():  # warm-up
                    await batch(client, name, args, 200, [])
                per_round = max(1, options.calls // options.rounds)
                for _ in range(options.rounds):
                    for label, (client, name, args) in targets.items():
                        await batch(client, name, args, per_round, samples[label])
        finally:
            await small.close()
            await large.close()

    median = {label: statistics.median(values) for label, values in samples.items()}
    shaped_ratio = median["small"] / median["shaped"]
    floor_ratio = median["small"] / median["floor"]
    scale_ratio = median["large"] / median["small"]
    print(f"calls per target: {len(samples['floor'])} (in {options.rounds} interleaved rounds)")
    print(f"median no-op, one-field result (floor):               {median['floor'] * 1e6:8.0f} us")
    print(f"median no-op, canned get_config result (shaped):      {median['shaped'] * 1e6:8.0f} us")
    print(f"median get_config, 4-level resolve, 100 rows:         {median['small'] * 1e6:8.0f} us")
    print(f"median get_config, 4-level resolve, {options.rows:,} rows: {median['large'] * 1e6:8.0f} us")
    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    print(f"get_config / shaped floor  = {shaped_ratio:.3f}  (target <= {TARGET_FLOOR})  {verdict(shaped_ratio <= TARGET_FLOOR)}")
    print(f"get_config / floor         = {floor_ratio:.3f}  (the difference to shaped is the result's size)")
    print(f"1M rows / 100 rows         = {scale_ratio:.3f}  (target <= {TARGET_SCALE})  {verdict(scale_ratio <= TARGET_SCALE)}")
    return 0 if shaped_ratio <= TARGET_FLOOR and scale_ratio <= TARGET_SCALE else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
