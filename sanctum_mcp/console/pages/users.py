"""Users and tokens (the tools are the admin's: anyone else sees list_users' refusal): the users
with their tokens (never the token text: only its id, name and dates exist after creation), create
a user, a new token shown once in the answer to its POST (never stored, never shown again: the page
and its lists do not have it), revoke a token, deactivate a user."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, may
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act, done, listed_page, number, one_page, refused, text

PATH = f"{PREFIX}/users"
PER_PAGE = 100
ROLES = ("viewer", "user", "admin")


async def _context(ctx: Ctx) -> dict[str, Any]:
    context: dict[str, Any] = {"roles": ROLES,
                               "can_create": may(ctx.caller, "create_user"),
                               "can_token": may(ctx.caller, "create_api_token"),
                               "can_revoke": may(ctx.caller, "revoke_api_token"),
                               "can_deactivate": may(ctx.caller, "deactivate_user")}
    await one_page(ctx, "list_users", "users", PER_PAGE, context)
    return context


listed_page(PATH, "Users", "users", _context)


@page(f"{PATH}/create", methods=("POST",))
async def create(ctx: Ctx) -> Response:
    form = await ctx.form()
    try:
        user = await act(ctx, "create_user", username=text(form, "username", default="") or "",
                         role=text(form, "role", default="viewer"),
                         **({"email": email} if (email := text(form, "email")) else {}))
    except Refused as exc:
        return refused(ctx, exc)
    return done(ctx, f"{user.username} created ({user.role}). Give them a token with New token.")


@page(f"{PATH}/token", methods=("POST",))
async def token(ctx: Ctx) -> Response:
    form = await ctx.form()
    try:
        new = await act(ctx, "create_api_token", user=text(form, "user", default="") or "",
                        **({"name": name} if (name := text(form, "name")) else {}))
    except Refused as exc:
        return refused(ctx, exc)
    return done(ctx, f"New token for {new.username}", template="pages/users_token.html", new=new)


@page(f"{PATH}/revoke", methods=("POST",))
async def revoke(ctx: Ctx) -> Response:
    try:
        result = await act(ctx, "revoke_api_token", token_id=number(await ctx.form(), "token_id", "revoke_api_token"))
    except Refused as exc:
        return refused(ctx, exc)
    if result.already_revoked:
        return done(ctx, f"Token {result.token.id} of {result.username} was already revoked; nothing changed.")
    return done(ctx, f"Token {result.token.id} of {result.username} revoked: it no longer signs anyone in.")


@page(f"{PATH}/deactivate", methods=("POST",))
async def deactivate(ctx: Ctx) -> Response:
    try:
        result = await act(ctx, "deactivate_user", user=text(await ctx.form(), "user", default="") or "")
    except Refused as exc:
        return refused(ctx, exc)
    revoked = len(result.revoked_token_ids)
    return done(ctx, f"{result.user.username} deactivated; {revoked} token{'s' if revoked != 1 else ''} revoked.")
