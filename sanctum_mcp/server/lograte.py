"""Rate-limited log lines: what a hostile client can trigger at will (a wrong token, a refused
connection) is logged once per kind per interval, and the next line says how many were held back.

Every WARNING is also copied into the `logs` table (domain/logs.py), so an unlimited line per bad
request would let anyone grow the database and the log without bound. The table of kinds is
bounded too: kinds that do not fit (e.g. many remote addresses) share one overflow entry.
"""

from __future__ import annotations

import logging
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
        line = self.admit(key, message, args)
        if line is not None:
            self.log(*line)

    def admit(self, key: Hashable, message: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The line to log now for this key, as (message, *args), or None while its window lasts."""
        now = self.clock()
        if key not in self.keys and len(self.keys) >= self.max_keys:
            for ended in self._forget_ended(now):
                self.log(*ended)
            if len(self.keys) >= self.max_keys:
                key = OVERFLOW  # the one entry allowed beyond max_keys
        window = self.keys.get(key)
        if window is not None and now - window.started < self.interval:
            window.suppressed += 1
            return None
        self.keys[key] = _Window(now, message, args)
        if window is not None and window.suppressed:
            return _with_count(message, args, window, now)
        return (message, *args)

    def _forget_ended(self, now: float) -> list[tuple[Any, ...]]:
        """Forget the windows that ended; return the lines that say what they held back."""
        lines = []
        for key, window in list(self.keys.items()):
            if now - window.started >= self.interval:
                del self.keys[key]
                if window.suppressed:
                    lines.append(_with_count(window.message, window.args, window, now))
        return lines


def _with_count(message: str, args: tuple[Any, ...], window: _Window, now: float) -> tuple[Any, ...]:
    return (message + " (and %d more like it in the last %d s)", *args, window.suppressed,
            round(now - window.started))


class RateLimitFilter(logging.Filter):
    """The same rule for another library's log records (the SDK's refused Host headers, uvicorn's
    malformed requests): a record at `level` or above passes once per interval per message text."""

    def __init__(self, *, level: int = logging.WARNING, **options: Any) -> None:
        super().__init__()
        self.level = level
        # Held-back counts of messages forgotten for room are dropped, not logged from in here.
        self.limiter = RateLimitedLog(lambda *_line: None, **options)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        message = record.getMessage()
        line = self.limiter.admit((record.name, message), "%s", (message,))
        if line is None:
            return False
        record.msg, record.args = line[0], line[1:]
        return True
