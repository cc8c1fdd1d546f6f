"""A session flood: one viewer's token opens N Streamable HTTP sessions and abandons them.

Prints the server's resident memory before and after, how the flood's requests were answered, and
whether an admin can still open a session and call a tool afterwards (issue 12, point 7).

    .venv/bin/python benchmarks/bench_flood.py [--sessions 10000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio
import httpx

REPO = Path(__file__).resolve().parents[1]
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "flood", "version": "0"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:"))) / 1024


async def seed(db: Path) -> dict[str, str]:
    from sanctum_mcp.domain.registry import Registry

    registry = await Registry.open(db)
    try:
        await registry.users.create(registry.operator, username="vic", role="viewer", email=None, permissions=None)
        return {name: (await registry.users.create_token(registry.operator, name, "flood")).token
                for name in ("operator", "vic")}
    finally:
        await registry.close()


async def flood(url: str, token: str, sessions: int, concurrency: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    headers = HEADERS | {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as http:
        async def worker(count: int) -> None:
            for _ in range(count):
                statuses[(await http.post(url, json=INIT, headers=headers)).status_code] += 1

        async with anyio.create_task_group() as group:
            for n in range(concurrency):
                group.start_soon(worker, sessions // concurrency + (n < sessions % concurrency))
    return statuses


async def admin_call(url: str, token: str) -> str:
    headers = HEADERS | {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60) as http:
        opened = await http.post(url, json=INIT, headers=headers)
        if opened.status_code != 200:
            return f"initialize answered {opened.status_code}"
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_users", "arguments": {}}}
        done = await http.post(url, json=call, headers=headers | session)
        return f"initialize 200, tools/call {done.status_code}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "registry.db"
        tokens = anyio.run(seed, db)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")} | {"SANCTUM_MCP_DB": str(db)}
        server = subprocess.Popen([sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--port",
                                   str(port), "--no-scheduler"], env=env, cwd=str(REPO.parent),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            before = rss_mib(server.pid)
            started = time.perf_counter()
            statuses = anyio.run(flood, f"{base}/mcp", tokens["vic"], args.sessions, args.concurrency)
            seconds = time.perf_counter() - started
            after = rss_mib(server.pid)
            admin = anyio.run(admin_call, f"{base}/mcp", tokens["operator"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{args.sessions} initializes from one viewer in {seconds:.1f} s, answered {dict(sorted(statuses.items()))}")
    print(f"server RSS {before:.0f} MiB before, {after:.0f} MiB after")
    print(f"admin afterwards: {admin}")


if __name__ == "__main__":
    main()
