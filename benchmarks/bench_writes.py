"""Check-and-set writes over Streamable HTTP: writes per second and lost updates, 20 clients at once.

    python benchmarks/bench_writes.py [--clients 20] [--writes 25] [--url http://127.0.0.1:PORT/mcp]

Without --url a `sanctum-mcp serve --transport http --trust-loopback` is started on a free
127.0.0.1 port over a fresh database (and stopped at the end). Each client keeps one MCP session
(initialize once, then tools/call) and increments integer counters with check-and-set:

  own keys    every client increments its own counter `bench_counter_NN`: it reads the counter
              once (get_config), then calls set_config(value + 1, expected_version=version) and
              takes the next version from the answer. This is the server's write capacity with
              20 writers at once; the >= 300 writes/s target applies here.
  shared key  every client increments ONE counter: get_config, then set_config with the version it
              read; a conflict (someone wrote in between) is answered with an error naming the
              current version, and the client reads again and retries. Most attempts conflict by
              design; the point is that none is lost.

Lost updates = successful writes - (final counter value - initial value), summed over counters; it
must be 0. A successful set_config is one whose answer was not an error.

The clients are minimal: JSON-RPC over one keep-alive HTTP/1.1 connection each (asyncio streams),
no SDK client. An SDK client costs 3-4 ms of CPU per call on these machines (JSON Schema checks,
SSE parsing, debug formatting), more than the server's own work, and the clients and the server
share the same cores: with SDK clients this would measure the clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROTOCOL = "2025-06-18"


class ToolFailed(Exception):
    """A tools/call answered with isError (the text is the message)."""


class RawSession:
    """One MCP session over one keep-alive HTTP/1.1 connection, speaking JSON-RPC directly."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/mcp"
        self.session_id: str | None = None
        self.next_id = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> RawSession:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        await self.request("initialize", {"protocolVersion": PROTOCOL, "capabilities": {},
                                          "clientInfo": {"name": "bench-writes", "version": "0"}})
        await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def close(self) -> None:
        if self.writer is not None:
            if self.session_id:
                try:
                    await self._send("DELETE", b"")
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except ConnectionError:
                pass
            self.writer = None

    async def call(self, tool: str, arguments: dict) -> dict:
        """The structured result of a tool; ToolFailed(text) for an isError answer."""
        result = await self.request("tools/call", {"name": tool, "arguments": arguments})
        if result.get("isError"):
            raise ToolFailed(result["content"][0]["text"])
        return result["structuredContent"]

    async def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        status, headers, body = await self._post({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                                                  "params": params})
        if status != 200:
            raise RuntimeError(f"{method}: HTTP {status}: {body[:300]!r}")
        if self.session_id is None and "mcp-session-id" in headers:
            self.session_id = headers["mcp-session-id"]
        for message in _messages(body, headers.get("content-type", "")):
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
        raise RuntimeError(f"{method}: no answer in {body[:300]!r}")

    async def _post(self, message: dict) -> tuple[int, dict[str, str], bytes]:
        return await self._send("POST", json.dumps(message).encode())

    async def _send(self, method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        head = [f"{method} {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                "Accept: application/json, text/event-stream", "Content-Type: application/json",
                f"Content-Length: {len(body)}"]
        if self.session_id:
            head += [f"Mcp-Session-Id: {self.session_id}", f"Mcp-Protocol-Version: {PROTOCOL}"]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        assert self.reader is not None and self.writer is not None
        try:
            self.writer.write(request)
            await self.writer.drain()
            status_line = await self.reader.readline()
        except ConnectionError:
            status_line = b""
        if not status_line:
            # The server closed the idle keep-alive connection (uvicorn does after 5 s): the request
            # was not read. Reconnect (the MCP session lives on) and send it again.
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(request)
            status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return status, headers, b"".join(chunks)
        length = int(headers.get("content-length", "0"))
        return status, headers, await self.reader.readexactly(length) if length else b""


def _messages(body: bytes, content_type: str) -> list[dict]:
    if content_type.startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in body.decode().splitlines() if line.startswith("data:") and line[5:].strip()]
    return [json.loads(body)] if body.strip() else []


def is_conflict(message: str) -> bool:
    return "expected_version" in message


@dataclass
class WriteStats:
    mode: str
    clients: int
    writes: int = 0          # successful set_config calls
    conflicts: int = 0       # refused by check-and-set (then re-read and retried)
    reads: int = 0
    seconds: float = 0.0
    lost: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def writes_per_second(self) -> float:
        return self.writes / self.seconds if self.seconds else 0.0


async def _read(session: RawSession, key: str) -> tuple[int, int]:
    found = await session.call("get_config", {"key": key})
    return int(found["value"]), found["version"]


