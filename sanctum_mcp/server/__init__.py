"""The MCP surface: thin adapters from the tool catalogue and the domain to MCPServer."""
