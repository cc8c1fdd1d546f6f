"""The audit trail: every mutation writes one row to `logs`, inside the mutation's own transaction.

Details are built from the domain models' JSON form, which is already masked: a secret can only
reach an audit row as its mask. The same call gives the change its revision in the change feed
(domain/feed/record.py), so no audited change can skip the feed.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pydantic import BaseModel

from sanctum_mcp.domain.feed import record as feed
from sanctum_mcp.domain.shared.identity import Caller


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def record(
    conn: sqlite3.Connection,
    caller: Caller,
    *,
    action: str,
    source: str,
    source_id: str | int | None,
    message: str,
    before: Any = None,
    after: Any = None,
    level: str = "INFO",
    extra: dict[str, Any] | None = None,
    changed: bool = True,
) -> None:
    """changed=False: the row records an action that changed nothing this time (a scan that found
    nothing new), so the change feed gives it no revision."""
    details: dict[str, Any] = {"actor": caller.username}
    before, after = _plain(before), _plain(after)
    if before is not None:
        details["before"] = before
    if after is not None:
        details["after"] = after
    if extra:
        details.update(extra)
    conn.execute(
        "INSERT INTO logs (level, source, source_id, user_id, action, message, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            level,
            source,
            None if source_id is None else str(source_id),
            caller.user_id,
            action,
            message,
            json.dumps(details, separators=(",", ":"), default=str),
        ),
    )
    if changed:
        feed.from_audit(conn, caller.username, action=action, source=source, source_id=source_id,
                        before=before, after=after, extra=extra)
