"""Process-wide background work that runs beside a transport: the scheduler, and copying the
server's own WARNING+ log records into the logs table. Started once per process, never per session."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from sanctum_mcp.domain.registry import Registry


@asynccontextmanager
async def background(registry: Registry, *, scheduler: bool = True, db_log: bool = True) -> AsyncIterator[None]:
    from sanctum_mcp.domain.logs import DatabaseLogHandler
    from sanctum_mcp.domain.scheduler import Scheduler

    handler = DatabaseLogHandler() if db_log else None
    root = logging.getLogger()
    async with anyio.create_task_group() as tg:
        if handler is not None:
            root.addHandler(handler)
            tg.start_soon(handler.run, registry)
        if scheduler:
            tg.start_soon(Scheduler(registry).run)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
    if handler is not None:
        root.removeHandler(handler)
        with anyio.CancelScope(shield=True):
            await handler.flush_to(registry)
