"""Logs: query_logs with its filters (level, source, text, time window) as a GET form, newest
first, paged with its cursor ("Older" keeps the filters). A filter the tool refuses (a time that is
not ISO-8601, say) shows the tool's message in place of the list. Audit rows show who acted."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act

PATH = f"{PREFIX}/logs"
FILTERS = ("level", "source", "source_id", "since", "until", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LIMITS = ("25", "50", "100", "200")


@page(PATH, nav="Logs")
async def logs(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    # Each filter as given (bounded): the tool checks it and says what is wrong.
    filters = {name: params[name][:500] for name in FILTERS if params.get(name)}
    limit = params.get("limit", "50")
    context: dict[str, Any] = {"filters": filters, "levels": LEVELS, "limit": limit, "entries": [], "error": None,
                               "older": None}
    try:
        arguments: dict[str, Any] = dict(filters)
        if limit:  # a number as the tool takes it; anything else goes as it is, for the tool's message
            arguments["limit"] = int(limit) if limit.isascii() and limit.isdigit() and len(limit) < 6 else limit[:10]
        if params.get("cursor"):
            arguments["cursor"] = params["cursor"][:500]
        result = await act(ctx, "query_logs", **arguments)
    except Refused as exc:
        context["error"] = exc.message
    else:
        context["entries"] = result.entries
        if result.next_cursor:
            context["older"] = f"{PATH}?" + urlencode({**filters, "limit": limit, "cursor": result.next_cursor})
    return ctx.page("pages/logs.html", **context)
