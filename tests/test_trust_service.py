"""Issue 14: running sanctum-mcp as a service, as an operator meets it.

Real `sanctum-mcp` subprocesses, real sockets on 127.0.0.1, real files: a port another program
holds, `serve --log-file` (masked like stderr, and still written after logrotate moves the file),
the systemd user unit `sanctum-mcp service unit` prints (its ExecStart and ExecStartPost really run),
`make run` choosing its address from SANCTUM_MCP_HOST / SANCTUM_MCP_PORT, and the database in use:
named when it is created, and never created in a folder nobody asked for.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from support import REPO, free_port, server_env, start_http_server, stop

TOKEN = "sanctum_" + "A1b2-C3d4_" * 4 + "xyz"  # the shape of an API token (8 + 43 characters)


def sanctum(db_path: Path, *args: str, timeout: float = 120, cwd: Path | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sanctum_mcp", *args], env=server_env(db_path, **env),
                          capture_output=True, text=True, timeout=timeout, cwd=str(cwd or REPO.parent),
                          stdin=subprocess.DEVNULL)


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 60) -> dict:
    """/healthz's answer once the server is up; fails if the process ends or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            answer = httpx.get(f"{base}/healthz", timeout=1.0)
            if answer.status_code == 200:
                return answer.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"nothing answered {base}/healthz within {timeout} s")


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's whole group (make, its shell and the server), then wait."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- a port another program holds ---------------------------------------------------------------------


def test_busy_port_is_one_line_naming_the_port_and_how_to_choose_another(tmp_path):
    db_path = tmp_path / "registry.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = sanctum(db_path, "serve", "--transport", "http", "--port", str(port), timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(port) in lines[0] and "in use" in lines[0] and "--port" in lines[0]
    assert "SANCTUM_MCP_PORT" in lines[0]
    assert "http://" not in done.stderr  # no announcement of a server that never served
    assert not db_path.exists()  # and nothing was created for it


# --- serve --log-file -----------------------------------------------------------------------------------


async def test_log_file_gets_the_log_masked_and_follows_logrotate(tmp_path):
    """The log goes to the file (not stderr), through the same handler as stderr: -v detail of
    sanctum-mcp's own loggers, no third-party DEBUG, no token; after logrotate moves the file away,
    the next record starts a new file at the same path."""
    db_path, log_path = tmp_path / "registry.db", tmp_path / "sanctum-mcp.log"
    server = start_http_server(db_path, "-v", "--trust-loopback", "--stream-responses", "--log-file", str(log_path))
    try:
        async def calls(label: str) -> str:
            async with streamable_http_client(server.mcp_url) as (read, write, *_), ClientSession(read, write) as s:
                await s.initialize()
                result = await s.call_tool("create_api_token", {"user": "operator", "name": label})
                assert not result.is_error, result.content
                return result.structured_content["token"]

        first = await calls("before-rotation")
        assert "DEBUG" in log_path.read_text()  # -v detail went to the file
        log_path.rename(tmp_path / "sanctum-mcp.log.1")  # what logrotate does (then `create` or nothing)
        second = await calls("after-rotation")
    finally:
        stop(server.process)
    server.log.seek(0)
    stderr = server.log.read().decode(errors="replace")
    server.log.close()
    rotated, current = (tmp_path / "sanctum-mcp.log.1").read_text(), log_path.read_text()
    assert "sanctum-mcp" in rotated and " on http://127.0.0.1:" in rotated  # the start-up line
    assert "DEBUG sanctum_mcp" in current  # written after the move: a new file at the same path
    for text in (rotated, current, stderr):
        assert first not in text and second not in text
        assert "DEBUG sse_starlette" not in text and "DEBUG mcp" not in text
    assert " INFO " not in stderr and "DEBUG" not in stderr  # the log went to the file only
    for written in (log_path, tmp_path / "sanctum-mcp.log.1"):  # the server's log is the owner's alone
        assert written.stat().st_mode & 0o077 == 0, oct(written.stat().st_mode)


def test_log_file_handler_masks_tokens_and_ciphertext_like_stderr(tmp_path):
    """The same handler as stderr, in a real process configured as `serve --log-file -v` configures itself."""
    from sanctum_mcp.domain.shared.secrets import SecretBox, new_key

    log_path = tmp_path / "service.log"
    ciphertext = SecretBox([new_key()], source="test").encrypt("a stored secret")
    script = f"""
import logging
from sanctum_mcp import log_setup
log_setup.configure(verbose=True, log_file={str(log_path)!r})
chatty = logging.getLogger("sse_starlette.sse")
chatty.setLevel(logging.DEBUG)
chatty.debug("chunk: {TOKEN}")
logging.getLogger("mcp.server.sse").warning("bad credential {TOKEN} for {ciphertext}")
try:
    raise ValueError("{TOKEN}")
except ValueError:
    logging.getLogger("uvicorn.error").exception("failed")
logging.getLogger("sanctum_mcp.calls").debug("own detail is kept")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=str(REPO.parent))
    assert done.returncode == 0, done.stderr
    written = log_path.read_text()
    assert "own detail is kept" in written and "chunk" not in written
    assert "bad credential sanctum_********" in written and "ValueError: sanctum_********" in written
    assert TOKEN not in written and ciphertext not in written and "fernet:********" in written
    assert done.stderr == ""


def test_log_file_that_cannot_be_written_is_a_clear_error(tmp_path):
    db_path = tmp_path / "registry.db"
    target = tmp_path / "no-such-folder" / "sanctum-mcp.log"
    done = sanctum(db_path, "serve", "--transport", "http", "--port", str(free_port()), "--log-file", str(target),
                   timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0] and "--log-file" in lines[0], done.stderr
    assert not db_path.exists()


# --- the systemd user unit -------------------------------------------------------------------------------


def systemd_words(line: str) -> list[str]:
    """An Exec line's words as systemd reads them: shell-like quoting, then %% and $$ are literal % and $."""
    return [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(line)]


