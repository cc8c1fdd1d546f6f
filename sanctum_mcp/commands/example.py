"""`sanctum-mcp init --example`: a small Sanctum to try things on.

Athena (the Sanctum Configuration Assistant), Monday and Timbre; the Sanctum Configurator's tools
with their emoji and categories (the host-wide settings tools, one tool for Athena and one for
Monday, and the SMCP tools); four tool instances, among them Athena's SMCP tool instance
`athena-smcp` (id 3, the instance of README's worked example); and one nightly job. Every object is
created by calling the catalogue's tools as the local user (--user), so the roles, checks and audit
rows are those of any other caller. Only an empty registry takes it (domain/example.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

AGENTS = [
    {"name": "Athena", "description": "Sanctum Configuration Assistant", "status": "Healthy"},
    {"name": "Monday", "description": "Creative agent: writing, brainstorming and content"},
    {"name": "Timbre", "description": "Technical agent: code, debugging and system architecture"},
]

_SMCP_TOOLS_SCHEMA = {
    "type": "object",
    "properties": {
        "plugins": {"type": "array", "items": {"type": "string"},
                    "description": "SMCP plugins whose tools this agent may call"},
        "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600},
    },
    "additionalProperties": False,
}

# The Sanctum Configurator's tools (its settings page), with their emoji.
TOOLS = [
    {"name": "System Settings", "emoji": "⚙️", "category": "master", "tool_type": "config",
     "description": "Base ports, paths and environment variables"},
    {"name": "Network Configuration", "emoji": "🌐", "category": "master", "tool_type": "config",
     "description": "Firewall, routing and connectivity"},
    {"name": "Security Settings", "emoji": "🔒", "category": "master", "tool_type": "config",
     "description": "Authentication, encryption and access control"},
    {"name": "User Management", "emoji": "👥", "category": "master", "tool_type": "utility",
     "description": "User accounts, and the users Broca discovers"},
    {"name": "Logs & Status", "emoji": "📊", "category": "master", "tool_type": "utility",
     "description": "Health monitoring and log access"},
    {"name": "Update System", "emoji": "🔄", "category": "master", "tool_type": "service",
     "description": "System updates and maintenance"},
    {"name": "Chat Settings", "emoji": "💬", "category": "athena", "tool_type": "config",
     "description": "Athena's model, voice, safety and persona"},
    {"name": "Broca", "emoji": "🛰️", "category": "monday", "tool_type": "service",
     "description": "Monday's message streams and tool I/O"},
    {"name": "SMCP Health", "emoji": "🏥", "category": "smcp", "tool_type": "service",
     "description": "SMCP monitoring and diagnostics"},
    {"name": "Plugin Registry", "emoji": "🔌", "category": "smcp", "tool_type": "plugin",
     "description": "Install, configure and manage SMCP plugins"},
    {"name": "Session Management", "emoji": "🔄", "category": "smcp", "tool_type": "utility",
     "description": "Active SMCP sessions: monitoring and control"},
    {"name": "Tools Management", "emoji": "🛠️", "category": "smcp", "tool_type": "config",
     "description": "SMCP tools: which an agent uses, and how", "config_schema": _SMCP_TOOLS_SCHEMA},
]

# In this order, so that athena-smcp is instance 3 (README's worked example).
INSTANCES = [
    {"tool": "System Settings", "name": "sanctum-host", "config": {}},
    {"tool": "Chat Settings", "name": "athena-chat", "agent": "Athena", "config": {"model": "gpt-4", "temperature": 0.7}},
    {"tool": "Tools Management", "name": "athena-smcp", "agent": "Athena",
     "config": {"plugins": ["sanctum"], "timeout_seconds": 60}},
    {"tool": "Broca", "name": "monday-broca", "agent": "Monday", "config": {}},
]

JOBS = [
    {"name": "nightly", "cron_expression": "0 2 * * *", "timezone": "UTC", "agent": "Athena",
     "tool_instance": "athena-smcp", "description": "Athena reviews her SMCP tools every night"},
]

CALLS: list[tuple[str, dict[str, Any]]] = (
    [("create_agent", a) for a in AGENTS] + [("create_tool", t) for t in TOOLS]
    + [("create_tool_instance", i) for i in INSTANCES] + [("create_job", j) for j in JOBS]
)


async def load_example(registry: Registry, db_path: Path) -> str:
    """Load the example through the catalogue as registry.operator; return a summary for the
    terminal. Raises Conflict when it is not empty, or the RegistryError of the first call refused (say, for the role)."""
    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.catalogue.base import Call, parse_arguments, run_tool
    from sanctum_mcp.domain.example import what_it_holds
    from sanctum_mcp.domain.shared.errors import Conflict

    now, before = await what_it_holds(registry)
    if now or before:
        held = f"already holds {_and(now)}" if now else f"has held {_and(before)} before (ids are never reused)"
        raise Conflict(
            f"the registry at {db_path} {held}; the example is loaded only into an empty registry, so that "
            f"its ids are the ones README uses. Nothing was changed. Load it into a new database file: "
            f"sanctum-mcp --db ~/sanctum-example.db init --example"
        )
    tools, call = all_tools(), Call(registry, registry.operator)
    made: dict[str, list[Any]] = {}
    for name, arguments in CALLS:
        spec = tools[name]
        made.setdefault(name, []).append(await run_tool(spec, call, parse_arguments(spec, arguments)))
    smcp = next(i for i in made["create_tool_instance"] if i.name == "athena-smcp")
    return (
        f"loaded the example Sanctum: agents {', '.join(a.name for a in made['create_agent'])}; "
        f"{len(made['create_tool'])} tools; {len(made['create_tool_instance'])} tool instances "
        f"(Athena's SMCP tool instance athena-smcp is id {smcp.id}); job {made['create_job'][0].name!r}.\n"
        "Try: sanctum-mcp agents list, sanctum-mcp tools list, sanctum-mcp config get smcp_port --instance 3"
    )


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
