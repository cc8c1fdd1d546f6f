"""SQL for the logs table (the audit trail and event log). No rules here.

Listing is newest first with a keyset on (created_at, id). Each filter shape has an index whose
order is the listing's order, so a page costs the same on a million rows as on a hundred:
  level (+ time window)            -> idx_logs_level_created_at (level, created_at[, rowid])
  source + source_id (+ window)    -> idx_logs_source (source, source_id, created_at[, rowid])
  source alone (+ window)          -> idx_logs_source_created_at (source, created_at[, rowid])
  time window / nothing            -> idx_logs_created_at (created_at[, rowid])
A text filter (a substring of message or action, ASCII case ignored: LIKE '%text%' on either) of
three or more characters also has logs_fts, the trigram index (schema.sql), which finds the rows
holding it without reading the others. With `limit` the page's size:
  1. at most `limit` rows hold it (counted in logs_fts, reading at most limit + 1 hits): those rows,
     fetched by id, filtered and sorted - however big the table;
  2. else the newest SPREAD x limit rows of the filter's index, newest first, with the LIKE: a text
     held by at least one row in SPREAD among them fills its page there;
  3. else at most TEXT_HITS rows hold it: as in 1, at most TEXT_HITS rows;
  4. else walk the filter's index on with the LIKE, as before logs_fts: such a text is common, so
     its rows turn up soon, unless they are all old (then up to every row is read).
A text of one or two characters has no trigram, and one holding NUL cannot be an FTS5 query (both
stop at NUL): they go to 4 directly. Every way gives the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sanctum_mcp.storage.sqlutil import like_escaped

COLUMNS = ("level", "source", "source_id", "user_id", "action", "message", "details", "created_at")
# The ways to a text filter (see the docstring): how many rows per row of the page are walked before
# logs_fts is asked again, and the most rows ever read from logs_fts.
SPREAD = 20
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


def _where(*, level: str | None = None, source: str | None = None, source_id: str | None = None,
           since: str | None = None, until: str | None = None,
           before: tuple[str, int] | None = None) -> tuple[list[str], list[Any]]:
    where, params = [], []
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
    return where, params


def _like(text: str) -> tuple[str, list[str]]:
    pattern = "%" + like_escaped(text) + "%"
    return "(logs.message LIKE ? ESCAPE '\\' OR logs.action LIKE ? ESCAPE '\\')", [pattern, pattern]


NEWEST_FIRST = " ORDER BY logs.created_at DESC, logs.id DESC LIMIT ?"


def page_sql(*, text: str | None = None, limit: int = 50, text_index: bool = False,
             **filters: Any) -> tuple[str, list[Any]]:
    """The query for one page, newest first (exposed so the tests and the benchmark can EXPLAIN it).
    filters: level, source, source_id, since, until, before. text_index: start from the rows
    logs_fts says hold the text (of TRIGRAM or more characters)."""
    where, params = _where(**filters)
    if text is not None:
        # Also behind the index: it folds the case of every letter, LIKE only of ASCII ones.
        like, patterns = _like(text)
        where.append(like)
        params += patterns
    if text_index:
        if text is None or len(text) < TRIGRAM or "\x00" in text:
            raise ValueError(f"logs_fts finds texts of {TRIGRAM} or more characters, without NUL")
        # CROSS JOIN: SQLite keeps the left table outermost, so the index's hits drive the join.
        sql = "SELECT logs.* FROM logs_fts CROSS JOIN logs ON logs.id = logs_fts.rowid WHERE logs_fts MATCH ?"
        params.insert(0, fts_phrase(text))
        if where:
            sql += " AND " + " AND ".join(where)
    else:
        sql = "SELECT * FROM logs" + (" WHERE " + " AND ".join(where) if where else "")
    return sql + NEWEST_FIRST, [*params, limit]


def fts_phrase(text: str) -> str:
    """text as one FTS5 phrase: quoted, so that nothing in it is query syntax (AND, *, NEAR, ...)."""
    return '"' + text.replace('"', '""') + '"'


def _at_most(conn: sqlite3.Connection, text: str, most: int) -> bool:
    """Whether logs_fts finds the text in at most `most` rows (reading at most one more hit)."""
    hits = conn.execute("SELECT count(*) FROM (SELECT 1 FROM logs_fts WHERE logs_fts MATCH ? LIMIT ?)",
                        (fts_phrase(text), most + 1)).fetchone()[0]
    return hits <= most


def _walk_newest(conn: sqlite3.Connection, text: str, limit: int, rows: int,
                 filters: dict[str, Any]) -> list[sqlite3.Row] | None:
    """Way 2: the page, if the newest `rows` rows of the filter's index hold it (or are all there is)."""
    where, params = _where(**filters)
    like, patterns = _like(text)
    sql = f"SELECT logs.id, {like} FROM logs" + (" WHERE " + " AND ".join(where) if where else "") + NEWEST_FIRST
    ids, walked = [], 0
    cursor = conn.execute(sql, [*patterns, *params, rows])
    try:
        for row_id, hit in cursor:  # row by row: a full page stops the walk
            walked += 1
            if hit:
                ids.append(row_id)
                if len(ids) == limit:
                    break
    finally:
        cursor.close()
    if len(ids) < limit and walked == rows:
        return None
    marks = ", ".join("?" for _ in ids)
    return conn.execute(f"SELECT * FROM logs WHERE id IN ({marks})" + NEWEST_FIRST, [*ids, limit]).fetchall()


def page_and_way(conn: sqlite3.Connection, *, text: str | None = None, limit: int = 50,
                 **filters: Any) -> tuple[list[sqlite3.Row], str]:
    """One page, newest first, and which way (module docstring) found it, for the benchmark."""
    def run(way: str, **options: Any) -> tuple[list[sqlite3.Row], str]:
        sql, params = page_sql(text=text, limit=limit, **options, **filters)
        return conn.execute(sql, params).fetchall(), way

    if text is None:
        return run("index")
    if len(text) < TRIGRAM or "\x00" in text:  # FTS5's query parser stops at NUL, as LIKE does
        return run("4: walk on (short text or NUL)")
    if _at_most(conn, text, min(limit, TEXT_HITS)):
        return run("1: logs_fts", text_index=True)
    found = _walk_newest(conn, text, limit, min(SPREAD * limit, TEXT_HITS), filters)
    if found is not None:
        return found, "2: newest rows"
    if _at_most(conn, text, TEXT_HITS):
        return run("3: logs_fts", text_index=True)
    return run("4: walk on")


def page(conn: sqlite3.Connection, **filters: Any) -> list[sqlite3.Row]:
    return page_and_way(conn, **filters)[0]


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
