"""The scheduler's wake-up: one per registry, set by every change to the jobs table (JobService, a
restore) so a sleeping scheduler re-reads the earliest next_run."""

from __future__ import annotations

import anyio


class Wakeup:
    """A level-triggered wake-up for the scheduler: set() before wait() is not lost."""

    def __init__(self) -> None:
        self._pending = False
        self._event: anyio.Event | None = None

    def set(self) -> None:
        self._pending = True
        if self._event is not None:
            self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True if woken by set()."""
        if not self._pending:
            self._event = anyio.Event()
            with anyio.move_on_after(timeout):
                await self._event.wait()
            self._event = None
        woken, self._pending = self._pending, False
        return woken
