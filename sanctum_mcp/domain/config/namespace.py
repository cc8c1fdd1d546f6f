"""What the whole key namespace says about a key: one type, one sensitivity, its category,
description and constraint wherever it is set; the answer for a key nobody set; and the existing keys
a new key is one slip away from (set_config's near-miss rule)."""

from __future__ import annotations

import difflib
import sqlite3
from dataclasses import dataclass

from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import Caller
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


# The characters a key may hold (values.py KEY_PATTERN).
KEY_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_.-"


def one_slip(key: str) -> list[str]:
    """Every key one slip away from `key`: a character missing, extra or wrong, or two neighbours
    swapped (optimal string alignment distance 1). At most ~80 per character of `key` (keys are at
    most 128 characters), so looking them up costs the same whatever the number of keys."""
    found: set[str] = set()
    for i in range(len(key) + 1):
        head, tail = key[:i], key[i:]
        if tail:
            found.add(head + tail[1:])
            if len(tail) > 1:
                found.add(head + tail[1] + tail[0] + tail[2:])
        for c in KEY_CHARACTERS:
            found.add(head + c + tail)
            if tail:
                found.add(head + c + tail[1:])
    found.discard(key)
    return list(found)


def _visible_agent_ids(conn: sqlite3.Connection, caller: Caller) -> list[int] | None:
    permissions = caller.permissions
    if permissions is None or permissions.agents is None:
        return None
    return [r[0] for r in conn.execute("SELECT id, name FROM agents") if permissions.allows_agent(r[1])]


def check_new_key(conn: sqlite3.Connection, caller: Caller, key: str, info: KeyInfo, *, create: bool) -> None:
    """set_config of a key that exists nowhere is refused when it is one slip away from a key the caller
    can see (flask_prot for flask_port), unless the caller says it is new (create=true); create=true
    for a key the caller can see set is refused too. Keys of agents outside the caller's
    permissions.agents are never named."""
    if create:
        if info.exists and sql.existing_keys_among(conn, [key], _visible_agent_ids(conn, caller)):
            raise Conflict(f"{key} already exists, and create=true is only for a new key. Nothing was changed; "
                           "leave create out to change it.")
        return
    if info.exists:
        return
    close = sql.existing_keys_among(conn, one_slip(key), _visible_agent_ids(conn, caller))
    if close:
        names = close[:5]
        said = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        raise InvalidInput(
            f"{key} is not set anywhere, and it is one slip away from an existing key: did you mean {said}? "
            f"Nothing was changed. If {key} is a new setting, call set_config again with create=true."
        )
