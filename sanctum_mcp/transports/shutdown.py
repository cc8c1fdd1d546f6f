"""Ending a server cleanly on SIGTERM or SIGHUP: what supervisors, systemd and MCP clients send.

Python's default for both is to die on the spot: no `finally` runs, so queued log records are lost
and the registry is never closed, leaving its writes in the -wal file instead of the database file.
Here the signal asks the transport to stop, every `finally` runs (background work stops, log
records are written, `Registry.close` checkpoints the WAL), and the process exits with status 0.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

log = logging.getLogger("sanctum_mcp.shutdown")

TERMINATING = (signal.SIGTERM, signal.SIGHUP)


@asynccontextmanager
async def stop_on_termination(stop: Callable[[], None] | None = None) -> AsyncIterator[None]:
    """Run the body until it ends or SIGTERM/SIGHUP arrives.

    On the first signal `stop()` asks the body to finish on its own (uvicorn's graceful
    shutdown); without `stop`, or on a later signal, the body is cancelled. Either way the code
    after the `async with` runs, as after a normal end.
    """
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.open_signal_receiver(*TERMINATING) as signals:
                asked = False
                async for number in signals:
                    log.info("%s received: shutting down", signal.Signals(number).name)
                    if stop is not None and not asked:
                        asked = True
                        stop()
                    else:
                        tg.cancel_scope.cancel()
                        return

        tg.start_soon(watch)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
