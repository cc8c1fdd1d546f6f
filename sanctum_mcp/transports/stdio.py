from __future__ import annotations

from pathlib import Path

from sanctum_mcp.domain.registry import Registry


async def serve_stdio(db_path: Path) -> None:
    from sanctum_mcp.server.app import build_server

    registry = await Registry.open(db_path)
    try:
        await build_server(registry).run_stdio_async()
    finally:
        await registry.close()
