"""Storage: the SQLite connection, migrations and SQL. Knows nothing of masking, roles or MCP."""
