"""SQL for the logs table (the audit trail and event log). No rules here.

Listing is newest first with a keyset on (created_at, id). Each filter shape has an index whose
order is the listing's order, so a page costs the same on a million rows as on a hundred:
  level (+ time window)            -> idx_logs_level_created_at (level, created_at[, rowid])
  source + source_id (+ window)    -> idx_logs_source (source, source_id, created_at[, rowid])
  source alone (+ window)          -> idx_logs_source_created_at (source, created_at[, rowid])
  time window / nothing            -> idx_logs_created_at (created_at[, rowid])
A text filter (a substring of message or action, ASCII case ignored: LIKE '%text%') of three or
more characters is first counted in logs_fts, the trigram index (schema.sql), up to a threshold
H = sqrt(limit * rows) (at most TEXT_HITS):
  at most H rows hold it (rare)   -> those rows, from the index, filtered, checked with the LIKE and
                                     sorted: at most H rows, however big the table;
  more rows hold it (common)      -> the filter's index above, newest first, with the LIKE: rows that
                                     common turn up within about limit * rows / H = H rows when they
                                     are spread over time (all of them old: up to every row, as before).
H balances the two. A text of one or two characters has no trigram: it takes the second way.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sanctum_mcp.storage.sqlutil import like_escaped

COLUMNS = ("level", "source", "source_id", "user_id", "action", "message", "details", "created_at")
# At most this many rows holding a text are read through logs_fts and sorted (see the docstring).
TEXT_HITS = 5000
TRIGRAM = 3  # the trigram tokenizer indexes nothing shorter


def insert(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    columns = [c for c in COLUMNS if values.get(c) is not None]
    sql = f"INSERT INTO logs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    return conn.execute(sql, [values[c] for c in columns]).lastrowid


def insert_many(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Rows of (level, source, source_id, user_id, action, message, details, created_at)."""
    conn.executemany(
        "INSERT INTO logs (level, source, source_id, user_id, action, message, details, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def page_sql(
    *,
    level: str | None = None,
    source: str | None = None,
    source_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    text: str | None = None,
    before: tuple[str, int] | None = None,
    limit: int = 50,
    text_index: bool = False,
) -> tuple[str, list[Any]]:
    """The query for one page, newest first (exposed so the benchmark can EXPLAIN it). text_index:
    start from the rows logs_fts says hold the text (a text of TRIGRAM or more characters)."""
    where, params = [], []
    if text_index:
        if text is None or len(text) < TRIGRAM:
            raise ValueError(f"logs_fts indexes texts of {TRIGRAM} or more characters")
        where.append("logs_fts MATCH ?")
        params.append(fts_phrase(text))
    if level is not None:
        where.append("logs.level = ?")
        params.append(level)
    if source is not None:
        where.append("logs.source = ?")
        params.append(source)
    if source_id is not None:
        where.append("logs.source_id = ?")
        params.append(source_id)
    if since is not None:
        where.append("logs.created_at >= ?")
        params.append(since)
    if until is not None:
        where.append("logs.created_at < ?")
        params.append(until)
    if before is not None:
        # Row-value comparison: SQLite turns it into a range on (created_at, rowid) of the index.
        where.append("(logs.created_at, logs.id) < (?, ?)")
        params += [before[0], before[1]]
    if text is not None:
        # Also behind the index: it folds the case of every letter, LIKE only of ASCII ones.
        pattern = "%" + like_escaped(text) + "%"
        where.append("(logs.message LIKE ? ESCAPE '\\' OR logs.action LIKE ? ESCAPE '\\')")
        params += [pattern, pattern]
    # CROSS JOIN: SQLite keeps the left table outermost, so the index's hits drive the join.
    sql = "SELECT logs.* FROM logs_fts CROSS JOIN logs ON logs.id = logs_fts.rowid" if text_index else "SELECT * FROM logs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY logs.created_at DESC, logs.id DESC LIMIT ?"
    params.append(limit)
    return sql, params


