"""Waiting for the next change: `await notifier.wait_beyond(revision, timeout)`.

The one API the console's server-sent events and the MCP subscriptions use to follow the feed
(no `mcp` import, no task of its own):

    notifier = registry.notifier
    seen = await notifier.current()                      # the feed's revision now
    while True:
        seen_now = await notifier.wait_beyond(seen, 25)  # returns once the revision is > seen,
        if seen_now > seen:                              # or after 25 s with the same revision
            ... read registry.feed.changes_since(...) from seen ...
        seen = seen_now

Commits of this process wake waiters at once (`Database.on_commit`). Commits of other processes
(the CLI, another server on the same file) are noticed by a cheap poll while someone waits: every
POLL_INTERVAL one waiter asks SQLite's `PRAGMA data_version` (has any connection committed?) and
reads the revision only when it moved. Waiters cost an event wait each, nothing per change.
"""

from __future__ import annotations

import sqlite3

import anyio

from sanctum_mcp.storage import changes as sql
from sanctum_mcp.storage.database import Database

POLL_INTERVAL = 0.5  # seconds; how late a change made by another process may be noticed


class ChangeNotifier:
    def __init__(self, db: Database, *, poll_interval: float = POLL_INTERVAL) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self._revision = -1  # the newest revision seen; -1 before the first read
        self._data_version: int | None = None
        self._advanced: anyio.Event | None = None  # set (and replaced) whenever the revision moves
        db.on_commit.append(self.poke)

    async def current(self) -> int:
        """The feed's revision now (0 before the first change)."""
        self._check(force=True)
        if self._revision < 0:  # the file was locked for the inline read: ask the worker thread
            self._advance(await self.db.read(sql.current))
        return self._revision

    async def wait_beyond(self, revision: int, timeout: float) -> int:
        """The feed's revision as soon as it is greater than `revision`, or after `timeout` seconds
        (then it is <= `revision`). Cancellation-safe; costs no database work while nothing commits."""
        with anyio.move_on_after(timeout):
            while self._revision <= revision:
                if self._advanced is None:
                    self._advanced = anyio.Event()
                event = self._advanced
                with anyio.move_on_after(self.poll_interval):
                    await event.wait()
                self._check()
        return max(self._revision, 0)

    def poke(self) -> None:
        """A commit of this process: look at the revision now (Database.write calls it)."""
        if self._advanced is not None:  # nobody waits yet: the next current() reads it anyway
            self._check(force=True)

    def _check(self, force: bool = False) -> None:
        try:
            version = self.db.data_version()
            if not force and version == self._data_version:
                return
            revision = self.db.read_inline(sql.current)
        except sqlite3.OperationalError:  # locked right now: the next poll tries again
            return
        self._data_version = version
        self._advance(revision)

    def _advance(self, revision: int) -> None:
        if revision > self._revision:
            self._revision = revision
            if self._advanced is not None:
                self._advanced.set()
                self._advanced = None
