"""The system settings that govern the audit trail, log retention and automatic backups.

domain/logs.py and domain/backups.py read them; domain/config.py makes every change of one (set,
delete, reset, rollback, at any scope) need the admin role, like a secret: a plain user could
otherwise shorten the trail of what they did, or make the scheduler fill the disk. Kept apart so
that the configuration tools need not import the log and backup services to know them.
"""

LOG_RETENTION_DAYS = "log_retention_days"
BACKUP_SCHEDULE = "backup_schedule"
BACKUP_RETENTION_DAYS = "backup_retention_days"
BACKUP_MAX_COUNT = "backup_max_count"
BACKUP_MAX_BYTES = "backup_max_bytes"

GOVERNING_KEYS = frozenset({
    LOG_RETENTION_DAYS, BACKUP_SCHEDULE, BACKUP_RETENTION_DAYS, BACKUP_MAX_COUNT, BACKUP_MAX_BYTES,
})