def test_service_unit_runs_as_printed(tmp_path):
    folder = tmp_path / "my registry"  # a space, so the unit's quoting is exercised
    folder.mkdir()
    db_path, log_path, port = folder / "registry.db", folder / "sanctum-mcp.log", free_port()
    printed = sanctum(tmp_path / "unused.db", "--db", str(db_path), "service", "unit", "--port", str(port),
                      "--log-file", str(log_path))
    assert printed.returncode == 0, printed.stderr
    unit = printed.stdout
    for needed in ("[Unit]", "[Service]", "[Install]", "WantedBy=default.target", "Restart=on-failure"):
        assert needed in unit
    directives = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    start, check = systemd_words(directives["ExecStart"]), systemd_words(directives["ExecStartPost"])
    assert Path(start[0]).is_absolute() and Path(check[0]).is_absolute()
    assert str(db_path) in start and str(log_path) in start

    if shutil.which("systemd-analyze"):  # systemd's own reading of the file, where systemd is installed
        unit_file = tmp_path / "sanctum-mcp.service"
        unit_file.write_text(unit)
        verified = subprocess.run(["systemd-analyze", "verify", str(unit_file)], capture_output=True, text=True,
                                  timeout=60)
        assert verified.returncode == 0 and "sanctum-mcp.service" not in verified.stderr, verified.stderr

    # What systemd does: ExecStart with no environment of ours (it has its own), then ExecStartPost.
    bare_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    service = subprocess.Popen(start, env=bare_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        started = subprocess.run(check, env=bare_env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        assert wait_healthy(f"http://127.0.0.1:{port}", service)["status"] == "ok"
        assert db_path.exists() and "on http://127.0.0.1:" in log_path.read_text()
    finally:
        stop_group(service)
        service.stderr.close()
    # Stopped, the same health check fails within its wait, saying what it tried.
    down = subprocess.run([*check[:-1], "2"], env=bare_env, capture_output=True, text=True, timeout=60)
    assert down.returncode != 0 and f"127.0.0.1:{port}" in down.stderr and "Traceback" not in down.stderr


# --- make run --------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_honours_sanctum_mcp_host_and_port(tmp_path):
    venv = Path(sys.executable).parent.parent
    port, other = free_port(), free_port()
    # -o: the venv is installed already; make must not try to reinstall it.
    make = ["make", "--no-print-directory", "-o", f"{venv}/bin/.installed", f"VENV={venv}", "run"]
    env = server_env(tmp_path / "registry.db", SANCTUM_MCP_HOST="127.0.0.1", SANCTUM_MCP_PORT=str(port))
    env["PORT"] = str(other)  # a PORT merely exported for some other program is not make's business
    served = subprocess.Popen(make, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}", served)["status"] == "ok"
    finally:
        stop_group(served)
    # A make variable on the command line still wins.
    served = subprocess.Popen([*make, f"PORT={other}"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_healthy(f"http://127.0.0.1:{other}", served)["status"] == "ok"
    finally:
        stop_group(served)


# --- the database in use ---------------------------------------------------------------------------------


def created_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "created registry database" in line]


def test_a_new_database_is_named_once_when_it_is_created(tmp_path):
    first = sanctum(tmp_path / "ignored.db", "--db", "registry.db", "agents", "list", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    [line] = created_lines(first.stderr)  # relative --db: the line names the absolute path
    assert line.endswith(f"created registry database {tmp_path / 'registry.db'} (new)")
    again = sanctum(tmp_path / "ignored.db", "--db", "registry.db", "agents", "list", cwd=tmp_path)
    assert again.returncode == 0 and created_lines(again.stderr) == []
    served = start_http_server(tmp_path / "served.db", "--trust-loopback")  # a server says it in its log
    stop(served.process)
    served.log.seek(0)
    assert created_lines(served.log.read().decode()) != []
    served.log.close()


def test_db_pointing_at_a_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for command in (["agents", "list"], ["init"]):
        done = sanctum(tmp_path / "ignored.db", "--db", str(folder), *command)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        [line] = done.stderr.strip().splitlines()
        assert str(folder) in line and "folder" in line and str(folder / "registry.db") in line
    assert list(folder.iterdir()) == []


def test_db_under_a_missing_folder_is_refused_and_creates_nothing(tmp_path):
    wanted = tmp_path / "typo" / "sub" / "registry.db"
    for args, env in (((str(wanted), "agents", "list"), {}), ((str(wanted), "init"), {})):
        done = sanctum(tmp_path / "ignored.db", "--db", *args, **env)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert str(wanted.parent) in line and "does not exist" in line and "mkdir -p" in line
    by_environment = sanctum(wanted, "agents", "list")  # $SANCTUM_MCP_DB is a choice too
    assert by_environment.returncode == 1 and "does not exist" in by_environment.stderr
    served = sanctum(wanted, "serve", "--transport", "http", "--port", str(free_port()), timeout=60)
    assert served.returncode == 1 and "does not exist" in served.stderr and "Traceback" not in served.stderr
    unit = sanctum(wanted, "service", "unit")  # a unit that would fail at every start is refused now
    assert unit.returncode == 1 and unit.stdout == "" and "mkdir -p" in unit.stderr
    assert not (tmp_path / "typo").exists()


def test_the_default_folder_is_created_on_its_own(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")} | {"HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", "init"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(REPO.parent), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    default = home / ".sanctum" / "registry.db"
    assert default.is_file() and (default.parent.stat().st_mode & 0o777) == 0o700
    [line] = created_lines(done.stderr)
    assert line.endswith(f"created registry database {default} (new)")
