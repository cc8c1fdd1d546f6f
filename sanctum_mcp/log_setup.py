"""The process's logging: where it goes, what -v turns on, and what may never be written.

Everything goes to stderr (under stdio, stdout is the protocol). -v raises to DEBUG only the loggers
of OWN_LOGGERS (an allow-list): at DEBUG, `sse_starlette` logs every chunk it sends (tool results,
so a new API token or a `reveal=true` value, on /sse and on /mcp with --stream-responses) and
`mcp` whole JSON-RPC messages (tool arguments, so a secret being set). Every other library stays at
INFO, and the handler itself drops their DEBUG records, whatever level they set for themselves.
As defence in depth the handler masks API tokens and stored ciphertext in every line it writes,
tracebacks included (domain/shared/secrets.py:redact).

`serve --log-file PATH` sends the same lines, through the same filter and formatter, to a file
instead of stderr: a WatchedFileHandler, so that logrotate may move the file away (the next record
opens a new one at PATH; no copytruncate, no signal needed). The file is created owner-only.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

# Loggers -v may raise to DEBUG: sanctum-mcp's own, which never log argument values or results.
OWN_LOGGERS = ("sanctum_mcp",)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def is_own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


class OnlyOwnDebug(logging.Filter):
    """Drop records below INFO from loggers outside OWN_LOGGERS."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO or is_own(record.name)


class RedactingFormatter(logging.Formatter):
    """The usual line, with API tokens and ciphertext masked (in the message and any traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        from sanctum_mcp.domain.shared.secrets import redact

        return redact(super().format(record))


class OwnerOnlyFileHandler(logging.handlers.WatchedFileHandler):
    """A WatchedFileHandler whose file, when it has to create one (at start, or after logrotate moved
    the old one away), is readable by its owner only: the lines are masked, but they still say who
    did what."""

    def _open(self):  # noqa: ANN202 (logging's own signature)
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115


class LogFileUnusable(Exception):
    """--log-file names a file this process cannot write (the message says which and why)."""


def configure(*, verbose: bool, log_file: str | Path | None = None) -> None:
    if log_file is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        path = Path(log_file).expanduser()
        try:
            handler = OwnerOnlyFileHandler(path, encoding="utf-8")
        except OSError as exc:
            raise LogFileUnusable(
                f"cannot write the log file {path} given to --log-file: {exc.strerror or exc}. Give --log-file a "
                "file in an existing folder this user may write, or leave it out to log to stderr."
            ) from None
    handler.setFormatter(RedactingFormatter(FORMAT))
    handler.addFilter(OnlyOwnDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
