"""Cron expressions and time zones: validation and next-run computation.

croniter does the expression parsing; this module adds the rules the registry keeps:
- only the 5 standard fields (minute hour day-of-month month day-of-week) or an @alias
  (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually); seconds and years are refused,
  because a per-second job would turn the scheduler into a busy loop;
- an expression is evaluated in the job's IANA time zone, and every instant leaves this module in UTC;
- daylight-saving changes, as cron users expect them:
  * spring forward: a wall-clock time that does not exist that day (02:30 in New York on the
    second Sunday of March) fires once, at the first instant after the gap (03:00 local);
  * fall back: a wall-clock time that happens twice (01:30 on the first Sunday of November) fires
    once, at its first occurrence, unless the expression fires every hour (hour field `*`), in
    which case each real hour fires.
croniter is imported inside the functions (start-up cost).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from sanctum_mcp.domain.shared.errors import InvalidInput

ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
FIELDS = "minute hour day-of-month month day-of-week"
TZ_HINT = "use an IANA time zone name such as 'UTC', 'Europe/Paris' or 'America/New_York'"
# Counting missed occurrences stops here: croniter takes ~60 us a step, and a job every minute
# down for a month would be 43,200 steps on the event loop.
MAX_COUNT = 1000


def zone(name: str) -> tzinfo:
    """The time zone called `name`, or InvalidInput with a hint."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name != name.strip():
        raise InvalidInput(f"time zone {name!r} is not valid; {TZ_HINT}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}; {TZ_HINT}.") from None


@lru_cache(maxsize=256)
def _checked(expression: str) -> str:
    from croniter import croniter

    fields = expression.split()
    if not fields:
        raise InvalidInput(f"cron expression {expression!r} is empty; give 5 fields: {FIELDS} (e.g. '0 3 * * *').")
    if fields[0].startswith("@"):
        if len(fields) != 1 or fields[0].lower() not in ALIASES:
            raise InvalidInput(
                f"cron expression {expression!r} is not valid: the only @ forms are {', '.join(ALIASES)}."
            )
    elif len(fields) != 5:
        raise InvalidInput(
            f"cron expression {expression!r} has {len(fields)} field(s); it needs exactly 5: {FIELDS} "
            "(e.g. '*/15 * * * *'). Seconds and years are not supported."
        )
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except Exception as exc:  # croniter's own error types, imported lazily
        raise InvalidInput(f"cron expression {expression!r} is not valid: {_diagnose(fields, exc)}") from None
    return expression


_FIELD_RULES = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT (0 = Sunday)"),
)


def _diagnose(fields: list[str], exc: Exception) -> str:
    """Name the first field croniter refuses on its own, with the values it allows."""
    from croniter import croniter

    for index, text in enumerate(fields if len(fields) == 5 else []):
        probe = ["*"] * 5
        probe[index] = text
        try:
            croniter(" ".join(probe))
        except Exception as field_exc:
            name, allowed = _FIELD_RULES[index]
            detail = _reason(field_exc, " ".join(probe))
            return (
                f"the {name} field {text!r} is not acceptable{detail}. Allowed: {allowed}, with lists (1,15), "
                "ranges (1-5) and steps (*/15)."
            )
    return _reason(exc, " ".join(fields)).lstrip(" (").rstrip(")") or "croniter cannot parse it"


def _reason(exc: Exception, expression: str) -> str:
    import re

    text = re.sub(r"^\[[^\]]*\]", "", str(exc)).strip()
    for vacuous in ("is not acceptable", "is not acceptable,"):
        text = text.removeprefix(vacuous).strip(" ,")
    return f" ({text})" if text else ""


def check(expression: str) -> str:
    """Return the expression if valid; otherwise InvalidInput quoting it and saying what is wrong."""
    _checked(expression)
    return expression


def _every_hour(expression: str) -> bool:
    from croniter import croniter

    return croniter(expression).expanded[1] == ["*"]


def _is_repeat(moment: datetime, tz: tzinfo) -> bool:
    """Whether `moment` is the second occurrence of a wall-clock time repeated by a fall-back."""
    wall = moment.replace(tzinfo=None)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return second > first and moment.astimezone(UTC) == second


def occurrences(expression: str, timezone: str, after: datetime):
    """Fire times strictly after `after` (aware), in UTC, forever (a generator)."""
    from croniter import CroniterBadDateError, croniter

    check(expression)
    tz = zone(timezone)
    hourly = _every_hour(expression)
    it = croniter(expression, after.astimezone(tz))
    while True:
        try:
            moment = it.get_next(datetime)
        except CroniterBadDateError:
            return
        if not hourly and _is_repeat(moment, tz):
            continue
        yield moment.astimezone(UTC)


def next_after(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, in UTC; InvalidInput if it never fires."""
    for moment in occurrences(expression, timezone, after):
        return moment
    raise InvalidInput(
        f"cron expression {expression!r} never fires (no date matches it, e.g. 31 February); check the "
        "day-of-month and month fields."
    )


def upcoming(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    result = []
    for moment in occurrences(expression, timezone, after):
        result.append(moment)
        if len(result) >= count:
            break
    if not result:
        next_after(expression, timezone, after)  # raises the "never fires" error
    return result


def count_between(expression: str, timezone: str, start: datetime, end: datetime) -> int:
    """How many fire times fall in [start, end] (start itself counts when it is one), at most MAX_COUNT."""
    n = 0
    for moment in occurrences(expression, timezone, start - timedelta(microseconds=1)):
        if moment > end or n >= MAX_COUNT:
            break
        n += 1
    return n


def latest_at_or_before(expression: str, timezone: str, moment: datetime) -> datetime | None:
    """The last fire time at or before `moment`, in UTC (None if there is none within a year)."""
    from croniter import croniter

    check(expression)
    tz = zone(timezone)
    it = croniter(expression, (moment + timedelta(seconds=1)).astimezone(tz))
    try:
        found = it.get_prev(datetime).astimezone(UTC)
    except Exception:
        return None
    if found > moment or moment - found > timedelta(days=366):
        return None
    return found
