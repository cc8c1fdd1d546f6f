"""Domain services: the registry's rules. Never imports `mcp`; every surface calls into here."""
