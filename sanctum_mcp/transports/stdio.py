from __future__ import annotations

from pathlib import Path

from sanctum_mcp.domain.registry import Registry


async def serve_stdio(db_path: Path, user: str | None = None, *, scheduler: bool = True, db_log: bool = True) -> None:
    """Serve over stdio as the local user `user` (default: the oldest active admin, created as
    `operator` on first start)."""
    from sanctum_mcp.server.app import build_server
    from sanctum_mcp.transports.background import STDIO_SCHEDULER_DELAY, background

    registry = await Registry.open(db_path, user=user)
    try:
        await registry.users.touch_login(registry.operator)
        async with background(registry, scheduler=scheduler, db_log=db_log, scheduler_delay=STDIO_SCHEDULER_DELAY):
            await build_server(registry).run_stdio_async()
    finally:
        await registry.close()
