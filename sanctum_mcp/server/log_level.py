"""logging/setLevel (protocol versions 2024-11-05 … 2025-11-25; 2026-07-28 removed it).

The level a client sets is the least severe `notifications/message` it wants from this session.
sanctum-mcp sends no log notifications (its records go to stderr and the logs table, read with
query_logs), so the request is acknowledged and changes nothing. Above all it never touches the
server's own logging: -v is the operator's choice (log_setup.py), and the SDK's DEBUG records hold
whole JSON-RPC messages, secrets being set included.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mcp_types import EmptyResult, SetLevelRequestParams

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from sanctum_mcp.server.app import SanctumServer

log = logging.getLogger("sanctum_mcp.protocol")


def register_log_level(server: SanctumServer) -> None:
    async def set_level(_ctx: ServerRequestContext, params: SetLevelRequestParams) -> EmptyResult:
        log.debug("a client asked for log notifications at %s and above; this server sends none", params.level)
        return EmptyResult()

    server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
