"""The one place where failures become what an MCP client sees."""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from sanctum_mcp.catalogue.base import explain_failure


def to_tool_error(tool_name: str, exc: BaseException) -> ToolError:
    """Map any failure to a ToolError whose text a model can act on, and never a stack trace."""
    if isinstance(exc, ToolError):
        return exc
    return ToolError(explain_failure(tool_name, exc)[1])


def to_protocol_error(method: str, exc: BaseException) -> MCPError:
    """The JSON-RPC error for a failure in a protocol method that is not a tool (completion/complete):
    the caller's mistake keeps its message as invalid params; anything else is the generic message
    with a reference (traceback in the server log only)."""
    kind, message = explain_failure(method, exc)
    return MCPError(INTERNAL_ERROR if kind == "internal" else INVALID_PARAMS, message)
