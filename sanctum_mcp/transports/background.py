"""Process-wide background work that runs beside a transport: the scheduler, and copying the
server's own WARNING+ log records into the logs table. Started once per process, never per session."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from sanctum_mcp.domain.registry import Registry


@asynccontextmanager
async def background(registry: Registry, *, scheduler: bool = True, db_log: bool = True,
                     scheduler_delay: float = 0.0) -> AsyncIterator[None]:
    """scheduler_delay: seconds before the scheduler is imported and makes its first pass. The stdio
    transport passes STDIO_SCHEDULER_DELAY: its client is waiting for `initialize` right then, and
    the scheduler's imports (croniter, the jobs and backups services) and first pass (housekeeping)
    would block the event loop in front of it (benchmarks/README.md, P3)."""
    from sanctum_mcp.domain.logs import DatabaseLogHandler

    handler = DatabaseLogHandler() if db_log else None
    root = logging.getLogger()
    async with anyio.create_task_group() as tg:
        if handler is not None:
            root.addHandler(handler)
            tg.start_soon(handler.run, registry)
        if scheduler:
            tg.start_soon(_run_scheduler, registry, scheduler_delay)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
    if handler is not None:
        root.removeHandler(handler)
        with anyio.CancelScope(shield=True):
            await handler.flush_to(registry)


STDIO_SCHEDULER_DELAY = 1.0


async def _run_scheduler(registry: Registry, delay: float) -> None:
    if delay > 0:
        await anyio.sleep(delay)
    from sanctum_mcp.domain.jobs.scheduler import Scheduler

    await Scheduler(registry).run()
