"""Operator commands of the `sanctum-mcp` CLI, one module per area (see cli.py)."""
