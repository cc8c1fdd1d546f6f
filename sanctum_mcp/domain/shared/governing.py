"""The system settings that govern the audit trail, log retention and automatic backups.

domain/logs.py and domain/backups/ read them (as whole numbers, below); domain/config/ makes every
change of one (set, delete, reset, rollback, at any scope) need the admin role, like a secret: a
plain user could otherwise shorten the trail of what they did, or make the scheduler fill the disk.
Kept apart so that the configuration tools need not import the log and backup services to know them.
"""

from __future__ import annotations

import logging

LOG_RETENTION_DAYS = "log_retention_days"
BACKUP_SCHEDULE = "backup_schedule"
BACKUP_RETENTION_DAYS = "backup_retention_days"
BACKUP_MAX_COUNT = "backup_max_count"
BACKUP_MAX_BYTES = "backup_max_bytes"

GOVERNING_KEYS = frozenset({
    LOG_RETENTION_DAYS, BACKUP_SCHEDULE, BACKUP_RETENTION_DAYS, BACKUP_MAX_COUNT, BACKUP_MAX_BYTES,
})


_settings_log = logging.getLogger("sanctum_mcp.settings")
_warned: set[tuple[str, str]] = set()


def warn_setting_once(key: str, raw: str, problem: str) -> None:
    """Say (once per value, on stderr and in the logs table) that a system setting is unusable."""
    if (key, raw) not in _warned:
        _warned.add((key, raw))
        _settings_log.warning("system setting %s=%r %s; it is ignored until corrected", key, raw, problem)


def whole_number_setting(key: str, raw: str | None, unit: str) -> int | None:
    """A system setting that is a whole number >= 0; None (after a warning) when empty or unusable."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        warn_setting_once(key, raw, f"is not a whole number of {unit}")
        return None
    if value < 0:
        warn_setting_once(key, raw, "is negative")
        return None
    return value


def days_setting(key: str, raw: str | None) -> int | None:
    return whole_number_setting(key, raw, "days")
