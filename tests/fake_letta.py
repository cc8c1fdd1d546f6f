"""A small, real HTTP server on 127.0.0.1 that speaks the few Letta endpoints the registry uses.

It runs `http.server` in a thread and can be switched between states while running:

- healthy      health, agent count, agent list (paged with limit/after), MCP servers (0.13+ path)
- password     like healthy, but every endpoint except /v1/health/ needs the password, sent as
               `Authorization: Bearer <pw>` or `X-BARE-PASSWORD: password <pw>` (else 401)
- bare-only    like password, but only X-BARE-PASSWORD is accepted
- old          like healthy, but /v1/mcp-servers/ is 404 and /v1/tools/mcp/servers answers {name: config}
- slow         every answer is delayed by `delay` seconds
- broken-json  200 with a body that is not JSON
- error        500 on every endpoint
- redirect     /v1/health/ answers 307 to `redirect_to`

"down" is simply a port with nothing listening (see `closed_port`).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeLetta:
    def __init__(self) -> None:
        self.state = "healthy"
        self.version = "0.11.7"
        self.password = "letta-secret-pw-1234"
        self.delay = 0.0
        self.redirect_to = ""
        self.agents: list[dict[str, Any]] = []
        self.mcp_servers: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeLetta:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- behaviour ----------------------------------------------------------------------------

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.state not in ("password", "bare-only"):
            return True
        bare = headers.get("x-bare-password") == f"password {self.password}"
        bearer = headers.get("authorization") == f"Bearer {self.password}"
        return bare or (bearer and self.state == "password")

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if self.state == "slow":
            time.sleep(self.delay)
        if self.state == "error":
            return 500, {"detail": "Internal Server Error"}, {}
        if self.state == "broken-json":
            return 200, b"<html>this is not json", {"content-type": "text/html"}
        if self.state == "redirect" and path == "/v1/health/":
            return 307, b"", {"location": self.redirect_to}
        if path == "/v1/health/":
            return 200, {"version": self.version, "status": "ok"}, {}
        if not self._authorised(headers):
            return 401, {"detail": "Unauthorized"}, {}
        if path == "/v1/agents/count":
            return 200, len(self.agents), {}
        if path == "/v1/agents/":
            ordered = sorted(self.agents, key=lambda a: a["id"])
            limit = int(query.get("limit", ["50"])[0])
            after = query.get("after", [None])[0]
            if after is not None:
                ordered = [a for a in ordered if a["id"] > after]
            return 200, ordered[:limit], {}
        if path == "/v1/mcp-servers/":
            if self.state == "old":
                return 404, {"detail": "Not Found"}, {}
            return 200, self.mcp_servers, {}
        if path == "/v1/tools/mcp/servers":
            return 200, {s["server_name"]: s for s in self.mcp_servers}, {}
        return 404, {"detail": "Not Found"}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append((parts.path, headers))
                status, body, extra = fake.answer(parts.path, parse_qs(parts.query), headers)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", extra.pop("content-type", "application/json"))
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
