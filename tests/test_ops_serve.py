"""The scheduler and the database log handler inside real `sanctum-mcp serve` processes."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.client.session import ClientSession
from support import HttpServer, call, start_http_server, stdio_params, stop


def rows(db_path: Path, where: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(f"SELECT level, source, action, message FROM logs WHERE {where} ORDER BY id").fetchall()


def stop_and_read_stderr(server: HttpServer) -> str:
    """Stop the server (SIGTERM: a clean shutdown, which flushes queued log records) and return its stderr."""
    stop(server.process)
    server.log.seek(0)
    text = server.log.read().decode()
    server.log.close()
    return text


@pytest.mark.parametrize("flags", [(), ("--no-scheduler", "--no-db-log")])
def test_http_server_background_work(db_path, flags):
    server = start_http_server(db_path, "--trust-loopback", *flags)
    try:
        # A request with a foreign Host header is refused, and the SDK logs a WARNING about it.
        response = httpx.post(server.mcp_url, headers={"Host": "evil.example"}, json={})
        assert response.status_code == 421
    finally:
        stderr = stop_and_read_stderr(server)
    assert "Invalid Host header" in stderr  # always on stderr
    copied = rows(db_path, "source = 'server'")
    if flags:
        assert "scheduler started" not in stderr
        assert copied == []
    else:
        assert "scheduler started" in stderr
        assert ("WARNING", "server", "server.log", "Invalid Host header: evil.example") in copied


async def test_stdio_server_with_scheduler_serves(db_path):
    async with stdio_client(stdio_params(db_path)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("create_agent", {"name": "Athena"})
        assert not result.is_error
        result = await session.call_tool("create_job", {"name": "j", "cron_expression": "@daily", "agent": "Athena"})
        assert not result.is_error, result.content[0].text
    assert rows(db_path, "action = 'job.create'")


@pytest.mark.slow
async def test_a_job_runs_in_a_served_process(db_path):
    """Real time: a job every minute, run by the scheduler of an HTTP server process."""
    server = start_http_server(db_path, "--trust-loopback")
    try:
        async with Client(server.mcp_url) as client:
            await call(client, "create_agent", {"name": "Athena"})
            await call(client, "create_job", {"name": "every-minute", "cron_expression": "* * * * *", "agent": "Athena"})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not rows(db_path, "action = 'job.due'"):
            time.sleep(0.5)
        assert rows(db_path, "action = 'job.due'")
    finally:
        stop(server.process)
        server.log.close()
