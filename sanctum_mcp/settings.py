"""Where things live and which environment variables override them."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DB = "SANCTUM_MCP_DB"
ENV_HOST = "SANCTUM_MCP_HOST"
ENV_PORT = "SANCTUM_MCP_PORT"
ENV_USER = "SANCTUM_MCP_USER"

DEFAULT_DB = Path("~/.sanctum/registry.db")
DEFAULT_HOST = "127.0.0.1"
# The SMCP port in Sanctum's system defaults: sanctum-mcp can stand where SMCP would.
DEFAULT_PORT = 9000


def database_path(flag: str | None = None) -> Path:
    """--db flag, else $SANCTUM_MCP_DB, else ~/.sanctum/registry.db (see is_default_folder)."""
    chosen = flag or os.environ.get(ENV_DB) or str(DEFAULT_DB)
    return Path(chosen).expanduser()


def is_default_folder(db_path: Path | str) -> bool:
    """Whether the database lives in the default folder (~/.sanctum), the only folder created on its
    own: any other must exist, so that a typo in a path is an error rather than a new, empty registry."""
    return Path(db_path).expanduser().absolute().parent == DEFAULT_DB.expanduser().absolute().parent


def http_host(flag: str | None = None) -> str:
    return flag or os.environ.get(ENV_HOST) or DEFAULT_HOST


def http_port(flag: int | None = None) -> int:
    if flag is not None:
        return flag
    raw = os.environ.get(ENV_PORT)
    if raw is None:
        return DEFAULT_PORT
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{ENV_PORT}={raw!r} is not a port number") from None


def local_user(flag: str | None = None) -> str | None:
    """--user flag, else $SANCTUM_MCP_USER, else None (the oldest active admin)."""
    return flag or os.environ.get(ENV_USER) or None
