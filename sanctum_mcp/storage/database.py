"""One SQLite connection per process, driven through aiosqlite's worker thread.

Every unit of work (a read or a whole write transaction) is a plain synchronous function
that runs on the connection's thread in ONE hop. Because aiosqlite's thread runs one queued
job at a time, a transaction can never interleave with another coroutine's statements, and a
tool call costs one thread hop instead of one per statement.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import anyio

T = TypeVar("T")

# How long a writer waits for another process's write lock before giving up (milliseconds).
BUSY_TIMEOUT_MS = 10_000
# How long an inline read (read_now) may block the event loop on a lock before it hands the work
# to the worker thread instead. In WAL mode a reader almost never waits at all.
INLINE_BUSY_TIMEOUT_MS = 50


class DatabaseUnavailable(Exception):
    """The database file cannot be opened or used at all. The message names the file and the cause
    in words (`cannot open database /x/registry.db: the disk is full; ...`), for a terminal or a
    supervisor's log; the domain turns it into its own error (domain/shared/errors.py:Unavailable)."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"cannot open database {path}: {cause}")
        self.path = path
        self.cause = cause


class _NoWal(Exception):
    """PRAGMA journal_mode = WAL answered another mode (the str of this exception)."""


class Database:
    """The process's handle on the registry database file."""

    def __init__(self, path: Path, connection: aiosqlite.Connection, *, created: bool = False) -> None:
        self.path = path
        # True when this open made the file: the caller names the new database once it is ready.
        self.created = created
        self._connection = connection
        self._reader: sqlite3.Connection | None = None
        # Called (no arguments, on the event loop) after every write that committed: the change
        # feed's notifier wakes its waiters without waiting for its poll.
        self.on_commit: list[Callable[[], None]] = []

    @classmethod
    async def open(cls, path: Path | str, *, create_folder: bool = False) -> Database:
        """Open and configure the database; does not migrate. Its folder must exist, unless
        create_folder (the default location's folder only: a folder someone named and that is not
        there is a typo, not a place to start an empty registry)."""
        path = Path(path).expanduser()
        files = _files_of(path)
        existed = {file for file in files if os.path.lexists(file)}
        # isolation_level=None: the sqlite3 module never opens transactions on its own;
        # every transaction here is an explicit BEGIN ... COMMIT.
        connection = aiosqlite.connect(path, isolation_level=None)
        try:
            if create_folder:
                # Owner-only folder: it also holds the secret key file and backups.
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            await connection
        except (OSError, sqlite3.Error) as exc:
            # aiosqlite stops its worker thread after a failed connect but does not wait for it;
            # the thread then reports to an event loop that may be closed by then (a traceback
            # on stderr after our one-line error). Wait for it here.
            if connection._thread.is_alive():
                connection._thread.join()
            _forget_new_empty_files(files, existed)
            raise DatabaseUnavailable(path, describe_failure(path, exc)) from None
        database = cls(path, connection, created=path not in existed)
        try:
            await database.run(_configure)
        except BaseException as exc:
            # Always close: aiosqlite's worker is a non-daemon thread, and one left running keeps
            # the process alive after main() has returned (a hang after the error, not an exit).
            await database.close()
            _forget_new_empty_files(files, existed)
            if isinstance(exc, _NoWal):
                raise DatabaseUnavailable(path, f"SQLite could not switch it to WAL mode (it stayed in {exc} "
                                                "mode); keep it on a local file system") from None
            if isinstance(exc, (OSError, sqlite3.Error)):
                raise DatabaseUnavailable(path, describe_failure(path, exc)) from None
            raise
        return database

    async def close(self) -> None:
        """Close both connections. Never cut short by a cancellation (SIGTERM, Ctrl-C): closing
        the last connection is what checkpoints the WAL into the database file and removes it."""
        with anyio.CancelScope(shield=True):
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
        result = await self.run(_in_write_transaction, fn, *args)
        for listener in self.on_commit:
            listener()
        return result

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
        raise _NoWal(mode)
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
        _end_transaction(conn)


def _in_write_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    # IMMEDIATE takes the write lock up front, so a read-then-write inside fn can never fail
    # half-way with SQLITE_BUSY after another process committed in between.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
        # COMMIT inside the try: it can fail too (SQLITE_FULL while writing the WAL), and the
        # transaction must then be rolled back, not left open under the next caller's BEGIN.
        conn.execute("COMMIT")
    except BaseException:
        _end_transaction(conn)
        raise
    return result


def _end_transaction(conn: sqlite3.Connection) -> None:
    """Roll back whatever is still open. SQLite may already have rolled the transaction back by
    itself (it does on SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM...): a second ROLLBACK would then
    fail and hide the error that says what went wrong."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# --- what is wrong with the file or the machine, in words ---------------------------------------


def _files_of(path: Path) -> tuple[Path, Path, Path]:
    return path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _forget_new_empty_files(files: tuple[Path, ...], existed: set[Path]) -> None:
    """After a failed open, remove what the attempt itself created: an empty database file (it
    holds nothing) and its -wal/-shm companions, so that a failure leaves the disk as it found it."""
    database = files[0]
    if database in existed:
        return
    with suppress(OSError):
        if database.is_file() and database.stat().st_size > 0:
            return  # someone else wrote it meanwhile: not ours to remove
    for file in files:
        if file not in existed:
            with suppress(OSError):
                if file.is_file():
                    file.unlink()


DISK_FULL = "the disk is full; free some space on it, then retry"


def is_disk_full(exc: BaseException) -> bool:
    return _primary_code(exc) == sqlite3.SQLITE_FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)


def trouble(exc: BaseException) -> str | None:
    """Why the database could not be used, when the cause is the file or the machine rather than
    the request (a full disk, a lock, a read-only or damaged file, an I/O error), in words that say
    what to do; None for any other failure."""
    if is_disk_full(exc):
        return DISK_FULL
    code = _primary_code(exc)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return "another process holds it locked; retry once that process has finished"
    if code == sqlite3.SQLITE_READONLY:
        return "it can only be read here (a read-only file or file system); the registry must be able to write it"
    if code == sqlite3.SQLITE_NOTADB:
        return "the file is not a SQLite database; check the path given to --db (or $SANCTUM_MCP_DB)"
    if code == sqlite3.SQLITE_CORRUPT:
        return "the file is damaged; restore it from a backup"
    if code == sqlite3.SQLITE_IOERR:
        return f"the file system reported an input/output error ({exc}); check the disk"
    return None


def describe_failure(path: Path, exc: BaseException) -> str:
    """The cause of a failure to open `path`, in words, for DatabaseUnavailable."""
    known = trouble(exc)
    if known is not None:
        return known
    # SQLITE_CANTOPEN ("unable to open database file") and OSErrors from creating the folder do
    # not say why; the path itself does.
    return _path_problem(path) or (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))


def _path_problem(path: Path) -> str | None:
    if path.is_dir():
        return "it is a folder, not a file; give --db a file name, such as " + str(path / "registry.db")
    ancestor = path.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is not a folder, so the database cannot be created inside it"
    if ancestor != path.parent:
        return (f"its folder {path.parent} does not exist; create it first (mkdir -p {path.parent}) or give --db a "
                "file in an existing folder (only the default folder, ~/.sanctum, is created on its own)")
    try:
        if path.exists():
            with open(path, "r+b"):
                pass
        elif not os.access(path.parent, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
            raise PermissionError
    except PermissionError:
        return ("permission denied: this user must be able to read and write the file and write its folder "
                f"({path.parent})")
    except OSError:
        return None
    return None


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF
