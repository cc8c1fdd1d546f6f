"""How many MCP sessions each user may hold open over HTTP.

The SDK's session manager keeps every Streamable HTTP session until its client deletes it or it
has been idle for its idle timeout, and refuses new ones (503) for everybody once it holds
`max_sessions`. So one client that opens sessions and abandons them (a viewer's token, or any
local process under --trust-loopback) could fill the server and lock everyone out, the admins
included. `SessionGate` sits in front of /mcp and /sse and attributes each session to the
authenticated user who opened it:

- **Per user** at most `per_user` Streamable HTTP sessions: a user who opens one more closes their
  own least recently used session that has no request in flight (its id answers 404 from then
  on, which tells a client to initialize again). If every one of them is busy, the new one is
  refused with 429 and Retry-After. Legacy SSE streams (each one an open connection, never idle)
  count separately against the same number, and are refused with 429 beyond it.
- **In all** at most `total` sessions and streams for non-admins: beyond it, a user's own least
  recently used idle session makes room, or else 503 with Retry-After (when the least recently used
  idle session will have expired). Admins are never refused by it: their own per-user caps bound
  what they can hold, so the total stays bounded.
- Idle sessions are reaped by the SDK after the configured idle timeout (minutes, not its 30).

The gate never holds a lock across an await: each admission is decided and counted in one step
on the event loop. It learns that a session ended (client DELETE, idle timeout) lazily, from the
session manager's table, when it next counts that user's sessions.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sanctum_mcp.server.lograte import RateLimitedLog

log = logging.getLogger("sanctum_mcp.http")

MCP_PATH, SSE_PATH = "/mcp", "/sse"
BUSY_RETRY_SECONDS = 5  # a busy session's request usually ends within seconds


def is_mcp_path(path: str) -> bool:
    """/mcp and every /mcp/x/NAMES endpoint (transports/http.py): one session manager, one set of caps."""
    return path == MCP_PATH or path.startswith(MCP_PATH + "/x/")


@dataclass
class _Session:
    owner: Any
    busy: int = 0
    last_used: float = field(default_factory=time.monotonic)


class SessionGate:
    """ASGI middleware in front of /mcp and /sse (behind authentication)."""

    def __init__(self, app: ASGIApp, *, manager: StreamableHTTPSessionManager, per_user: int, total: int,
                 idle_timeout: float) -> None:
        self.app, self.manager = app, manager
        self.per_user, self.total, self.idle_timeout = per_user, total, idle_timeout
        self.sessions: dict[str, _Session] = {}
        self.by_user: dict[Any, dict[str, _Session]] = {}  # each in least recently used order
        self.opening: Counter[Any] = Counter()  # sessions being opened (admitted, not yet answered)
        self.streams: Counter[Any] = Counter()  # open legacy SSE streams
        self.warnings = RateLimitedLog(log.warning)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http" or not isinstance(user, AuthenticatedUser):
            await self.app(scope, receive, send)
            return
        claims = user.access_token.claims or {}
        who = claims.get("user_id") or claims.get("username")
        name, admin = str(claims.get("username")), claims.get("role") == "admin"
        if is_mcp_path(scope["path"]):
            await self._mcp(who, name, admin, scope, receive, send)
        elif scope["path"] == SSE_PATH and scope["method"] == "GET":
            await self._sse(who, name, admin, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # --- Streamable HTTP ---------------------------------------------------------------------------

    async def _mcp(self, who: Any, name: str, admin: bool, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        session_id = headers.get("mcp-session-id")
        if session_id is not None:
            session = self.sessions.get(session_id)
            if session is None or session.owner != who:  # the SDK answers 404 for it
                await self.app(scope, receive, send)
                return
            await self._in_session(session_id, session, scope, receive, send)
            return
        version = headers.get("mcp-protocol-version")
        if scope["method"] != "POST" or (version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS):
            # Nothing that can open a session: 2026-07-28 requests are stateless.
            await self.app(scope, receive, send)
            return
        refusal = self._admit(who, name, admin)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        registered: list[_Session] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400 and not registered:
                opened = Headers(raw=message["headers"]).get("mcp-session-id")
                if opened:  # counted from now on as a session, no longer as being opened
                    self.opening[who] -= 1
                    session = _Session(who, busy=1)
                    self.sessions[opened] = session
                    self.by_user.setdefault(who, {})[opened] = session
                    registered.append(session)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if registered:
                registered[0].busy -= 1
                registered[0].last_used = time.monotonic()
            else:
                self.opening[who] -= 1
            if self.opening[who] <= 0:
                del self.opening[who]

    async def _in_session(self, session_id: str, session: _Session, scope: Scope, receive: Receive,
                          send: Send) -> None:
        session.busy += 1
        mine = self.by_user.get(session.owner, {})
        if session_id in mine:  # most recently used last
            mine[session_id] = mine.pop(session_id)
        try:
            await self.app(scope, receive, send)
        finally:
            session.busy -= 1
            session.last_used = time.monotonic()

    def _admit(self, who: Any, name: str, admin: bool) -> _Response | None:
        """Make room for one more session of `who` and count it as being opened, or say why not."""
        mine = self._live_sessions(who)
        if len(mine) + self.opening[who] >= self.per_user:
            idle = next((sid for sid, session in mine.items() if session.busy == 0), None)
            if idle is None:
                self.warnings.emit((who, 429), "refused a new session to %r: all %d of their sessions are busy "
                                   "(--max-sessions-per-user)", name, len(mine))
                return _Response(429, INVALID_REQUEST, BUSY_RETRY_SECONDS, (
                    f"user '{name}' already has {len(mine)} open sessions, the most one user may hold "
                    f"(--max-sessions-per-user {self.per_user}), and each is busy with a request; finish or "
                    "close one (DELETE /mcp with its mcp-session-id) and retry"))
            self._close(idle)
            log.debug("closed %r's least recently used idle session to open another", name)
        if not admin and self._count() >= self.total:
            self._forget_ended()
            idle = next((sid for sid, session in mine.items() if session.busy == 0), None)
            if self._count() >= self.total and idle is not None:  # their own idle session makes room
                self._close(idle)
            if self._count() >= self.total:
                self.warnings.emit("total", "refused a new session to %r: %d sessions are open, the limit "
                                   "(--max-sessions; admins are still let in)", name, self._count())
                return self._full()
        self.opening[who] += 1
        return None

    def _live_sessions(self, who: Any) -> dict[str, _Session]:
        """`who`'s sessions, without those the session manager has ended since (DELETE, idle)."""
        mine = self.by_user.get(who, {})
        live = self._manager_sessions()
        for sid in [sid for sid in mine if sid not in live]:
            del mine[sid]
            self.sessions.pop(sid, None)
        if not mine:
            self.by_user.pop(who, None)
        return mine

    def _forget_ended(self) -> None:
        for who in list(self.by_user):
            self._live_sessions(who)

    def _manager_sessions(self) -> dict[str, Any]:
        # The SDK's table of open sessions (id -> transport). Private, but the only record of
        # which sessions its idle reaping and DELETE handling have ended; tests/test_trust_http.py
        # fails if it moves.
        return self.manager._server_instances

    def _close(self, session_id: str) -> None:
        """End a session as the SDK's idle timeout would: cancel its idle scope; the SDK then
        discards it, and its id answers 404."""
        session = self.sessions.pop(session_id)
        self.by_user.get(session.owner, {}).pop(session_id, None)
        transport = self._manager_sessions().get(session_id)
        if transport is not None and transport.idle_scope is not None:
            transport.idle_scope.cancel()

    def _count(self) -> int:
        return len(self.sessions) + sum(self.opening.values()) + sum(self.streams.values())

    def _full(self) -> _Response:
        now = time.monotonic()
        idle = [s.last_used for s in self.sessions.values() if s.busy == 0]
        wait = self.idle_timeout - (now - min(idle)) if idle else self.idle_timeout
        return _Response(503, INTERNAL_ERROR, max(1, math.ceil(wait)), (
            f"the server already holds {self._count()} open sessions, its limit (--max-sessions {self.total}); "
            "retry later, when idle sessions have expired, or ask an admin to raise the limit"))

    # --- legacy SSE ---------------------------------------------------------------------------------

    async def _sse(self, who: Any, name: str, admin: bool, scope: Scope, receive: Receive, send: Send) -> None:
        if self.streams[who] >= self.per_user:
            self.warnings.emit((who, "sse"), "refused an SSE stream to %r: %d are open (--max-sessions-per-user)",
                               name, self.streams[who])
            await _Response(429, INVALID_REQUEST, BUSY_RETRY_SECONDS, (
                f"user '{name}' already has {self.streams[who]} open SSE streams, the most one user may hold "
                f"(--max-sessions-per-user {self.per_user}); close one and retry"))(scope, receive, send)
            return
        if not admin and self._count() >= self.total:
            self._forget_ended()
            if self._count() >= self.total:
                await self._full()(scope, receive, send)
                return
        self.streams[who] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.streams[who] -= 1
            if self.streams[who] <= 0:
                del self.streams[who]


class _Response:
    """A JSON-RPC error body (no request id) with an HTTP status and Retry-After, like the SDK's own."""

    def __init__(self, status: int, code: int, retry_after: int, message: str) -> None:
        self.status, self.retry_after = status, retry_after
        self.body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(self.body)).encode()),
                                (b"retry-after", str(self.retry_after).encode())]})
        await send({"type": "http.response.body", "body": self.body})
