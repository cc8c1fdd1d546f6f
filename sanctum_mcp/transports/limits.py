"""The HTTP server's limits and where they come from: a `serve` option, else an environment
variable, else the default. Checked before anything is opened, so a bad value stops the start with
a message naming the option or variable."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Open files the server needs beside its connections: the database and its WAL (two connections),
# the listening socket, the event loop, plugin and backup subprocess pipes, the key file.
RESERVED_FILES = 64
DEFAULT_MAX_CONNECTIONS = 1000


class InvalidLimit(ValueError):
    pass


@dataclass(frozen=True)
class HttpLimits:
    max_sessions_per_user: int = 64
    max_sessions: int = 1000
    session_idle_minutes: float = 5.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    allowed_hosts: tuple[str, ...] = ()
    backlog: int = 2048  # derived, see listen_backlog()

    @property
    def session_idle_seconds(self) -> float:
        return self.session_idle_minutes * 60


def open_files_limit() -> int | None:
    """The soft RLIMIT_NOFILE of this process, or None where there is none (or no `resource`)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def default_max_connections(files: int | None) -> int:
    """Half the open-files limit (at most 1000): well below it, whatever else the process opens."""
    if files is None:
        return DEFAULT_MAX_CONNECTIONS
    return max(1, min(DEFAULT_MAX_CONNECTIONS, files // 2, files - RESERVED_FILES))


def listen_backlog(files: int | None, max_connections: int) -> int:
    """The listen backlog, which is also how many connections asyncio accepts in one go (opening a
    file for each) before any of them can be refused: a quarter of the files left beyond the
    connections and the reserve, so that a burst of connections cannot run the process out of
    files before the extra ones are answered 503 and closed."""
    if files is None:
        return 2048
    return max(8, min(2048, (files - max_connections - RESERVED_FILES) // 4))


def _whole(text: str) -> int:
    if not re.fullmatch(r"\s*[0-9]+\s*", text):
        raise ValueError
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def _duration(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError
    return value


_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?")


def check_host(text: str) -> str:
    """A Host header value a client may send: a name or an address, optionally with :port
    (`mcp.example.org`, `mcp.example.org:8443`, `192.0.2.7`, `[2001:db8::7]:9000`)."""
    name, port = text, None
    if text.startswith("["):
        name, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError
            port = rest[1:]
        ipaddress.IPv6Address(name)
        name = f"[{name}]"
    else:
        if text.count(":") == 1:
            name, port = text.split(":")
        if len(name) > 253 or not _HOST_NAME.fullmatch(name):
            raise ValueError
    if port is not None and not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        raise ValueError
    return name.lower() + (f":{int(port)}" if port is not None else "")


def _hosts(text: str) -> tuple[str, ...]:
    return tuple(check_host(item.strip()) for item in text.split(","))  # an empty item is an error too


# field: (option, environment variable, parser, what a valid value is)
_SOURCES: dict[str, tuple[str, str, Callable[[str], Any], str]] = {
    "max_sessions_per_user": ("--max-sessions-per-user", "SANCTUM_MCP_MAX_SESSIONS_PER_USER", _whole,
                              "a whole number of at least 1"),
    "max_sessions": ("--max-sessions", "SANCTUM_MCP_MAX_SESSIONS", _whole, "a whole number of at least 1"),
    "session_idle_minutes": ("--session-idle-minutes", "SANCTUM_MCP_SESSION_IDLE_MINUTES", _duration,
                             "a number of minutes above 0 (e.g. 5 or 0.5)"),
    "max_connections": ("--max-connections", "SANCTUM_MCP_MAX_CONNECTIONS", _whole, "a whole number of at least 1"),
    "header_timeout": ("--header-timeout", "SANCTUM_MCP_HEADER_TIMEOUT", _duration,
                       "a number of seconds above 0"),
    "body_timeout": ("--body-timeout", "SANCTUM_MCP_BODY_TIMEOUT", _duration, "a number of seconds above 0"),
    "allowed_hosts": ("--allowed-host", "SANCTUM_MCP_ALLOWED_HOSTS", _hosts,
                      "host names or addresses, each optionally with :port (mcp.example.org, "
                      "mcp.example.org:8443, [2001:db8::7]:9000), without scheme, path or wildcard"),
}
ENV_ALLOWED_HOSTS = _SOURCES["allowed_hosts"][1]


def http_limits(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> HttpLimits:
    """`options`: the parsed `serve` options (field name -> text, or a list of texts for
    --allowed-host; None when not given). Raises InvalidLimit naming the option or variable."""
    environ = os.environ if environ is None else environ
    files = open_files_limit()
    values: dict[str, Any] = {"max_connections": default_max_connections(files)}
    for field, (option, variable, parse, valid) in _SOURCES.items():
        given = options.get(field)
        if given is not None:
            source, text = option, ",".join(given) if isinstance(given, list) else given
        elif environ.get(variable, "").strip():
            source, text = variable, environ[variable]
        else:
            continue
        try:
            values[field] = parse(text)
        except ValueError:
            raise InvalidLimit(f"{source} must be {valid}; got {text!r}") from None
        if field == "max_connections" and files is not None and values[field] > files - RESERVED_FILES:
            raise InvalidLimit(
                f"{source} {values[field]} would leave too few of this process's {files} open files for "
                f"the database and subprocesses; choose at most {max(1, files - RESERVED_FILES)}, or raise "
                "the open-files limit first (ulimit -n)")
    values["backlog"] = listen_backlog(files, values["max_connections"])
    return HttpLimits(**values)
