from __future__ import annotations

from pathlib import Path

from sanctum_mcp.domain.registry import Registry


async def serve_stdio(db_path: Path, *, scheduler: bool = True, db_log: bool = True) -> None:
    from sanctum_mcp.server.app import build_server
    from sanctum_mcp.transports.background import background

    registry = await Registry.open(db_path)
    try:
        async with background(registry, scheduler=scheduler, db_log=db_log):
            await build_server(registry).run_stdio_async()
    finally:
        await registry.close()
