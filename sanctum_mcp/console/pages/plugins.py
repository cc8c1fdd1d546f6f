"""Plugins: the list, one plugin's dependency tree and dependents (get_plugin), and enable/disable
with the cascade shown first: "Disable…" lists the enabled plugins that depend on it (they would be
disabled too, disable_plugin cascade=true), "Enable…" the disabled dependencies (enabled first,
enable_plugin chain=true). The confirmation carries the list it showed; if the cascade changed
since, it is shown again instead of acting on more than the person saw."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, may
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act, done, flag, listed_page, refused, text
from sanctum_mcp.domain.plugins.models import DependencyNode, DependentNode, PluginDetail

PATH = f"{PREFIX}/plugins"
LISTED = 200


def _dependents(nodes: list[DependentNode], found: list[str]) -> list[str]:
    for node in nodes:
        if node.enabled and not node.cycle and node.name not in found:
            found.append(node.name)
        _dependents(node.dependents, found)
    return found


def _dependencies(nodes: list[DependencyNode], off: list[str], blocking: list[str]) -> None:
    for node in nodes:
        if node.cycle:
            continue
        _dependencies(node.dependencies, off, blocking)  # deepest first, as chain=true enables them
        if not node.registered or not node.satisfied:
            blocking.append(node.name)
        elif not node.enabled and node.name not in off:
            off.append(node.name)


def cascade(detail: PluginDetail, action: str) -> tuple[list[str], list[str]]:
    """(the other plugins the action changes too, the missing or wrong-version dependencies that
    block an enable)."""
    if action == "disable":
        return _dependents(detail.dependents, []), []
    off: list[str] = []
    blocking: list[str] = []
    _dependencies(detail.dependency_tree, off, blocking)
    return off, blocking


async def _context(ctx: Ctx) -> dict[str, Any]:
    context: dict[str, Any] = {"plugins": [], "error": None, "detail": None, "detail_error": None}
    try:
        context["plugins"] = (await act(ctx, "list_plugins", limit=LISTED)).plugins
    except Refused as exc:
        context["error"] = exc.message
    name = ctx.request.query_params.get("plugin")
    if name:
        try:
            context["detail"] = await act(ctx, "get_plugin", plugin=name[:200])
        except Refused as exc:
            context["detail_error"] = exc.message
    context["can_enable"] = may(ctx.caller, "enable_plugin")
    context["can_disable"] = may(ctx.caller, "disable_plugin")
    return context


listed_page(PATH, "Plugins", "plugins", _context)


async def _preview(ctx: Ctx, name: str, action: str, *, note: str | None = None, status: int = 200) -> Response:
    try:
        detail = await act(ctx, "get_plugin", plugin=name)
    except Refused as exc:
        return refused(ctx, exc)
    others, blocking = cascade(detail, action)
    return ctx.page("pages/plugins_cascade.html", status=status, plugin=detail, action=action, others=others,
                    blocking=blocking, note=note)


@page(f"{PATH}/cascade")
async def preview(ctx: Ctx) -> Response:
    action = ctx.request.query_params.get("action")
    return await _preview(ctx, (ctx.request.query_params.get("plugin") or "")[:200],
                          "enable" if action == "enable" else "disable")


async def _change(ctx: Ctx, action: str) -> Response:
    form = await ctx.form()
    name = text(form, "plugin", default="") or ""
    shown = [n for n in (text(form, "shown", default="") or "").split(",") if n]
    tool = f"{action}_plugin"
    try:
        others, _blocking = cascade(await act(ctx, "get_plugin", plugin=name), action)
        if sorted(others) != sorted(shown):
            return await _preview(ctx, name, action, status=409, note="The plugins this changes are not the ones "
                                  "shown any more (someone changed them meanwhile). Nothing was changed; check "
                                  "the list again.")
        wide = flag(form, "cascade" if action == "disable" else "chain")
        change = await act(ctx, tool, plugin=name, **({"cascade": wide} if action == "disable" else {"chain": wide}))
    except Refused as exc:
        return refused(ctx, exc)
    also = change.also_disabled if action == "disable" else change.also_enabled
    if not change.changed and not also:
        return done(ctx, f"{change.plugin.name} was already {action}d; nothing changed.")
    return done(ctx, f"{change.plugin.name} {action}d" + (f"; also {action}d: {', '.join(also)}." if also else "."))


@page(f"{PATH}/disable", methods=("POST",))
async def disable(ctx: Ctx) -> Response:
    return await _change(ctx, "disable")


@page(f"{PATH}/enable", methods=("POST",))
async def enable(ctx: Ctx) -> Response:
    return await _change(ctx, "enable")
