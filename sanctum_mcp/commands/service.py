"""`sanctum-mcp service unit|health`: the HTTP server as a systemd user service.

`service unit` prints a unit file for this installation. Its ExecStart is this very interpreter
(sys.executable: the venv's Python) running `-m sanctum_mcp serve --transport http` with the
database, address and options resolved now and written out in full, because a service starts
without the environment of the shell that printed it. Its ExecStartPost is `service health --wait
60`, so `systemctl --user start` returns once GET /healthz answers, and fails (Restart= then tries
again) when it never does.

`service health` asks GET /healthz until it answers or --wait runs out: exit 0 and one line when
the server says ok, exit 1 and one line saying what was tried otherwise. For any supervisor.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from sanctum_mcp import settings

UNIT_NAME = "sanctum-mcp"
# How long `systemctl start` waits for /healthz before it calls the start failed.
START_WAIT_SECONDS = 60
# A word systemd reads as itself, unquoted (no spaces, quotes, backslashes, `;`, `%` or `$`).
_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    service = subparsers.add_parser("service", parents=[common],
                                    help="run the HTTP server as a systemd user service (unit file, health check)")
    actions = service.add_subparsers(dest="service_action", required=True, metavar="ACTION")

    unit = actions.add_parser(
        "unit", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="print a systemd user unit that serves this registry over HTTP",
        description="Print a systemd user unit for `sanctum-mcp serve --transport http` with this database\n"
                    "(--db), address and options written out in full. Install it with:\n\n"
                    f"  sanctum-mcp service unit > ~/.config/systemd/user/{UNIT_NAME}.service\n"
                    f"  systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}",
    )
    _address_arguments(unit)
    unit.add_argument("--log-file", metavar="PATH", help="serve --log-file PATH (default: the journal)")
    unit.add_argument("--trust-loopback", action="store_true", help="serve --trust-loopback (see serve --help)")
    unit.set_defaults(handler=_unit)

    health = actions.add_parser("health", parents=[common],
                                help="ask a running server's GET /healthz (exit 0 when it says ok)")
    _address_arguments(health)
    health.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                        help="keep asking for this long before giving up (default: ask once)")
    health.set_defaults(handler=_health)


def _address_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help=f"the server's address (default: ${settings.ENV_HOST} or {settings.DEFAULT_HOST})")
    parser.add_argument("--port", type=int, help=f"the server's port (default: ${settings.ENV_PORT} or {settings.DEFAULT_PORT})")


# --- the unit ------------------------------------------------------------------------------------------


def systemd_word(word: str) -> str:
    """One argument of an Exec line as systemd reads it back: `%` and `$` doubled (specifiers and
    variables), double quotes around anything else that is not plain."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in word):
        raise SystemExit(f"sanctum-mcp: {word!r} holds a control character, which a unit file cannot carry; "
                         "choose a path without one.")
    word = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(words: list[str]) -> str:
    return " ".join(systemd_word(word) for word in words)


def unit_text(*, db_path: Path, host: str, port: int, user: str | None, log_file: Path | None,
              trust_loopback: bool) -> str:
    me = [sys.executable, "-m", "sanctum_mcp"]
    serve = [*me, "serve", "--transport", "http", "--db", str(db_path), "--host", host, "--port", str(port)]
    if user:
        serve += ["--user", user]
    if log_file is not None:
        serve += ["--log-file", str(log_file)]
    if trust_loopback:
        serve.append("--trust-loopback")
    check = [*me, "service", "health", "--host", host, "--port", str(port), "--wait", str(START_WAIT_SECONDS)]
    log_note = f"{log_file}" if log_file is not None else f"journalctl --user -u {UNIT_NAME}"
    return f"""\
# sanctum-mcp as a systemd user service (printed by `sanctum-mcp service unit`). Install:
#   sanctum-mcp service unit [OPTIONS] > ~/.config/systemd/user/{UNIT_NAME}.service
#   systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}
#   loginctl enable-linger "$USER"    # keep it running while you are logged out
# Log: {log_note}. Health: {health_url(host, port)} (or: sanctum-mcp service health).
# The secret key is the file beside the database ({db_path.name}.key). If you use
# $SANCTUM_MCP_SECRET_KEY instead, give it to the service in a drop-in (systemctl --user edit), not here.
[Unit]
Description=Sanctum registry MCP server (sanctum-mcp)

[Service]
Type=simple
ExecStart={exec_line(serve)}
# Started means serving: `systemctl --user start` waits until /healthz answers ({START_WAIT_SECONDS} s at most).
ExecStartPost={exec_line(check)}
Restart=on-failure
RestartSec=5
# SIGTERM is a clean stop: the database is closed and checkpointed.
TimeoutStopSec=30

[Install]
WantedBy=default.target
"""


def _unit(args: argparse.Namespace, db_path: Path) -> None:
    db_path = db_path.expanduser().absolute()
    # Refused now rather than by the service at every start (the rule of storage/database.py).
    if db_path.is_dir():
        raise SystemExit(f"sanctum-mcp: --db {db_path} is a folder, not a file; give --db a file name, such as "
                         f"{db_path / 'registry.db'}")
    if not db_path.parent.is_dir() and not settings.is_default_folder(db_path):
        raise SystemExit(f"sanctum-mcp: the folder of --db, {db_path.parent}, does not exist; create it first "
                         f"(mkdir -p {db_path.parent}) or give --db a file in an existing folder")
    log_file = Path(args.log_file).expanduser().absolute() if args.log_file else None
    print(unit_text(db_path=db_path, host=settings.http_host(args.host),
                    port=settings.http_port(args.port), user=args.user, log_file=log_file,
                    trust_loopback=args.trust_loopback), end="")


# --- the health check ----------------------------------------------------------------------------------


def health_url(host: str, port: int) -> str:
    """Where to ask: a wildcard bind is asked through loopback."""
    bare = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host.strip("[]"), host.strip("[]"))
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}/healthz"


def _health(args: argparse.Namespace, db_path: Path) -> None:
    import time

    import httpx

    url = health_url(settings.http_host(args.host), settings.http_port(args.port))
    deadline = time.monotonic() + max(args.wait, 0)
    while True:
        try:
            answer = httpx.get(url, timeout=min(5.0, max(deadline - time.monotonic(), 1.0)))
            body = answer.json() if answer.status_code == 200 else {}
            if isinstance(body, dict) and body.get("status") == "ok":
                print(f"ok: {url} ({body.get('name', 'sanctum-mcp')} {body.get('version', '?')})")
                return
            last = f"it answered HTTP {answer.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            last = _why(exc)
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    waited = f" for {args.wait:g} s" if args.wait > 0 else ""
    raise SystemExit(f"sanctum-mcp: no healthy server at {url}{waited}: {last}. Is it running? "
                     f"(systemctl --user status {UNIT_NAME}; journalctl --user -u {UNIT_NAME})")


def _why(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "nothing accepted the connection"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, ValueError):
        return "its answer was not JSON"
    return type(exc).__name__
