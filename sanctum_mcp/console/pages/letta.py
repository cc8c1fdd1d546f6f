"""Letta connections: the stored connections (passwords and tokens masked, as list_letta_servers
gives them), the environment override when one is in force, "Test connection" (the letta_status
probe, step by step) and activate (activate_letta_server, admins)."""

from __future__ import annotations

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, may
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act, done, listed_page, number, refused

PATH = f"{PREFIX}/letta"


async def _context(ctx: Ctx) -> dict[str, object]:
    try:
        servers, error = await act(ctx, "list_letta_servers"), None
    except Refused as exc:
        servers, error = None, exc.message
    return {"letta": servers, "error": error, "can_probe": may(ctx.caller, "letta_status"),
            "can_activate": may(ctx.caller, "activate_letta_server")}


listed_page(PATH, "Letta", "letta", _context)


# A POST although letta_status reads: it reaches out to another server (and records last_connected).
@page(f"{PATH}/test", methods=("POST",))
async def test_connection(ctx: Ctx) -> Response:
    try:
        form = await ctx.form()
        server = number(form, "server", "letta_status") if form.get("server") else None
        status = await act(ctx, "letta_status", **({"server": server} if server is not None else {}))
    except Refused as exc:
        return refused(ctx, exc)
    response = ctx.page("pages/letta_probe.html", status_=status)
    response.headers["hx-trigger"] = "changed"  # last_connected may have moved
    return response


@page(f"{PATH}/activate", methods=("POST",))
async def activate(ctx: Ctx) -> Response:
    try:
        server = await act(ctx, "activate_letta_server", server=number(await ctx.form(), "server",
                                                                         "activate_letta_server"))
    except Refused as exc:
        return refused(ctx, exc)
    return done(ctx, f"{server.url} is now the active Letta connection.")
