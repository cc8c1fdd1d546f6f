"""Time, injectable so tests can move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The one timestamp format stored in the database: ISO-8601 UTC with milliseconds and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_instant(text: str, *, field: str) -> datetime:
    """An ISO-8601 instant with a time zone ('2026-03-08T07:00:00Z', '...+01:00'), as aware UTC.

    A time without a zone is refused rather than guessed: 'Z' or an offset says what is meant.
    """
    from sanctum_mcp.domain.shared.errors import InvalidInput

    try:
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidInput(
            f"{field} {text!r} is not an ISO-8601 timestamp; write it like '2026-03-08T07:00:00Z'."
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(
            f"{field} {text!r} has no time zone; add 'Z' for UTC or an offset such as '+01:00'."
        )
    return moment.astimezone(UTC)
