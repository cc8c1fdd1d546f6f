"""sanctum:// resources and prompts: read-only views over the same domain services."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel

from sanctum_mcp.domain.errors import RegistryError
from sanctum_mcp.storage.migrations import schema_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.mcpserver import MCPServer

    from sanctum_mcp.domain.identity import Caller
    from sanctum_mcp.domain.registry import Registry

JSON = "application/json"


def _json(value: object) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    return json.dumps(value, indent=2, default=lambda v: v.model_dump(mode="json"))


def register_resources(server: MCPServer, registry: Registry, identify: Callable[[Context], Caller]) -> None:
    async def narrowed(ctx: Context, uri: str, refs: list[tuple[str, str]]) -> None:
        """A resource naming an agent (or its instance) is narrowed by permissions.agents, as the
        tools are; listings are not."""
        try:
            await registry.users.check_agent_scope(identify(ctx), uri, refs, mutating=False)
        except RegistryError as exc:
            raise ResourceError(str(exc)) from None

    @server.resource("sanctum://agents", name="agents", title="All agents", mime_type=JSON)
    async def agents() -> str:
        """Every registered agent, as JSON."""
        page = await registry.agents.list(limit=10_000)
        return _json({"agents": page.agents})

    @server.resource("sanctum://agents/{name}", name="agent", title="One agent", mime_type=JSON)
    async def agent(name: str, ctx: Context) -> str:
        """One agent by name, as JSON."""
        await narrowed(ctx, f"sanctum://agents/{name}", [("agent", name)])
        try:
            return _json(await registry.agents.get(name))
        except RegistryError as exc:
            raise ResourceError(str(exc)) from None

    @server.resource("sanctum://config/system", name="config-system", title="System settings", mime_type=JSON)
    async def config_system() -> str:
        """Every system-level setting (secrets masked), as JSON."""
        return _json({"scope": "system", "entries": await registry.config.entries_at("system", None)})

    @server.resource(
        "sanctum://config/{scope}/{target}", name="config-scope", title="Settings at one scope", mime_type=JSON
    )
    async def config_scope(scope: str, target: str, ctx: Context) -> str:
        """The settings stored at one scope for one object (secrets masked): e.g.
        sanctum://config/agent/Athena, sanctum://config/tool/mailer, sanctum://config/instance/3."""
        if scope == "system":
            raise ResourceError("system settings have no target: read sanctum://config/system.")
        if scope in ("agent", "instance"):
            await narrowed(ctx, f"sanctum://config/{scope}/{target}", [(scope, target)])
        try:
            entries = await registry.config.entries_at(scope, target)
        except RegistryError as exc:
            raise ResourceError(str(exc)) from None
        return _json({"scope": scope, "target": target, "entries": entries})

    @server.resource("sanctum://jobs/due", name="jobs-due", title="Due jobs and recent runs", mime_type=JSON)
    async def jobs_due() -> str:
        """Jobs whose next run has come and not been taken yet, and the 50 latest job runs (job.due,
        job.run, job.failed, job.missed log rows), as JSON."""
        from sanctum_mcp.domain.clock import iso

        now = iso(registry.clock())
        page = await registry.jobs.list(due_before=now, status="Active", limit=500)
        runs = await registry.logs.recent_job_runs(50)
        return _json({"now": now, "due": page.jobs, "recent_runs": runs})

    @server.resource("sanctum://schema", name="schema", title="Registry database schema", mime_type="application/sql")
    def schema() -> str:
        """The SQL schema of the registry database (schema.sql)."""
        return schema_text()


def register_prompts(server: MCPServer, registry: Registry) -> None:
    @server.prompt(name="configure_sanctum", title="Configure Sanctum safely")
    async def configure_sanctum(agent: str | None = None) -> str:
        """A summary of Sanctum's current settings (secrets masked) and how to change them safely.
        Pass agent (e.g. Athena) to include that agent's own overrides."""
        from sanctum_mcp.domain.config import configuration_briefing

        try:
            return await configuration_briefing(registry, agent=agent)
        except RegistryError as exc:
            # MCPError passes through the SDK's prompt wrapper with its message (a bad argument).
            raise MCPError(INVALID_PARAMS, str(exc)) from None
