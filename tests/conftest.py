"""Shared fixtures: a fresh database file, the registry on it, and real MCP clients.

Every client here is real: the SDK's in-memory Client (both protocol eras), a `sanctum-mcp serve`
subprocess over stdio, and one over HTTP on a free 127.0.0.1 port.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server
from support import HttpServer, start_http_server, stop

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run the long variants (marked slow)")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    # Every `async def test_*` runs under anyio's plugin (asyncio), without a marker in each file.
    if collector.funcnamefilter(name) and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="long variant: run with --runslow (make test-long)")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


@pytest.fixture
async def registry(db_path: Path) -> AsyncIterator[Registry]:
    reg = await Registry.open(db_path)
    try:
        yield reg
    finally:
        await reg.close()


@pytest.fixture
def server(registry: Registry):
    return build_server(registry)


@pytest.fixture(params=["modern", "legacy"])
async def client(request: pytest.FixtureRequest, server) -> AsyncIterator[Client]:
    """The SDK's in-memory client, once per protocol era (2026-07-28 and legacy JSON-RPC)."""
    options = {"mode": "legacy"} if request.param == "legacy" else {}
    async with Client(server, **options) as c:
        yield c


@pytest.fixture
async def modern_client(server) -> AsyncIterator[Client]:
    async with Client(server) as c:
        yield c


@pytest.fixture
def http_server(db_path: Path) -> Iterator[HttpServer]:
    """An HTTP server whose loopback clients need no token (test_auth.py covers tokens and 401)."""
    server = start_http_server(db_path, "--trust-loopback")
    try:
        yield server
    finally:
        stop(server.process)
        server.log.close()


@pytest.fixture
def served(db_path: Path) -> Iterator[HttpServer]:
    """As http_server, without the scheduler: only the test's own clients change the registry
    (the change feed's and tools/list_changed's tests count what they hear)."""
    server = start_http_server(db_path, "--trust-loopback", "--no-scheduler")
    try:
        yield server
    finally:
        stop(server.process)
        server.log.close()
