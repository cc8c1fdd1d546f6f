"""The one place where failures become what an MCP client sees."""

from __future__ import annotations

import logging
import sqlite3
import uuid

from mcp.server.mcpserver.exceptions import ToolError

from sanctum_mcp.domain.errors import RegistryError

log = logging.getLogger("sanctum_mcp.errors")


def to_tool_error(tool_name: str, exc: BaseException) -> ToolError:
    """Map any failure to a ToolError whose text a model can act on, and never a stack trace."""
    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, RegistryError):
        return ToolError(str(exc))
    if isinstance(exc, sqlite3.IntegrityError):
        # A constraint the domain did not pre-check. SQLite names the constraint, not the values.
        return ToolError(f"{tool_name} was refused by the database ({exc}); nothing was changed.")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return ToolError(f"{tool_name}: the database is busy with another writer; nothing was changed. Retry.")
    reference = uuid.uuid4().hex[:12]
    log.error("unexpected failure in %s (reference %s)", tool_name, reference, exc_info=exc)
    return ToolError(
        f"{tool_name} failed unexpectedly and nothing was changed (reference {reference}); "
        "the server log has the details."
    )
