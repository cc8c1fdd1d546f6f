"""Issue 12, point 5: `serve -v` never writes a secret or an API token to its log, on any transport.

Each test starts a real `sanctum-mcp serve -v` process, creates an API token and reveals a secret
through a real client, then reads everything the process logged (its stderr, and the logs table,
which viewers can read through query_logs) and looks for the token and the secret.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from mcp import ClientSession, stdio_client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from support import start_http_server, stdio_params, stop

SECRET = "sk-verbose-log-secret-0123456789"


async def _leaky_calls(session: ClientSession, label: str) -> tuple[str, str]:
    """Set a secret, reveal it, and create an API token; returns (revealed secret, token)."""
    secret = f"{SECRET}-{label}"

    async def run(name: str, arguments: dict) -> dict:
        result = await session.call_tool(name, arguments)
        assert not result.is_error, result.content
        return result.structured_content

    await run("set_config", {"key": f"{label}_secret", "value": secret, "scope": "system", "sensitive": True})
    revealed = (await run("get_config", {"key": f"{label}_secret", "reveal": True}))["revealed_value"]
    token = (await run("create_api_token", {"user": "operator", "name": label}))["token"]
    assert revealed == secret and token.startswith("sanctum_")
    return revealed, token


def _assert_not_logged(needles: list[str], stderr: str, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        rows = json.dumps(conn.execute("SELECT message, details FROM logs").fetchall())
    for needle in needles:
        assert needle not in stderr, f"{needle[:12]}... is in the server's stderr"
        assert needle not in rows, f"{needle[:12]}... is in the logs table"


async def test_verbose_http_log_holds_no_token_or_revealed_secret(db_path):
    """/sse and /mcp with --stream-responses: both answer through sse_starlette, which logs every
    chunk it sends at DEBUG."""
    server = start_http_server(db_path, "-v", "--trust-loopback", "--stream-responses")
    try:
        async with sse_client(server.sse_url) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            over_sse = await _leaky_calls(session, "sse")
        async with streamable_http_client(server.mcp_url) as (read, write, *_), ClientSession(read, write) as session:
            await session.initialize()
            over_mcp = await _leaky_calls(session, "mcp")
    finally:
        stop(server.process)  # SIGTERM: a clean shutdown that flushes queued log records
    server.log.seek(0)
    stderr = server.log.read().decode(errors="replace")
    server.log.close()
    assert "DEBUG" in stderr  # -v did turn on debug detail: the check below is not blind
    _assert_not_logged([*over_sse, *over_mcp], stderr, db_path)


async def test_verbose_stdio_log_holds_no_token_or_revealed_secret(db_path, tmp_path):
    errlog_path = tmp_path / "stdio.stderr"
    with errlog_path.open("w") as errlog:
        async with stdio_client(stdio_params(db_path, "-v"), errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                leaked = await _leaky_calls(session, "stdio")
    stderr = errlog_path.read_text()
    assert "DEBUG" in stderr
    _assert_not_logged(list(leaked), stderr, db_path)


def test_log_handler_drops_third_party_debug_and_masks_tokens_whatever_the_levels():
    """Defence in depth, in a real process configured as `sanctum-mcp -v` configures itself: even a
    library that sets its own logger to DEBUG gets no DEBUG line out, and an API token or a stored
    ciphertext in any line that is written (message or traceback) is masked."""
    import subprocess
    import sys

    from sanctum_mcp.domain.shared.secrets import SecretBox, new_key
    from support import REPO

    token = "sanctum_" + "A1b2-C3d4_" * 4 + "xyz"  # the shape of create_token's tokens (8 + 43 characters)
    ciphertext = SecretBox([new_key()], source="test").encrypt("a stored secret")
    script = f"""
import logging
from sanctum_mcp import log_setup
log_setup.configure(verbose=True)
chatty = logging.getLogger("sse_starlette.sse")
chatty.setLevel(logging.DEBUG)
chatty.debug("chunk: {token}")
logging.getLogger("mcp.server.sse").warning("bad credential {token} for {ciphertext}")
try:
    raise ValueError("{token}")
except ValueError:
    logging.getLogger("uvicorn.error").exception("failed")
logging.getLogger("sanctum_mcp.calls").debug("own detail is kept")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=str(REPO.parent))
    assert done.returncode == 0, done.stderr
    assert "own detail is kept" in done.stderr and "chunk" not in done.stderr
    assert "bad credential sanctum_********" in done.stderr and "ValueError: sanctum_********" in done.stderr
    assert token not in done.stderr and ciphertext not in done.stderr and "fernet:********" in done.stderr
