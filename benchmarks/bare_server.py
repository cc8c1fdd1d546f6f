"""The SDK's floor: a bare MCPServer with one no-op tool, over stdio. Baseline for cold start."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
def noop() -> str:
    """Do nothing."""
    return "ok"


if __name__ == "__main__":
    server.run()
