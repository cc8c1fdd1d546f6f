"""Every tool of sanctum-mcp, in one catalogue (see base.py)."""

from __future__ import annotations

from sanctum_mcp.catalogue.base import ToolSpec, registered_tools

# Importing a module registers its tools. The order here is the order tools are listed.
_MODULES = ("agents", "config", "tools", "plugins", "letta", "users", "jobs", "logs", "backups")


_complete = False  # every module above imported: the catalogue cannot grow any more


def all_tools() -> dict[str, ToolSpec]:
    global _complete
    if not _complete:  # import_module of a loaded module still costs ~2 us each; pages ask per field
        import importlib

        for module in _MODULES:
            importlib.import_module(f"sanctum_mcp.catalogue.{module}")
        _complete = True
    return registered_tools()


def find_tool(name: str) -> ToolSpec | None:
    """One tool by name, importing catalogue modules only until it is found (a process that runs a
    single tool, such as an SMCP command, then skips building every other tool's models)."""
    import importlib

    tools = registered_tools()
    for module in _MODULES:
        if name in tools:
            break
        importlib.import_module(f"sanctum_mcp.catalogue.{module}")
    return tools.get(name)
