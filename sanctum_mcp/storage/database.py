"""One SQLite connection per process, driven through aiosqlite's worker thread.

Every unit of work (a read or a whole write transaction) is a plain synchronous function
that runs on the connection's thread in ONE hop. Because aiosqlite's thread runs one queued
job at a time, a transaction can never interleave with another coroutine's statements, and a
tool call costs one thread hop instead of one per statement.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")

# How long a writer waits for another process's write lock before giving up (milliseconds).
BUSY_TIMEOUT_MS = 10_000
# How long an inline read (read_now) may block the event loop on a lock before it hands the work
# to the worker thread instead. In WAL mode a reader almost never waits at all.
INLINE_BUSY_TIMEOUT_MS = 50


class Database:
    """The process's handle on the registry database file."""

    def __init__(self, path: Path, connection: aiosqlite.Connection) -> None:
        self.path = path
        self._connection = connection
        self._reader: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating the folder if needed) and configure the database; does not migrate."""
        path = Path(path).expanduser()
        # Owner-only folder: it also holds the secret key file and backups.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # isolation_level=None: the sqlite3 module never opens transactions on its own;
        # every transaction here is an explicit BEGIN ... COMMIT.
        connection = await aiosqlite.connect(path, isolation_level=None)
        database = cls(path, connection)
        await database.run(_configure)
        return database

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self._connection.close()

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) in a read transaction: one consistent snapshot, never a write."""
        return await self.run(_in_read_transaction, fn, *args)

    async def read_now(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) in a read transaction right here, on the event loop's thread.

        For hot point lookups (get_config): a hop to the worker thread costs a thread wake-up,
        which on a busy machine is worth more than the read itself (tens of microseconds). The
        read runs on a second, query-only connection in its own read transaction, so it sees
        every committed write. If the database is locked (rare in WAL mode) it is handed to the
        worker thread instead of blocking the event loop. fn must only read, and must be cheap.
        """
        try:
            return self.read_inline(fn, *args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        return await self.read(fn, *args)

    def read_inline(self, fn: Callable[..., T], *args: Any) -> T:
        """read_now without the fallback: raises sqlite3.OperationalError when the file is locked."""
        return _in_read_transaction(self._inline_reader(), fn, *args)

    def data_version(self) -> int:
        """SQLite's PRAGMA data_version on the inline reader: it changes whenever another connection
        (this process's writer included) has committed. A cheap "has anything changed?" check."""
        return self._inline_reader().execute("PRAGMA data_version").fetchone()[0]

    def _inline_reader(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = _open_reader(self.path)
        return self._reader

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) as ONE write transaction: all of it commits, or none of it does."""
        return await self.run(_in_write_transaction, fn, *args)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn(conn, *args) on the connection's thread with no transaction of its own
        (for work that manages its own, such as migrations and backups)."""
        # aiosqlite's documented API is statement-at-a-time; `_execute` is the primitive all of
        # those use to run a callable on the connection's own thread. Using it keeps one hop per
        # unit of work. The pin in pyproject.toml guards against it moving.
        return await self._connection._execute(fn, self._connection._conn, *args, **kwargs)


def _configure(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":  # e.g. a file system that cannot hold the WAL index
        raise RuntimeError(f"could not switch the database to WAL mode (got {mode!r})")
    # FULL: a commit returns only after the WAL is synced, so an acknowledged write survives a
    # crash of the process and of the machine. Registry writes are human-paced; safety wins.
    conn.execute("PRAGMA synchronous = FULL")


def _open_reader(path: Path) -> sqlite3.Connection:
    # check_same_thread=False: the event loop's thread may differ from the one that first opened
    # it (a registry reopened under a new loop); reads are synchronous, so never concurrent.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _in_read_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    conn.execute("BEGIN")
    try:
        return fn(conn, *args)
    finally:
        conn.execute("ROLLBACK")


def _in_write_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    # IMMEDIATE takes the write lock up front, so a read-then-write inside fn can never fail
    # half-way with SQLITE_BUSY after another process committed in between.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
