"""P1 and P2 in memory: get_config (four levels), get_agent and list_agents through the SDK's
in-memory client against the no-op floor, and at 1,000,000 configuration rows and 10,000 agents
against 100 of each (also without MCP: the domain alone); and P1's cause, the client's outputSchema
check."""

from __future__ import annotations

import json
import statistics
import time

import bench_config
from harness import Setup, caller, interleaved
from mcp import Client
from report import Row

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server


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
