"""The logs table seen from the domain: querying the audit trail and events, agents' notes,
retention, and the handler that copies the server's own Python logging (WARNING and above) into it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain.shared import audit, governing
from sanctum_mcp.domain.shared.clock import iso, parse_instant
from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.shared.secrets import redact
from sanctum_mcp.storage import backups as settings_sql
from sanctum_mcp.storage import logs as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.storage.database import Database

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
MAX_MESSAGE = 2000
MAX_DETAILS = 10_000  # characters of JSON
RETENTION_KEY = governing.LOG_RETENTION_DAYS
# Rows that name a user are the audit trail of what people and agents did: log retention keeps them
# at least this long whatever log_retention_days says, so that no setting erases recent history.
# Rows naming no user (the server's own log records, job runs, the scheduler's notes) follow the setting.
AUDIT_FLOOR_DAYS = 90

_internal = logging.getLogger("sanctum_mcp.logs.internal")  # never copied into the table


class LogEntry(BaseModel):
    id: int
    level: LogLevel
    source: str
    source_id: str | None = None
    user_id: int | None = None
    action: str | None = None
    message: str
    details: dict[str, Any] | None = Field(
        default=None, description="Secrets masked."
    )
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LogEntry:
        details = json.loads(row["details"]) if row["details"] else None
        return cls(
            id=row["id"],
            level=row["level"],
            source=row["source"],
            source_id=row["source_id"],
            user_id=row["user_id"],
            action=row["action"],
            message=row["message"],
            details=details if isinstance(details, dict) else ({"value": details} if details is not None else None),
            created_at=row["created_at"],
        )


class LogPage(BaseModel):
    entries: list[LogEntry]
    next_cursor: str | None = None


class LogService:
    PAGE_DEFAULT = 50

    def __init__(self, db: Database) -> None:
        self.db = db

    async def query(
        self,
        *,
        level: str | None = None,
        source: str | None = None,
        source_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        text: str | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> LogPage:
        key = decode_cursor("query_logs", cursor, arity=2)
        start = iso(parse_instant(since, field="since")) if since is not None else None
        end = iso(parse_instant(until, field="until")) if until is not None else None
        if start is not None and end is not None and start >= end:
            raise InvalidInput(f"since ({since}) must be earlier than until ({until}).")
        if text is not None and not text.strip():
            raise InvalidInput("text must not be blank; leave it out to match every message.")
        rows = await self.db.read(
            lambda conn: sql.page(
                conn, level=level, source=source, source_id=source_id, since=start, until=end, text=text,
                before=(key[0], key[1]) if key else None, limit=limit + 1,
            )
        )
        entries = [LogEntry.from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor("query_logs", [entries[-1].created_at, entries[-1].id])
        return LogPage(entries=entries, next_cursor=next_cursor)

    async def log_event(self, caller: Caller, *, level: str, message: str, details: dict[str, Any] | None) -> LogEntry:
        """An agent's (or a person's) note in the log: source 'agent', source_id the caller's name."""
        if not message.strip():
            raise InvalidInput("message must not be blank: say what happened.")
        if len(message) > MAX_MESSAGE:
            raise InvalidInput(f"message is {len(message)} characters long; the limit is {MAX_MESSAGE}. Put the rest in details.")
        encoded = json.dumps(details, separators=(",", ":")) if details is not None else ""
        if len(encoded) > MAX_DETAILS:
            raise InvalidInput(f"details is {len(encoded)} characters of JSON; the limit is {MAX_DETAILS}.")

        def tx(conn: sqlite3.Connection) -> LogEntry:
            # The note IS the audit row of this call (one row, action 'log.event').
            audit.record(conn, caller, action="log.event", source="agent", source_id=caller.username,
                         message=message, level=level, extra={"note": details} if details is not None else None)
            row_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            return LogEntry.from_row(conn.execute("SELECT * FROM logs WHERE id = ?", (row_id,)).fetchone())

        return await self.db.write(tx)

    async def recent_job_runs(self, limit: int = 50) -> list[LogEntry]:
        rows = await self.db.read(sql.recent_job_runs, limit)
        return [LogEntry.from_row(r) for r in rows]

    async def retention_days(self) -> int | None:
        raw = await self.db.read(settings_sql.setting, RETENTION_KEY)
        return governing.days_setting(RETENTION_KEY, raw)

    async def apply_retention(self, now: datetime) -> int:
        """Delete rows older than log_retention_days (0 or empty keeps everything), but rows naming a
        user only once they are also older than AUDIT_FLOOR_DAYS. Returns the count."""
        days = await self.retention_days()
        if not days:
            return 0
        cutoff = iso(now - timedelta(days=days))
        audit_days = max(days, AUDIT_FLOOR_DAYS)
        audit_cutoff = iso(now - timedelta(days=audit_days))

        def tx(conn: sqlite3.Connection) -> int:
            removed = sql.purge_before(conn, cutoff, attributed_cutoff=audit_cutoff)
            if removed:
                sql.insert(conn, {
                    "level": "INFO", "source": "system", "action": "logs.purge",
                    "message": f"log retention ({days} days; audit rows naming a user: {audit_days} days) removed "
                               f"{removed} row(s) older than {cutoff}",
                    "details": json.dumps({"removed": removed, "cutoff": cutoff, "days": days,
                                           "audit_cutoff": audit_cutoff, "audit_days": audit_days}),
                    "created_at": iso(now),
                })
            return removed

        return await self.db.write(tx)


