"""The one place where failures become what an MCP client sees."""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError

from sanctum_mcp.catalogue.base import explain_failure


def to_tool_error(tool_name: str, exc: BaseException) -> ToolError:
    """Map any failure to a ToolError whose text a model can act on, and never a stack trace."""
    if isinstance(exc, ToolError):
        return exc
    return ToolError(explain_failure(tool_name, exc)[1])
