"""The backup quota: no new backup once the backups hold backup_max_count files or
backup_max_bytes bytes (0 = no limit). A setting that is missing or unusable counts as its seeded
default, never as "no limit"."""

from __future__ import annotations

import sqlite3

from sanctum_mcp.domain.backups.models import QuotaReached
from sanctum_mcp.domain.shared import governing
from sanctum_mcp.storage import backups as sql

MAX_COUNT_KEY = governing.BACKUP_MAX_COUNT
MAX_BYTES_KEY = governing.BACKUP_MAX_BYTES
DEFAULT_MAX_COUNT = 30
DEFAULT_MAX_BYTES = 2 * 1024**3


def check_quota(conn: sqlite3.Connection) -> None:
    """Refuse a new backup once the backups hold backup_max_count files or backup_max_bytes bytes."""
    max_count = governing.whole_number_setting(MAX_COUNT_KEY, sql.setting(conn, MAX_COUNT_KEY), "backups")
    max_bytes = governing.whole_number_setting(MAX_BYTES_KEY, sql.setting(conn, MAX_BYTES_KEY), "bytes")
    max_count = DEFAULT_MAX_COUNT if max_count is None else max_count
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    count, used = sql.usage(conn)
    reached = []
    if max_count and count >= max_count:
        reached.append((MAX_COUNT_KEY, f"{count} backups ({MAX_COUNT_KEY} is {max_count})"))
    if max_bytes and used >= max_bytes:
        reached.append((MAX_BYTES_KEY, f"{size_text(used)} of backups ({MAX_BYTES_KEY} is {max_bytes}, {size_text(max_bytes)})"))
    if reached:
        raise QuotaReached(
            f"backup quota reached: {' and '.join(text for _, text in reached)}. Nothing was created. Delete old "
            f"backups with delete_backup (admin role), or ask an admin to raise {' / '.join(k for k, _ in reached)}."
        )


def size_text(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # unreachable
