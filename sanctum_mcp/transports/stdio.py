"""stdio: one client on the process's standard input and output.

Two things here differ from the SDK's plain `run_stdio_async`:

- End of input is not the end of the work. The SDK's loop cancels every request still running
  when stdin closes, so `printf '<initialize>\\n<initialized>\\n<tools/list>\\n' | sanctum-mcp serve`
  sometimes printed only the initialize answer. `_Drain` holds end of input back from the SDK
  until every request already read has been answered (at most STDIO_DRAIN_TIMEOUT seconds).
- Reading stdin never holds up shutdown. The SDK reads it in an anyio worker thread, which a
  cancellation (SIGTERM) must wait for until the client sends another line; `_StdinLines` reads
  it in a daemon thread instead, so a terminated server closes the registry at once.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from sanctum_mcp.catalogue.toolsets import Selection
from sanctum_mcp.domain.registry import Registry

log = logging.getLogger("sanctum_mcp.stdio")

# How long requests still running when stdin closes may take to finish before they are cancelled
# (and answered "Connection closed"). The longest bounded operation is a scheduled plugin run (60 s).
STDIO_DRAIN_TIMEOUT = 60.0


async def serve_stdio(db_path: Path, user: str | None = None, *, scheduler: bool = True, db_log: bool = True,
                      selection: Selection | None = None) -> None:
    """Serve over stdio as the local user `user` (default: the oldest active admin, created as
    `operator` on first start), until end of input or SIGTERM/SIGHUP."""
    from sanctum_mcp.server.app import build_server
    from sanctum_mcp.transports.background import STDIO_SCHEDULER_DELAY, background
    from sanctum_mcp.transports.shutdown import stop_on_termination

    registry = await Registry.open(db_path, user=user)
    try:
        await registry.users.touch_login(registry.operator)
        async with background(registry, scheduler=scheduler, db_log=db_log, scheduler_delay=STDIO_SCHEDULER_DELAY):
            async with stop_on_termination():
                await run_stdio(build_server(registry, selection=selection))
    finally:
        await registry.close()


async def run_stdio(server: Any) -> None:
    """Serve `server` (an MCPServer) over this process's stdin and stdout."""
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async drives
    stdin, release_stdin = _claim_stdin()
    try:
        async with stdio_server(stdin=_StdinLines(stdin)) as (read_stream, write_stream):
            drain = _Drain(read_stream, write_stream)
            async with anyio.create_task_group() as tg:
                if getattr(server, "followers", None) is not None:  # resource subscriptions' task
                    tg.start_soon(server.followers.run)
                await lowlevel.run(drain.reader, drain.writer, lowlevel.create_initialization_options())
                tg.cancel_scope.cancel()
    finally:
        release_stdin()


def _claim_stdin() -> tuple[BinaryIO, Callable[[], None]]:
    """Read the protocol from a private duplicate of fd 0 and point fd 0 at /dev/null while
    serving (as the SDK does when it reads stdin itself): a child process, such as a plugin, must
    never read the client's requests. The SDK still claims fd 1 for the answers."""
    if sys.stdin is None or not _is_fd_0(sys.stdin):
        # Started with stdin closed (fd 0 may since belong to anything else): no client, no input.
        return io.BytesIO(), lambda: None
    private = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)

    def release() -> None:
        # The private descriptor is never closed: the reader thread may still be blocked on it,
        # and a closed number could be reused under it.
        os.dup2(private, 0)

    return os.fdopen(private, "rb", closefd=False), release


def _is_fd_0(stream: Any) -> bool:
    try:
        return stream.fileno() == 0
    except (AttributeError, OSError, ValueError):
        return False


class _StdinLines:
    """The client's lines, as the SDK's stdio_server iterates them (`async for line in stdin`).

    A daemon thread reads them and hands each one over to the event loop, waiting until it is
    taken (so a fast client cannot queue more than one line). Being a daemon, a thread blocked
    on a silent client neither delays a cancellation nor keeps the process alive at exit.
    """

    def __init__(self, stdin: BinaryIO) -> None:
        self._stdin = stdin
        self._send, self._receive = anyio.create_memory_object_stream[str](0)
        self._thread: threading.Thread | None = None

    def __aiter__(self) -> _StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._thread is None:
            token = anyio.lowlevel.current_token()
            self._thread = threading.Thread(target=self._read, args=(token,), name="sanctum-stdin", daemon=True)
            self._thread.start()
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def _read(self, token: anyio.lowlevel.EventLoopToken) -> None:
        try:
            for raw in iter(self._stdin.readline, b""):
                anyio.from_thread.run(self._send.send, raw.decode("utf-8", errors="replace"), token=token)
            anyio.from_thread.run(self._send.aclose, token=token)
        except Exception:  # the loop has ended or stopped listening: nothing is waiting for input
            return


class _Drain:
    """Stands between the SDK's stdio streams and its serving loop, and delays end of input
    until every request read so far has been answered (or cancelled by the client)."""

    def __init__(self, read_stream: Any, write_stream: Any) -> None:
        self.reader = _DrainingReader(self, read_stream)
        self.writer = _AnswerWatcher(self, write_stream)
        self.unanswered: Counter[Any] = Counter()
        self.idle = anyio.Event()
        self.idle.set()

    def opened(self, request_id: Any) -> None:
        self.unanswered[request_id] += 1
        if self.idle.is_set():
            self.idle = anyio.Event()

    def settled(self, request_id: Any, *, all_of_them: bool = False) -> None:
        if request_id not in self.unanswered:
            return
        self.unanswered[request_id] -= 1
        if all_of_them or self.unanswered[request_id] <= 0:
            del self.unanswered[request_id]
        if not self.unanswered:
            self.idle.set()

    async def until_answered(self) -> None:
        with anyio.move_on_after(STDIO_DRAIN_TIMEOUT) as scope:
            await self.idle.wait()
        if scope.cancelled_caught:
            log.warning("stdin closed; %d request(s) still running after %g s are cancelled",
                        sum(self.unanswered.values()), STDIO_DRAIN_TIMEOUT)


class _DrainingReader:
    """The SDK's read stream, noting each request; its end waits for their answers."""

    def __init__(self, drain: _Drain, inner: Any) -> None:
        self._drain = drain
        self._inner = inner

    @property
    def last_context(self) -> Any:  # the sender's contextvars, which the SDK replays per message
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            item = await self._inner.receive()
        except anyio.EndOfStream:
            await self._drain.until_answered()
            raise
        message = getattr(item, "message", None)  # an Exception for a line that is not JSON-RPC
        if isinstance(message, JSONRPCRequest):
            self._drain.opened(message.id)
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            # A request the client cancelled is never answered (the spec forbids it).
            self._drain.settled((message.params or {}).get("requestId"), all_of_them=True)
        return item

    def __aiter__(self) -> _DrainingReader:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _DrainingReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _AnswerWatcher:
    """The SDK's write stream, noting each answer as it is handed to the stdout writer."""

    def __init__(self, drain: _Drain, inner: Any) -> None:
        self._drain = drain
        self._inner = inner

    async def send(self, item: Any) -> None:
        await self._inner.send(item)
        message = getattr(item, "message", None)
        if isinstance(message, (JSONRPCResponse, JSONRPCError)):
            self._drain.settled(message.id)

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _AnswerWatcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

