"""The audit trail: every mutation writes one row to `logs`, inside the mutation's own transaction.

Details are built from the domain models' JSON form, which is already masked: a secret can only
reach an audit row as its mask.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pydantic import BaseModel

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
) -> None:
    details: dict[str, Any] = {"actor": caller.username}
    if before is not None:
        details["before"] = _plain(before)
    if after is not None:
        details["after"] = _plain(after)
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