def fts_phrase(text: str) -> str:
    """text as one FTS5 phrase: quoted, so that nothing in it is query syntax (AND, *, NEAR, ...)."""
    return '"' + text.replace('"', '""') + '"'


def text_is_rare(conn: sqlite3.Connection, text: str, limit: int) -> bool:
    """Whether logs_fts finds the text in at most sqrt(limit * rows) rows, TEXT_HITS at most (it
    reads at most one more). rows: the span of ids, two rowid look-ups (retention deletes the oldest)."""
    if len(text) < TRIGRAM:
        return False
    span = conn.execute("SELECT (SELECT max(id) FROM logs) - (SELECT min(id) FROM logs) + 1").fetchone()[0] or 0
    threshold = min(TEXT_HITS, math.isqrt(limit * span))
    hits = conn.execute("SELECT count(*) FROM (SELECT 1 FROM logs_fts WHERE logs_fts MATCH ? LIMIT ?)",
                        (fts_phrase(text), threshold + 1)).fetchone()[0]
    return hits <= threshold


def chosen_page_sql(conn: sqlite3.Connection, **filters: Any) -> tuple[str, list[Any]]:
    """page_sql with the way to the text chosen as the module docstring says."""
    text = filters.get("text")
    rare = text is not None and text_is_rare(conn, text, filters.get("limit", 50))
    return page_sql(**filters, text_index=rare)


def page(conn: sqlite3.Connection, **filters: Any) -> list[sqlite3.Row]:
    sql, params = chosen_page_sql(conn, **filters)
    return conn.execute(sql, params).fetchall()


def purge_before(conn: sqlite3.Connection, cutoff: str, *, attributed_cutoff: str) -> int:
    """Delete rows older than `cutoff`, except rows naming a user (the audit trail), which go only
    before `attributed_cutoff` (never later than cutoff). The second DELETE walks
    idx_logs_unattributed, so rows kept for the floor are not read again on every pass."""
    removed = conn.execute("DELETE FROM logs WHERE created_at < ?", (min(cutoff, attributed_cutoff),)).rowcount
    if cutoff > attributed_cutoff:
        removed += conn.execute(PURGE_UNATTRIBUTED, (cutoff,)).rowcount
    return removed


# Without statistics SQLite may prefer idx_logs_user (user_id IS NULL), which reads every row naming
# no user, however young; the partial index reads exactly the rows to delete.
PURGE_UNATTRIBUTED = "DELETE FROM logs INDEXED BY idx_logs_unattributed WHERE user_id IS NULL AND created_at < ?"


def has_row(conn: sqlite3.Connection, *, source: str, source_id: str, action: str) -> bool:
    """Whether a row with this source, source id and action exists (idx_logs_source)."""
    return conn.execute(
        "SELECT 1 FROM logs WHERE source = ? AND source_id = ? AND action = ? LIMIT 1", (source, source_id, action)
    ).fetchone() is not None


JOB_RUN_ACTIONS = ("job.due", "job.run", "job.failed", "job.missed")


def recent_job_runs(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The scheduler's rows (not the audit rows of job changes, which share source 'job')."""
    marks = ", ".join("?" for _ in JOB_RUN_ACTIONS)
    return conn.execute(
        f"SELECT * FROM logs WHERE source = 'job' AND action IN ({marks}) ORDER BY created_at DESC, id DESC LIMIT ?",
        (*JOB_RUN_ACTIONS, limit),
    ).fetchall()


def rows_between(conn: sqlite3.Connection, table: str, since: str | None, until: str) -> list[sqlite3.Row]:
    """Rows of `table` ('logs' or 'config_history') with since <= created_at < until, oldest first."""
    if table not in ("logs", "config_history"):
        raise ValueError(f"no created_at window for table {table!r}")
    if since is None:
        return conn.execute(f'SELECT * FROM "{table}" WHERE created_at < ? ORDER BY id', (until,)).fetchall()
    return conn.execute(
        f'SELECT * FROM "{table}" WHERE created_at >= ? AND created_at < ? ORDER BY id', (since, until)
    ).fetchall()
