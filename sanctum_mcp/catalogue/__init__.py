"""Every tool of sanctum-mcp, in one catalogue (see base.py)."""

from __future__ import annotations

from sanctum_mcp.catalogue.base import ToolSpec, registered_tools

# Importing a module registers its tools. The order here is the order tools are listed.
_MODULES = ("agents", "letta", "users", "jobs", "logs", "backups")


def all_tools() -> dict[str, ToolSpec]:
    import importlib

    for module in _MODULES:
        importlib.import_module(f"sanctum_mcp.catalogue.{module}")
    return registered_tools()
