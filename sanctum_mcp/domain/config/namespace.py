"""What the whole key namespace says about a key: one type, one sensitivity, its category,
description and constraint wherever it is set; and the answer for a key nobody set."""

from __future__ import annotations

import difflib
import sqlite3
from dataclasses import dataclass

from sanctum_mcp.domain.shared.errors import NotFound
from sanctum_mcp.storage import config as sql


@dataclass
class KeyInfo:
    """What the whole namespace says about a key."""

    exists: bool
    type: str | None
    type_where: str  # e.g. "the system level" for messages
    sensitive: bool
    category: str | None
    description: str | None
    constraint_json: str | None


def key_info(conn: sqlite3.Connection, key: str) -> KeyInfo:
    rows = sql.key_definitions(conn, key)
    if not rows:
        return KeyInfo(False, None, "", False, None, None, None)
    first = rows[0]
    return KeyInfo(
        exists=True,
        type=first["type"],
        type_where="the system level" if first["scope"] == "system" else f"{first['scope']} scope",
        sensitive=any(r["sensitive"] for r in rows),
        category=first["category"],
        description=next((r["description"] for r in rows if r["description"]), None),
        constraint_json=next((r["constraint_json"] for r in rows if r["constraint_json"]), None),
    )


def unknown_key(conn: sqlite3.Connection, key: str) -> NotFound:
    close = difflib.get_close_matches(key, sql.all_keys(conn), n=3, cutoff=0.5)
    hint = f"closest existing keys: {', '.join(close)}" if close else "no existing key is close"
    return NotFound(f"unknown configuration key {key!r} ({hint}); call list_config to see every key.")
