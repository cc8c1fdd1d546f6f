"""Sign-in (an API token pasted once, or a one-time link from `sanctum-mcp console link`) and
sign-out. The sign-in forms come before any session, so their CSRF value is a double submit: a
cookie set with the form and the same value in a hidden field (console/sessions.py PRE_COOKIE)."""

from __future__ import annotations

import logging
import secrets

import anyio
from starlette.responses import RedirectResponse, Response

from sanctum_mcp.console import links
from sanctum_mcp.console.app import PREFIX, SIGN_IN, Ctx, refusal
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.sessions import COOKIE, LIFETIME, PRE_COOKIE, same
from sanctum_mcp.domain.users.tokens import hash_token

log = logging.getLogger("sanctum_mcp.console")

NOT_ACCEPTED = ("That token was not accepted: it is unknown or revoked, or its user is deactivated. Paste a "
                "token exactly as it was shown once (it starts with sanctum_), or ask an admin for a new one "
                "(sanctum-mcp user token NAME).")
LINK_NOT_ACCEPTED = ("This sign-in link is not valid any more: links work once, for 5 minutes. Print a new one "
                     "with `sanctum-mcp console link` on the server's machine, or sign in with an API token.")


def _secure(ctx: Ctx) -> bool:
    """Mark cookies Secure when the browser reached us over HTTPS: a TLS proxy in front says so with
    X-Forwarded-Proto, which uvicorn believes from loopback only. Plain HTTP on loopback (the
    default) cannot carry a Secure cookie, so there it stays off."""
    return ctx.request.url.scheme == "https"


def _with_pre_cookie(ctx: Ctx, template: str, status: int = 200, **context: object) -> Response:
    value = secrets.token_urlsafe(24)
    response = ctx.page(template, status=status, pre=value, **context)
    response.set_cookie(PRE_COOKIE, value, max_age=600, path=PREFIX, httponly=True, samesite="strict",
                        secure=_secure(ctx))
    return response


async def _pre_checked(ctx: Ctx) -> Response | None:
    form = await ctx.form()
    if not same(form.get("pre"), ctx.request.cookies.get(PRE_COOKIE)):
        return refusal(ctx, 403, "Refused: this sign-in form was not sent by this console's sign-in page (or it "
                                 "is too old). Reload the sign-in page and try again.")
    return None


def _signed_in(ctx: Ctx, user_id: int, username: str, token_hash: str | None) -> Response:
    value, _session = ctx.console.sessions.start(user_id, username, token_hash)
    log.info("console: %r signed in (%s)", username, "API token" if token_hash else "one-time link")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, value, max_age=int(LIFETIME), path="/", httponly=True, samesite="strict",
                        secure=_secure(ctx))
    response.delete_cookie(PRE_COOKIE, path=PREFIX)
    return response


@page(SIGN_IN, public=True)
async def sign_in_form(ctx: Ctx) -> Response:
    return _with_pre_cookie(ctx, "signin.html")


@page(SIGN_IN, methods=("POST",), public=True)
async def sign_in(ctx: Ctx) -> Response:
    refused = await _pre_checked(ctx)
    if refused:
        return refused
    token = (await ctx.form()).get("token")
    token = token.strip() if isinstance(token, str) else ""
    found = await ctx.registry.users.authenticate(token) if 0 < len(token) <= 200 else None
    if found is None:
        return _with_pre_cookie(ctx, "signin.html", status=401, error=NOT_ACCEPTED)
    caller, _token_id = found
    await ctx.registry.users.touch_login(caller)
    return _signed_in(ctx, caller.user_id, caller.username, hash_token(token))


@page(links.PATH, public=True)
async def link_form(ctx: Ctx) -> Response:
    # A GET only shows the button: the link is used by the POST, so that a link preview or prefetch
    # does not spend it.
    return _with_pre_cookie(ctx, "link.html", secret=ctx.request.query_params.get("t", "")[:100])


@page(links.PATH, methods=("POST",), public=True)
async def link_sign_in(ctx: Ctx) -> Response:
    refused = await _pre_checked(ctx)
    if refused:
        return refused
    secret = (await ctx.form()).get("t")
    user_id = await anyio.to_thread.run_sync(links.use_link, ctx.console.db_path, secret if isinstance(secret, str) else "")
    caller = await ctx.registry.users.caller_now(user_id) if user_id is not None else None
    if caller is None:
        return _with_pre_cookie(ctx, "signin.html", status=401, error=LINK_NOT_ACCEPTED)
    await ctx.registry.users.touch_login(caller)
    return _signed_in(ctx, caller.user_id, caller.username, None)


@page(f"{PREFIX}/signout", methods=("POST",))
async def sign_out(ctx: Ctx) -> Response:
    ctx.console.sessions.end(ctx.request.cookies.get(COOKIE))
    response = RedirectResponse(SIGN_IN, status_code=303)
    if ctx.htmx:
        response = Response(status_code=204, headers={"hx-redirect": SIGN_IN})
    response.delete_cookie(COOKIE, path="/")
    return response
