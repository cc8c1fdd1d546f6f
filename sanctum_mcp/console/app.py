"""The console's routes, and the checks every one of them passes before a page runs.

Order of checks for every console request (`Console.endpoint`):
1. Host: a name this server answers to (transports/hosts.py, the same list as /mcp), else 421;
2. for a POST: Origin, when sent, must be this server's, and Sec-Fetch-Site must not be
   cross-site, else 403 (a page of another site never acts, whatever the network trusts);
3. the session cookie (sessions.py), unless the page is public: none or expired sends a browser to
   the sign-in page (a fragment request gets 401);
4. for a POST: the session's CSRF token, in the X-CSRF-Token header (htmx) or the `csrf` field.

The console never uses the MCP routes' caller: neither a bearer token nor --trust-loopback signs a
browser in. Only its own cookie does, obtained with an API token or a one-time link.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from sanctum_mcp.console.render import STATIC, render
from sanctum_mcp.console.sessions import COOKIE, Session, SessionStore, same
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller, Served
from sanctum_mcp.server.lograte import RateLimitedLog
from sanctum_mcp.transports.hosts import host_allowed, origin_allowed

log = logging.getLogger("sanctum_mcp.console")

PREFIX = "/console"
SIGN_IN = f"{PREFIX}/signin"
MAX_FORM_FIELDS = 4000  # about 1,300 settings at 3 fields each; more is refused while parsing
MAX_FORM_BYTES = 1024 * 1024

# On every console response: no framing (clickjacking), no inline or foreign script, a Referer only
# to this server (a sign-in link's secret never leaves; "no-referrer" would make Chromium send
# `Origin: null` on the console's own form posts), never cached.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def is_console_path(path: str) -> bool:
    """The paths the console answers itself (RequireCaller lets them through without a bearer token)."""
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


@dataclass
class Ctx:
    """What a page handler gets: the request, and (for a signed-in page) the session and the caller
    as the users table says now."""

    console: Console
    request: Request
    session: Session | None = None
    caller: Caller | None = None
    # The change feed's revision read before a full page's data (pages/live.py follows from it).
    revision: int | None = None

    @property
    def registry(self) -> Registry:
        return self.console.registry

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        return render(self, template, status=status, **context)

    async def form(self) -> Any:
        return await self.request.form(max_files=0, max_fields=MAX_FORM_FIELDS)


Handler = Callable[[Ctx], Awaitable[Response]]


class Console:
    def __init__(self, registry: Registry, security: TransportSecuritySettings, *, db_path: Path | None = None,
                 sessions: SessionStore | None = None, selection: Served | None = None) -> None:
        self.registry = registry
        # What `serve --toolsets/--tools/--read-only` chose: the console, on the same port, runs no
        # other tool either (set on each caller: authorize refuses, actions.may hides the controls).
        self.selection = selection
        self.security = security
        self.db_path = Path(db_path) if db_path is not None else registry.db.path
        self.sessions = sessions or SessionStore()
        # Any page on the web can make a browser send these refusals, one per request: each WARNING
        # is also a row in the logs table, so at most one a minute per reason (server/lograte.py).
        self.warnings = RateLimitedLog(log.warning)
        # Whether the server is shutting down (set by serve_http): long waits end early then.
        self.stopping: Callable[[], bool] = lambda: False

    def routes(self) -> list[BaseRoute]:
        from sanctum_mcp.console.pages import PAGES

        routes: list[BaseRoute] = [
            Route(page.path, self.endpoint(page.handler, public=page.public), methods=list(page.methods))
            for page in PAGES
        ]
        routes.append(Mount(f"{PREFIX}/static", app=HostChecked(StaticFiles(directory=STATIC), self.security),
                            name="static"))
        return routes

    def endpoint(self, handler: Handler, *, public: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = await self._guarded(handler, request, public=public)
            response.headers.update(SECURITY_HEADERS)
            return response

        return endpoint

    async def _guarded(self, handler: Handler, request: Request, *, public: bool) -> Response:
        ctx = Ctx(self, request)
        if not host_allowed(self.security, request.headers.get("host")):
            return refusal(ctx, 421, "This address is not one this server answers to (Host header refused: a "
                                     "page of another site may have renamed this machine). Open the console at "
                                     "the address the server was started with, e.g. http://127.0.0.1:PORT/.")
        posting = request.method == "POST"
        if posting:
            problem = self._cross_site(request)
            if problem:
                self.warnings.emit("cross-site", "console: refused a POST to %r from another site (%s)",
                                   request.url.path[:100], problem)
                return refusal(ctx, 403, f"Refused: this request came from another site ({problem}). Nothing was "
                                         "changed. Use the console's own pages.")
            # A browser states a form's length; a body without one (chunked) could be any size.
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return refusal(ctx, 411, "Refused: a console form states its length (Content-Length). Nothing was "
                                         "changed.")
            if int(length) > MAX_FORM_BYTES:
                return refusal(ctx, 413, "This form is too large to be one of the console's. Nothing was changed.")
        if not public:
            ctx.session = self.sessions.get(request.cookies.get(COOKIE))
            if ctx.session is not None:
                ctx.caller = await self.registry.users.caller_now(ctx.session.user_id, ctx.session.token_hash)
                if ctx.caller is None:  # deactivated, removed, or its token revoked: the session ends
                    self.sessions.end(request.cookies.get(COOKIE))
                    ctx.session = None
                elif self.selection is not None:
                    ctx.caller = replace(ctx.caller, serves=self.selection)
            if ctx.session is None:
                if ctx.htmx or posting:
                    response = refusal(ctx, 401, "You are not signed in (or your session expired). Sign in again; "
                                                 "nothing was changed.")
                    response.headers["hx-redirect"] = SIGN_IN
                    return response
                return RedirectResponse(SIGN_IN, status_code=303)
            if posting:
                sent = request.headers.get("x-csrf-token")
                if sent is None:
                    sent = (await ctx.form()).get("csrf")
                if not same(sent if isinstance(sent, str) else None, ctx.session.csrf):
                    self.warnings.emit("csrf", "console: refused a POST to %r without this session's CSRF token",
                                       request.url.path[:100])
                    return refusal(ctx, 403, "Refused: this form did not carry the console's CSRF token (it was not "
                                             "sent by a console page, or the page is from an earlier session). "
                                             "Nothing was changed. Reload the page and try again.")
            elif not ctx.htmx:
                # Before the page reads anything: a change committed while it renders is followed too.
                ctx.revision = await self.registry.notifier.current()
        return await handler(ctx)

    def _cross_site(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None and not origin_allowed(self.security, origin):
            return f"Origin {origin[:100]!r}"
        if request.headers.get("sec-fetch-site") == "cross-site":
            return "Sec-Fetch-Site: cross-site"
        return None


def refusal(ctx: Ctx, status: int, message: str) -> Response:
    """A refused request, in the console's words: a fragment for htmx, else a page."""
    template = "fragments/message.html" if ctx.htmx else "refused.html"
    response = render(ctx, template, status=status, message=message, kind="error")
    response.headers.update(SECURITY_HEADERS)
    return response


class HostChecked:
    """The Host check for a mounted app (the static files): 421 for a name that is not this server's."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app, self.security = app, security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = next((value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"host"), None)
        if scope["type"] == "http" and not host_allowed(self.security, host):
            await Response("Invalid Host header", status_code=421)(scope, receive, send)
            return
        await self.app(scope, receive, send)
