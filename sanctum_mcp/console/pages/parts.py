"""What the pages after System Settings share (not a page: not in pages._MODULES).

Their pattern: a page's list lives in a fragment that reloads itself on the `changed` event; an
action (a POST) answers with a message for #result and triggers `changed`, or with the tool's own
refusal (its status code: 403 for a role or permissions.agents refusal, 422 for bad input, ...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, run
from sanctum_mcp.console.app import Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.settings import STATUS

Context = Callable[[Ctx], Awaitable[dict[str, Any]]]


def listed_page(path: str, nav: str, name: str, context: Context) -> None:
    """Register a page whose list reloads itself: `path` shows templates/pages/NAME.html, and
    `path`/list the list alone (pages/NAME_list.html, fetched on `changed`), both from `context`."""

    async def whole(ctx: Ctx) -> Response:
        return ctx.page(f"pages/{name}.html", **await context(ctx))

    async def listing(ctx: Ctx) -> Response:
        return ctx.page(f"pages/{name}_list.html", **await context(ctx))

    page(path, nav=nav)(whole)
    page(f"{path}/list")(listing)


async def one_page(ctx: Ctx, tool: str, items: str, per_page: int, context: dict[str, Any]) -> Any | None:
    """The page of listing tool `tool` that the URL's ?cursor= names, into `context`: `items` (the
    result's field of that name), `next_cursor`, `cursor`, or `error` (the tool's refusal, in which
    case None is returned instead of the result)."""
    cursor = ctx.request.query_params.get("cursor")
    context.update({items: [], "error": None, "next_cursor": None, "cursor": cursor})
    try:
        listed = await act(ctx, tool, limit=per_page, **({"cursor": cursor[:500]} if cursor else {}))
    except Refused as exc:
        context["error"] = exc.message
        return None
    context[items], context["next_cursor"] = getattr(listed, items), listed.next_cursor
    return listed


def refused(ctx: Ctx, exc: Refused) -> Response:
    """The tool's refusal in the console's place for it: a fragment for htmx, else a page."""
    template = "fragments/message.html" if ctx.htmx else "refused.html"
    return ctx.page(template, status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")


def done(ctx: Ctx, message: str, template: str = "fragments/message.html", **context: Any) -> Response:
    """An action's success: its message in #result, and the page's lists reload (`changed`)."""
    response = ctx.page(template, message=message, kind="ok", **context)
    response.headers["hx-trigger"] = "changed"
    return response


async def act(ctx: Ctx, tool: str, /, **arguments: Any) -> Any:
    """Run a tool as the signed-in caller (console/actions.run); raises Refused."""
    return await run(ctx.registry, ctx.caller, tool, **arguments)


def text(form: FormData, name: str, *, default: str | None = None) -> str | None:
    """A form field as text (absent or empty = default); a file upload is not text."""
    value = form.get(name)
    return value if isinstance(value, str) and value != "" else default


def number(form: FormData, name: str, tool: str) -> int:
    """A whole-number field, or the tool's kind of refusal saying which field."""
    value = form.get(name)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    raise Refused(tool, "invalid_input", f"{name} must be a whole number (this form is incomplete: reload the page "
                                         "and try again). Nothing was changed.")


def flag(form: FormData, name: str) -> bool:
    return form.get(name) in ("true", "on", "1")
