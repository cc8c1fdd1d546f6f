"""sanctum:// resources and prompts: read-only views over the same domain services."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ResourceError
from pydantic import BaseModel

from sanctum_mcp.domain.errors import RegistryError
from sanctum_mcp.storage.migrations import schema_text

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from sanctum_mcp.domain.registry import Registry

JSON = "application/json"


def _json(value: object) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    return json.dumps(value, indent=2, default=lambda v: v.model_dump(mode="json"))


def register_resources(server: MCPServer, registry: Registry) -> None:
    @server.resource("sanctum://agents", name="agents", title="All agents", mime_type=JSON)
    async def agents() -> str:
        """Every registered agent, as JSON."""
        page = await registry.agents.list(limit=10_000)
        return _json({"agents": page.agents})

    @server.resource("sanctum://agents/{name}", name="agent", title="One agent", mime_type=JSON)
    async def agent(name: str) -> str:
        """One agent by name, as JSON."""
        try:
            return _json(await registry.agents.get(name))
        except RegistryError as exc:
            raise ResourceError(str(exc)) from None

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
    """Prompts arrive with the configuration issue; nothing to register yet."""
