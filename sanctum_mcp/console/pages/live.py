"""Live updates: GET /console/changes?after=REVISION waits (up to WAIT seconds) for the change feed
to move past REVISION (registry.notifier, domain/feed/notifier.py), then answers what changed as
JSON, read through the changes_since tool as the signed-in caller (so only what they may read;
never a value). static/console.js follows it from the revision the page was rendered at
(`data-revision` on <body>) and refreshes what changed; a field being edited is left as typed and
says who changed it underneath.

The caller is read again after the wait (a user deactivated meanwhile gets 401, not the changes).
Bounded: at most MAX_WAITS requests of one session wait at once (more: 429), each at most WAIT
seconds, and waits end within a second once the server stops (Console.stopping)."""

from __future__ import annotations

import time
from dataclasses import replace

from starlette.responses import JSONResponse, Response

from sanctum_mcp.console.actions import Refused, run
from sanctum_mcp.console.app import PREFIX, SIGN_IN, Ctx
from sanctum_mcp.console.sessions import COOKIE
from sanctum_mcp.console.pages import page

WAIT = 25.0
MAX_WAITS = 4
STATUS = {"forbidden": 403, "invalid_input": 400, "unavailable": 503}


@page(f"{PREFIX}/changes")
async def changes(ctx: Ctx) -> Response:
    raw = ctx.request.query_params.get("after", "")
    if not raw.isdigit() or len(raw) > 18:
        return JSONResponse({"error": "after must be a revision: the whole number in the page's data-revision."},
                            status_code=400)
    after = int(raw)
    session = ctx.session
    assert session is not None
    if session.waits >= MAX_WAITS:
        return JSONResponse({"error": f"this session already follows changes in {MAX_WAITS} requests; close some "
                                      "console tabs."}, status_code=429, headers={"retry-after": "5"})
    session.waits += 1
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not ctx.console.stopping():
            if await ctx.registry.notifier.wait_beyond(after, 1.0) > after:
                break
    finally:
        session.waits -= 1
    # As the users table says now, not as it did before the wait: a user deactivated (or a token
    # revoked, a role lowered) meanwhile is told nothing that changed since.
    caller = await ctx.registry.users.caller_now(session.user_id, session.token_hash)
    if caller is None:
        ctx.console.sessions.end(ctx.request.cookies.get(COOKIE))
        return JSONResponse({"error": "You are not signed in any more; nothing was read. Sign in again."},
                            status_code=401, headers={"hx-redirect": SIGN_IN})
    try:
        found = await run(ctx.registry, replace(caller, serves=ctx.caller.serves), "changes_since", revision=after,
                          limit=100)
    except Refused as exc:
        return JSONResponse({"error": exc.message}, status_code=STATUS.get(exc.kind, 400))
    return JSONResponse({
        "revision": found.up_to,
        "more": found.more,
        "reset": found.reset,
        "changes": [change.model_dump(include={"kind", "action", "key", "scope", "name", "actor"})
                    for change in found.changes],
    }, headers={"cache-control": "no-store"})
