"""sanctum-mcp: the Sanctum registry as an MCP server."""

__version__ = "0.1.0"
