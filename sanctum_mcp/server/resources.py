"""sanctum:// resources and prompts: read-only views over the same domain services, behind the tools' gate."""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel

from sanctum_mcp.domain.config.models import SCOPES
from sanctum_mcp.domain.shared.errors import Forbidden, RegistryError
from sanctum_mcp.storage.migrations import schema_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.mcpserver import MCPServer

    from sanctum_mcp.catalogue.toolsets import Selection
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.identity import Caller

JSON = "application/json"

# The SDK hands static resources (no URI variables) no Context; SanctumServer.read_resource puts the
# reader's here, so that they pass the same gate as the templates.
READING: ContextVar[Context | None] = ContextVar("sanctum_resource_reading", default=None)


def _json(value: object) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    return json.dumps(value, indent=2, default=lambda v: v.model_dump(mode="json"))


# A resource or prompt shows the data of catalogue tools, and reading it passes the same gate as
# calling those tools with the same arguments (catalogue/base.py authorize: the role, the user's
# permissions.tools and permissions.agents; a refusal is audited). Listings follow the listing
# tools: sanctum://agents and sanctum://jobs/due show every agent, as list_agents and list_jobs do.


def _selection(server: MCPServer, ctx: Context | None) -> Selection:
    """The tools this request's endpoint serves (server/listing.py); every tool for a bare MCPServer."""
    from sanctum_mcp.catalogue.toolsets import EVERYTHING
    from sanctum_mcp.server.listing import request_selection

    try:
        request = ctx.request_context.request if ctx is not None else None
    except ValueError:  # a Context outside a request (a direct call of read_resource)
        request = None
    return request_selection(getattr(server, "selection", EVERYTHING), request)


async def _gate(registry: Registry, caller: Caller, reads: list[tuple[str, dict[str, Any]]],
                selection: Selection) -> None:
    """Raise RegistryError unless the endpoint serves, and the caller may call, every (tool, arguments)
    of reads."""
    from sanctum_mcp.catalogue import find_tool
    from sanctum_mcp.catalogue.base import Call, admit, parse_arguments

    for name, raw in reads:
        if not selection.admits(name):
            raise Forbidden(f"this endpoint does not serve {name}, whose data this is; it serves {selection.label}.")
        spec = find_tool(name)
        assert spec is not None, f"resource mapped to unknown tool {name}"  # a programming error, caught by tests
        await admit(spec, Call(registry, caller), parse_arguments(spec, raw))


def register_resources(server: MCPServer, registry: Registry, identify: Callable[[Context | None], Caller]) -> None:
    async def gate(ctx: Context | None, reads: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            await _gate(registry, identify(ctx), reads, _selection(server, ctx))
        except RegistryError as exc:
            raise ResourceError(str(exc)) from None

    @server.resource("sanctum://agents", name="agents", title="All agents", mime_type=JSON)
    async def agents() -> str:
        """Every registered agent, as JSON (the data of list_agents)."""
        await gate(READING.get(), [("list_agents", {})])
        page = await registry.agents.list(limit=10_000)
        return _json({"agents": page.agents})

    @server.resource("sanctum://agents/{name}", name="agent", title="One agent", mime_type=JSON)
    async def agent(name: str, ctx: Context) -> str:
        """One agent by name, as JSON (the data of get_agent)."""
        await gate(ctx, [("get_agent", {"agent": name})])
        try:
            return _json(await registry.agents.get(name))
        except RegistryError as exc:
            raise ResourceError(str(exc)) from None

    @server.resource("sanctum://config/system", name="config-system", title="System settings", mime_type=JSON)
    async def config_system() -> str:
        """Every system-level setting (secrets masked) and the active environment, as JSON (the data
        of list_config; an entry with an environment applies only in that one)."""
        await gate(READING.get(), [("list_config", {"scope": "system"})])
        entries = await registry.config.entries_at("system", None)
        return _json({"scope": "system", "environment": await registry.config.active_environment(),
                      "entries": entries})

    @server.resource(
        "sanctum://config/{scope}/{target}", name="config-scope", title="Settings at one scope", mime_type=JSON
    )
    async def config_scope(scope: str, target: str, ctx: Context) -> str:
        """The settings stored at one scope for one object (secrets masked): e.g.
        sanctum://config/agent/Athena, sanctum://config/tool/mailer, sanctum://config/instance/3
        (the data of list_config), with the active environment."""
        if scope == "system":
            raise ResourceError("system settings have no target: read sanctum://config/system.")
        if scope not in SCOPES:
            raise ResourceError(f"unknown scope {scope[:40]!r}: use one of {', '.join(SCOPES)}, e.g. "
                                "sanctum://config/agent/Athena.")
        await gate(ctx, [("list_config", {"scope": scope, "target": target})])
        try:
            entries = await registry.config.entries_at(scope, target)
        except RegistryError as exc:
            raise ResourceError(str(exc)) from None
        return _json({"scope": scope, "target": target, "environment": await registry.config.active_environment(),
                      "entries": entries})

    @server.resource("sanctum://jobs/due", name="jobs-due", title="Due jobs and recent runs", mime_type=JSON)
    async def jobs_due() -> str:
        """Jobs whose next run has come and not been taken yet, and the 50 latest job runs (job.due,
        job.run, job.failed, job.missed log rows), as JSON (the data of list_jobs and query_logs)."""
        from sanctum_mcp.domain.shared.clock import iso

        now = iso(registry.clock())
        await gate(READING.get(), [("list_jobs", {"due_before": now, "status": "Active"}), ("query_logs", {})])
        page = await registry.jobs.list(due_before=now, status="Active", limit=500)
        runs = await registry.logs.recent_job_runs(50)
        return _json({"now": now, "due": page.jobs, "recent_runs": runs})

    @server.resource("sanctum://schema", name="schema", title="Registry database schema", mime_type="application/sql")
    def schema() -> str:
        """The SQL schema of the registry database (schema.sql). It holds no registry data (it is
        the published schema.sql), so no tool's permission is needed."""
        return schema_text()


def register_prompts(server: MCPServer, registry: Registry, identify: Callable[[Context], Caller]) -> None:
    @server.prompt(name="configure_sanctum", title="Configure Sanctum safely")
    async def configure_sanctum(ctx: Context, agent: str | None = None) -> str:
        """A summary of Sanctum's current settings (secrets masked) and how to change them safely.
        Pass agent (e.g. Athena) to include that agent's own overrides."""
        from sanctum_mcp.domain.config.briefing import configuration_briefing

        # It shows what list_config shows: the system settings, and the agent's own when named.
        reads: list[tuple[str, dict[str, Any]]] = [("list_config", {"scope": "system"})]
        if agent is not None:
            reads.append(("list_config", {"scope": "agent", "target": agent}))
        try:
            await _gate(registry, identify(ctx), reads, _selection(server, ctx))
            return await configuration_briefing(registry.config, agent=agent)
        except RegistryError as exc:
            # MCPError passes through the SDK's prompt wrapper with its message (a bad argument).
            raise MCPError(INVALID_PARAMS, str(exc)) from None
