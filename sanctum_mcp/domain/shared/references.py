"""How callers name things: by name, or by numeric id given as text."""

from __future__ import annotations

SQLITE_MAX_INT = 2**63 - 1


def looks_like_id(text: str) -> bool:
    """ASCII digits only ('¹' and '٣' are digits to Python, not to SQLite)."""
    return text.isascii() and text.isdigit()


def as_id(text: str) -> int | None:
    """The id a reference names, or None when it cannot be one (not digits, or beyond SQLite's range)."""
    if not looks_like_id(text):
        return None
    value = int(text)
    return value if value <= SQLITE_MAX_INT else None
