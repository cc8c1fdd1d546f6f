"""One-time sign-in links for the local operator (`sanctum-mcp console link`).

The command runs in another process than the server, so the link is handed over through a file
beside the database, `<database>.console-links` (owner-only), holding one JSON line per pending
link: the SHA-256 of its secret, the user it signs in, and when it expires. The secret itself is
only in the printed URL. The server takes a line out when the link is used (single use), under an
exclusive lock, and drops expired lines whenever it rewrites the file. At most MAX_PENDING links
wait at once (a new one drops the oldest), so the file stays small whatever is asked.

A file, not a table: the schema is not changed for state that lives a few minutes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sanctum_mcp.console.sessions import digest

LIFETIME = 300.0  # seconds a link stays usable
MAX_PENDING = 20
PATH = "/console/link"


def links_file(db_path: Path | str) -> Path:
    return Path(f"{Path(db_path).expanduser()}.console-links")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def _read(handle: IO[str], now: float) -> list[dict[str, Any]]:
    handle.seek(0)
    pending = []
    for line in handle.read(64 * 1024).splitlines()[-MAX_PENDING:]:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            entry = json.loads(line)
            if float(entry["expires"]) > now and isinstance(entry["hash"], str) and isinstance(entry["user_id"], int):
                pending.append(entry)
    return pending


def _write(handle: IO[str], pending: list[dict[str, Any]]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write("".join(json.dumps(entry) + "\n" for entry in pending[-MAX_PENDING:]))
    handle.flush()


def create_link(db_path: Path | str, user_id: int, *, now: float | None = None) -> str:
    """A new link secret for this user (the caller puts it in the URL)."""
    now = time.time() if now is None else now
    secret = secrets.token_urlsafe(32)
    with _locked(links_file(db_path)) as handle:
        pending = _read(handle, now)
        pending.append({"hash": digest(secret), "user_id": user_id, "expires": now + LIFETIME})
        _write(handle, pending)
    return secret


def use_link(db_path: Path | str, secret: str, *, now: float | None = None) -> int | None:
    """The user id a link signs in, taking the link out; None if unknown, used or expired."""
    now = time.time() if now is None else now
    path = links_file(db_path)
    if not secret or len(secret) > 100 or not path.exists():
        return None
    wanted = digest(secret)
    with _locked(path) as handle:
        pending = _read(handle, now)
        found = next((entry for entry in pending if secrets.compare_digest(entry["hash"], wanted)), None)
        if found is not None:
            pending.remove(found)
        _write(handle, pending)
    return found["user_id"] if found else None
