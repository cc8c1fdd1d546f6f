"""The backups folder beside the database (mode 0700, files 0600), and the file operations backups
need: hashing, hashing while copying, writing JSON durably, removing without failing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

FOLDER = "backups"
EXTENSIONS = {"full": ".db", "config_only": ".config.json", "incremental": ".incremental.json"}

CHUNK = 1 << 20


def absolute(folder: Path, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else folder.parent / path


def sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    """Copy source to target, hashing exactly the bytes copied."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest(), size


def write_json(path: Path, document: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, ensure_ascii=False, default=str)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def unlink(path: Path) -> bool:
    """Remove a file if it is there; never fails (clean-up must not hide the error being handled)."""
    try:
        path.unlink()
        return True
    except OSError:
        return False
