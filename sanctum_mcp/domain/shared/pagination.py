"""Opaque cursors for keyset pagination.

A cursor is the sort key of the last row of a page, base64-encoded JSON tagged with the listing it
belongs to, so a cursor from one listing cannot be replayed against another.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sanctum_mcp.domain.shared.errors import InvalidInput


def encode_cursor(listing: str, key: list[Any]) -> str:
    raw = json.dumps({"l": listing, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(listing: str, cursor: str | None, *, arity: int) -> list[Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = data["k"]
        if data["l"] != listing or not isinstance(key, list) or len(key) != arity:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            f"cursor {cursor[:40]!r} was not issued by {listing}; call {listing} without a cursor "
            "to start from the first page, then pass the next_cursor it returns."
        ) from None
    return key
