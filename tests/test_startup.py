"""What a server does before it answers `initialize` (benchmarks/README.md, P3: stdio cold start).

The handshake must not wait on anything it does not need: the tool catalogue is built on first use
(test_tool_contract.py), the registry's services are built on first use, and over stdio the
scheduler starts after a delay.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.transports.background import STDIO_SCHEDULER_DELAY, background


def test_opening_the_registry_imports_only_what_it_needs(db_path: Path):
    script = textwrap.dedent(f"""
        import asyncio, sys
        from sanctum_mcp.domain.registry import Registry

        async def main():
            registry = await Registry.open({str(db_path)!r})
            await registry.close()

        asyncio.run(main())
        print(" ".join(sorted(m for m in sys.modules if m.startswith("sanctum_mcp.domain."))))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "sanctum_mcp.domain.users" in loaded
    for lazy in ("agents", "config", "letta", "jobs", "logs", "backups", "jobs.scheduler", "tools", "plugins"):
        assert f"sanctum_mcp.domain.{lazy}" not in loaded, lazy


async def test_services_are_built_on_first_use_and_kept(registry: Registry):
    assert "config" not in vars(registry)
    first = registry.config
    assert registry.config is first and vars(registry)["config"] is first
    assert (await registry.config.get(registry.operator, "smcp_port")).value


async def test_the_scheduler_waits_for_its_delay(registry: Registry, caplog):
    caplog.set_level(logging.INFO, logger="sanctum_mcp.scheduler")
    async with background(registry, db_log=False, scheduler_delay=30):
        await anyio.sleep(0.2)
        assert "scheduler started" not in caplog.text
    async with background(registry, db_log=False):
        with anyio.fail_after(10):
            while "scheduler started" not in caplog.text:
                await anyio.sleep(0.05)
    assert 0 < STDIO_SCHEDULER_DELAY <= 5
