"""Rate-limited log lines: what a hostile client can trigger at will (a wrong token, a refused
connection) is logged once per kind per interval, and the next line says how many were held back.

Every WARNING is also copied into the `logs` table (domain/logs.py), so an unlimited line per bad
request would let anyone grow the database and the log without bound. The table of kinds is
bounded too: kinds that do not fit (e.g. many remote addresses) share one overflow entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

OVERFLOW = ("(other kinds)",)


@dataclass
class _Window:
    started: float
    message: str
    args: tuple[Any, ...]
    suppressed: int = 0


class RateLimitedLog:
    """`emit(key, message, *args)` logs through `log(message, *args)` at most once per `interval`
    seconds per key; a line that ends a window with held-back lines carries their count."""

    def __init__(self, log: Callable[..., None], *, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 1024) -> None:
        self.log, self.interval, self.clock, self.max_keys = log, interval, clock, max_keys
        self.keys: dict[Hashable, _Window] = {}

    def emit(self, key: Hashable, message: str, *args: Any) -> None:
        now = self.clock()
        if key not in self.keys and len(self.keys) >= self.max_keys:
            self._forget_ended(now)
            if len(self.keys) >= self.max_keys:
                key = OVERFLOW  # the one entry allowed beyond max_keys
        window = self.keys.get(key)
        if window is not None and now - window.started < self.interval:
            window.suppressed += 1
            return
        self.keys[key] = _Window(now, message, args)
        if window is not None and window.suppressed:
            message += " (and %d more like it in the last %d s)"
            args = (*args, window.suppressed, round(now - window.started))
        self.log(message, *args)

    def _forget_ended(self, now: float) -> None:
        for key, window in list(self.keys.items()):
            if now - window.started >= self.interval:
                del self.keys[key]
                if window.suppressed:  # say what was held back before forgetting it
                    self.log(window.message + " (and %d more like it in the last %d s)",
                             *window.args, window.suppressed, round(now - window.started))
