"""Connection guards for the HTTP server: a bounded number of open connections, and deadlines for
a client to send its request head and its request body.

uvicorn (0.54) reads a fresh connection's request head for as long as the client likes, and keeps
accepting connections until the process runs out of open files; a few hundred clients that never
finish their headers then hold the server. `guarded_protocol()` returns uvicorn's h11 protocol
with three rules added:

- At most `max_connections` open connections. One more is answered at once with 503 and
  Retry-After and closed, so the server's descriptors stay well below its open-files limit
  (the default is half of it; transports/limits.py).
- A request head must be complete within `header_timeout` seconds of the connection opening or
  of the previous response on it ending; otherwise 408 (or, if nothing was sent, a plain close).
- A request body must be complete within `body_timeout` seconds of its head.

The h11 implementation is chosen explicitly (not "auto", which picks httptools when installed):
the rules are written against its request cycle.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from sanctum_mcp.server.lograte import RateLimitedLog

log = logging.getLogger("sanctum_mcp.http")
REFUSED_RETRY_SECONDS = 5


def _plain(status: str, message: str, *extra: str) -> bytes:
    body = (message + "\n").encode()
    head = [f"HTTP/1.1 {status}", "content-type: text/plain; charset=utf-8", f"content-length: {len(body)}",
            "connection: close", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class GuardedH11Protocol(H11Protocol):
    max_connections: int
    header_timeout: float
    body_timeout: float
    warnings: RateLimitedLog

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting: str | None = None  # "head" or "body": what the deadline is for
        self._timed_cycle: Any = None  # the request whose head was last seen complete
        self._head_bytes = 0  # bytes received since the head deadline was armed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.warnings.emit("full", "refusing connections: %d are open, the limit (--max-connections)",
                               self.max_connections)
            transport.write(_plain("503 Service Unavailable",
                                   f"too many open connections (the limit is {self.max_connections}); retry shortly",
                                   f"retry-after: {REFUSED_RETRY_SECONDS}"))
            transport.close()
            return
        self._follow()

    def data_received(self, data: bytes) -> None:
        self._head_bytes += len(data)
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    # After every event: which deadline applies now.
    def _follow(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self._cancel()
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # waiting for the next request's head
            if self._waiting != "head":
                self._arm("head", self.header_timeout, self._head_late)
                self._timed_cycle = cycle
        elif cycle is not self._timed_cycle:  # a new request's head is complete
            self._timed_cycle = cycle
            if cycle.more_body:
                self._arm("body", self.body_timeout, self._body_late)
            else:
                self._cancel()
        elif not cycle.more_body and self._waiting == "body":  # its body is complete
            self._cancel()

    def _arm(self, kind: str, seconds: float, callback: Any) -> None:
        self._cancel()
        self._head_bytes = 0
        self._waiting = kind
        self._deadline = self.loop.call_later(seconds, callback)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting = None, None

    def _head_late(self) -> None:
        self._deadline, self._waiting = None, None
        cycle = self.cycle
        if self.transport.is_closing() or not (cycle is None or cycle.response_complete):
            return
        address = self.client[0] if self.client else "an unknown address"
        if self._head_bytes:
            self.warnings.emit((address, "head"), "closed a connection from %s: its request head was not complete "
                               "within %g s (--header-timeout)", address, self.header_timeout)
            self.transport.write(_plain("408 Request Timeout", f"the request head was not complete within "
                                        f"{self.header_timeout:g} s; send the whole request at once"))
        self.transport.close()

    def _body_late(self) -> None:
        self._deadline, self._waiting = None, None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or cycle.response_complete or not cycle.more_body:
            return
        address = self.client[0] if self.client else "an unknown address"
        self.warnings.emit((address, "body"), "closed a connection from %s: its request body was not complete "
                           "within %g s (--body-timeout)", address, self.body_timeout)
        if not cycle.response_started:
            self.transport.write(_plain("408 Request Timeout", f"the request body was not complete within "
                                        f"{self.body_timeout:g} s; send the whole request at once"))
        self.transport.close()  # connection_lost tells the application the client is gone


def guarded_protocol(*, max_connections: int, header_timeout: float, body_timeout: float) -> type[H11Protocol]:
    """uvicorn's `http=` protocol class with these limits (one class per server)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {
        "max_connections": max_connections, "header_timeout": header_timeout, "body_timeout": body_timeout,
        "warnings": RateLimitedLog(log.warning),
    })
