"""The process's logging: where it goes, what -v turns on, and what may never be written.

Everything goes to stderr (under stdio, stdout is the protocol). -v raises to DEBUG only the loggers
of OWN_LOGGERS (an allow-list): at DEBUG, `sse_starlette` logs every chunk it sends (tool results,
so a new API token or a `reveal=true` value, on /sse and on /mcp with --stream-responses) and
`mcp` whole JSON-RPC messages (tool arguments, so a secret being set). Every other library stays at
INFO, and the handler itself drops their DEBUG records, whatever level they set for themselves.
As defence in depth the handler masks API tokens and stored ciphertext in every line it writes,
tracebacks included (domain/secrets.py:redact).
"""

from __future__ import annotations

import logging
import sys

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
        from sanctum_mcp.domain.secrets import redact

        return redact(super().format(record))


def configure(*, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT))
    handler.addFilter(OnlyOwnDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
