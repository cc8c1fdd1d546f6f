"""Browser sessions of the console: who signed in, until when, and the CSRF token of each.

A session lives in this process's memory only (a restart signs everyone out) and is known by the
SHA-256 of its cookie value, never the value itself. Bounded under attack: at most MAX_SESSIONS at
once (a new sign-in beyond it ends the least recently used session) and MAX_SESSIONS_PER_USER of one
user (beyond it, that user's least recently used: one token cannot sign everyone else out); each
ends IDLE after its last request or LIFETIME after sign-in, whichever comes first. The session keeps no role: the caller
is read again from the users table on every request (UserService.caller_now), so a role change,
a deactivation or a revoked token applies at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "sanctum_console"
# The sign-in form's own CSRF value (double submit: cookie and form field must agree), for the one
# POST that comes before a session exists.
PRE_COOKIE = "sanctum_console_signin"
MAX_SESSIONS = 1000
MAX_SESSIONS_PER_USER = 20  # so that one user signing in again and again ends only their own
IDLE = 2 * 3600.0
LIFETIME = 12 * 3600.0


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())  # type: ignore[union-attr]


@dataclass
class Session:
    user_id: int
    username: str
    # The API token it signed in with (its SHA-256), or None for a sign-in link.
    token_hash: str | None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    started: float = 0.0
    seen: float = 0.0
    waits: int = 0  # live-update requests of this session waiting now (pages/live.py bounds them)


class SessionStore:
    def __init__(self, *, limit: int = MAX_SESSIONS, idle: float = IDLE, lifetime: float = LIFETIME,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.idle, self.lifetime, self.clock = limit, idle, lifetime, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._sessions)

    def start(self, user_id: int, username: str, token_hash: str | None) -> tuple[str, Session]:
        """A new session: (cookie value, session)."""
        self._expire()
        own = [key for key, session in self._sessions.items() if session.user_id == user_id]
        for key in own[:max(0, len(own) - MAX_SESSIONS_PER_USER + 1)]:  # least recently used first
            del self._sessions[key]
        while len(self._sessions) >= self.limit:
            self._sessions.popitem(last=False)
        now = self.clock()
        value = secrets.token_urlsafe(32)
        session = Session(user_id, username, token_hash, started=now, seen=now)
        self._sessions[digest(value)] = session
        return value, session

    def get(self, value: str | None) -> Session | None:
        if not value or len(value) > 100:
            return None
        key = digest(value)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle or now - session.started > self.lifetime:
            del self._sessions[key]
            return None
        session.seen = now
        self._sessions.move_to_end(key)
        return session

    def end(self, value: str | None) -> None:
        if value:
            self._sessions.pop(digest(value), None)

    def _expire(self) -> None:
        """Drop expired sessions from the least recently used end (bounded work per sign-in)."""
        now = self.clock()
        for key, session in list(self._sessions.items())[:100]:
            if now - session.seen > self.idle or now - session.started > self.lifetime:
                del self._sessions[key]
            else:
                break