async def _create(session: RawSession, key: str) -> None:
    try:
        await session.call("set_config", {"key": key, "value": "0", "scope": "system", "type": "integer",
                                          "description": "bench_writes.py counter", "expected_version": 0,
                                          # bench_counter_00, _01, ...: one slip apart on purpose.
                                          "create": True})
    except ToolFailed as exc:
        if not is_conflict(str(exc)):
            raise


async def run_writes(url: str, *, clients: int = 20, writes: int = 25, mode: str = "own",
                     prefix: str = "bench_counter") -> WriteStats:
    """`clients` sessions, each making `writes` successful check-and-set increments; mode 'own'
    (a counter per client) or 'shared' (one counter for all)."""
    stats = WriteStats(mode=mode, clients=clients)
    sessions = [await RawSession(url).open() for _ in range(clients)]
    keys = [f"{prefix}_shared"] * clients if mode == "shared" else [f"{prefix}_{i:02d}" for i in range(clients)]
    try:
        for key in sorted(set(keys)):
            await _create(sessions[0], key)
        start_values = {key: (await _read(sessions[0], key))[0] for key in set(keys)}

        async def client(session: RawSession, key: str) -> None:
            value, version = await _read(session, key)
            stats.reads += 1
            done = attempts = 0
            while done < writes:
                attempts += 1
                if attempts > writes * clients * 20:
                    raise RuntimeError(f"{key}: no progress after {attempts} attempts")
                try:
                    answer = await session.call("set_config", {"key": key, "value": str(value + 1), "scope": "system",
                                                               "expected_version": version})
                except ToolFailed as exc:
                    if not is_conflict(str(exc)):
                        raise
                    stats.conflicts += 1
                    value, version = await _read(session, key)
                    stats.reads += 1
                    continue
                done += 1
                stats.writes += 1
                value, version = value + 1, answer["version"]

        started = time.perf_counter()
        await asyncio.gather(*(client(s, k) for s, k in zip(sessions, keys)))
        stats.seconds = time.perf_counter() - started
        for key in sorted(set(keys)):
            final, _ = await _read(sessions[0], key)
            stats.counters[key] = final
        stats.lost = stats.writes - sum(stats.counters[k] - start_values[k] for k in stats.counters)
    finally:
        for session in sessions:
            await session.close()
    return stats


async def run_calls(url: str, tool: str, arguments: dict, *, clients: int = 20, calls: int = 25) -> float:
    """Calls per second of `tool` with `clients` sessions at once, each making `calls` calls: the
    same clients as run_writes, for a baseline (a no-op on a bare MCPServer)."""
    sessions = [await RawSession(url).open() for _ in range(clients)]
    try:
        async def client(session: RawSession) -> None:
            for _ in range(calls):
                await session.call(tool, arguments)

        started = time.perf_counter()
        await asyncio.gather(*(client(s) for s in sessions))
        return clients * calls / (time.perf_counter() - started)
    finally:
        for session in sessions:
            await session.close()


# --- standalone ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_path: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")} | {"SANCTUM_MCP_DB": str(db_path)}
    return subprocess.Popen(
        [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--trust-loopback",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait_until_up(host: str, port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up in time")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def report(stats: WriteStats) -> str:
    return (f"{stats.mode:>6} key(s): {stats.clients} clients, {stats.writes} writes in {stats.seconds:.2f} s = "
            f"{stats.writes_per_second:.0f} writes/s; {stats.conflicts} conflicts, {stats.reads} reads; "
            f"lost updates: {stats.lost}")


async def _main(args: argparse.Namespace, url: str) -> list[WriteStats]:
    return [await run_writes(url, clients=args.clients, writes=args.writes, mode="own"),
            await run_writes(url, clients=args.clients, writes=max(1, args.writes // 5), mode="shared")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent sessions (default 20)")
    parser.add_argument("--writes", type=int, default=25,
                        help="successful writes per client with own keys (default 25; a fifth of it on the shared key)")
    parser.add_argument("--url", help="an already running server's /mcp URL (default: start one)")
    args = parser.parse_args()
    process = None
    with tempfile.TemporaryDirectory(prefix="bench-writes-") as folder:
        url = args.url
        if url is None:
            port = free_port()
            process = start_server(Path(folder) / "registry.db", port)
            wait_until_up("127.0.0.1", port, process)
            url = f"http://127.0.0.1:{port}/mcp"
        try:
            results = asyncio.run(_main(args, url))
        finally:
            if process is not None:
                stop(process)
    for stats in results:
        print(report(stats))
    return 0 if all(s.lost == 0 for s in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