# --- the server's Python logging, copied into the table ------------------------------------------


def _level_name(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "CRITICAL"
    if levelno >= logging.ERROR:
        return "ERROR"
    if levelno >= logging.WARNING:
        return "WARNING"
    if levelno >= logging.INFO:
        return "INFO"
    return "DEBUG"


class DatabaseLogHandler(logging.Handler):
    """Copies Python log records (WARNING and above by default) into the logs table.

    emit() never touches the database: it only queues the record (it may run on any thread,
    including the database thread in the middle of a transaction) and pokes the event loop; the
    `run()` task, on the event loop, writes queued records in one transaction of its own. So a log
    call can never write inside someone else's transaction, nor wait for the database thread it
    is running on. Rows: source 'server', source_id the logger name, action 'server.log'; the
    exception type is kept, never its traceback or message (those stay on stderr).
    """

    def __init__(self, level: int = logging.WARNING, capacity: int = 10_000) -> None:
        super().__init__(level)
        self.pending: collections.deque[tuple] = collections.deque(maxlen=capacity)
        self.dropped = 0
        self._notify: Any = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_internal.name):
            return
        try:
            details: dict[str, Any] = {"logger": record.name, "where": f"{record.module}:{record.lineno}"}
            if record.exc_info and record.exc_info[0] is not None:
                details["exception"] = record.exc_info[0].__name__
            entry = (
                _level_name(record.levelno),
                "server",
                record.name[:200],
                None,
                "server.log",
                redact(record.getMessage())[:MAX_MESSAGE],  # viewers read these rows
                json.dumps(details, separators=(",", ":")),
                iso(datetime.fromtimestamp(record.created, UTC)),
            )
        except Exception:
            self.handleError(record)
            return
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
        self.pending.append(entry)
        notify = self._notify
        if notify is not None:
            try:
                notify()
            except RuntimeError:  # the loop is closing; the final flush picks the record up
                pass

    async def run(self, registry: Registry) -> None:
        """Flush queued records whenever some arrive, until cancelled (then flush what is left)."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        self._notify = lambda: loop.call_soon_threadsafe(wake.set)
        try:
            while True:
                if not self.pending:
                    await wake.wait()
                wake.clear()
                await self.flush_to(registry)
        finally:
            self._notify = None

    async def flush_to(self, registry: Registry) -> int:
        batch = []
        while self.pending:
            batch.append(self.pending.popleft())
        dropped, self.dropped = self.dropped, 0
        if dropped:
            batch.append(("WARNING", "server", _internal.name, None, "server.log",
                          f"{dropped} log record(s) were dropped because the queue was full",
                          None, iso(datetime.now(UTC))))
        if not batch:
            return 0
        try:
            await registry.db.write(sql.insert_many, batch)
        except Exception as exc:
            _internal.warning("could not copy %d log record(s) to the logs table: %s", len(batch), exc)
            return 0
        return len(batch)
