"""Overview: agents with their status, tools as cards by category, the Letta connection, jobs due
soon and the latest changes (audit rows), each read through its list tool."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, run
from sanctum_mcp.console.app import Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.domain.shared.clock import iso, utcnow

CATEGORIES = ("master", "athena", "monday", "timbre", "smcp")
DUE_WITHIN = timedelta(hours=24)


async def _section(ctx: Ctx, tool: str, **arguments: object) -> tuple[object | None, str | None]:
    """One panel's data, or the tool's refusal shown in its place (a narrowed user still sees the rest)."""
    try:
        return await run(ctx.registry, ctx.caller, tool, **arguments), None
    except Refused as exc:
        return None, exc.message


@page("/", nav="Overview")
async def overview(ctx: Ctx) -> Response:
    category = ctx.request.query_params.get("category")
    if category not in CATEGORIES:
        category = None
    agents, agents_error = await _section(ctx, "list_agents", limit=200)
    tools, tools_error = await _section(ctx, "list_tools", limit=200, **({"category": category} if category else {}))
    letta, letta_error = await _section(ctx, "list_letta_servers")
    jobs, jobs_error = await _section(ctx, "list_jobs", due_before=iso(utcnow() + DUE_WITHIN), limit=10)
    logs, changes_error = await _section(ctx, "query_logs", limit=50)
    # The audit rows among the latest entries: the ones naming who acted (domain/shared/audit.py).
    changes = [e for e in logs.entries if e.action and "actor" in (e.details or {})][:10] if logs is not None else []
    return ctx.page("overview.html", agents=agents, agents_error=agents_error, tools=tools, tools_error=tools_error,
                    letta=letta, letta_error=letta_error, jobs=jobs, jobs_error=jobs_error, changes=changes,
                    changes_error=changes_error, categories=CATEGORIES, category=category)
