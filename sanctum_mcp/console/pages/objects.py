"""Agent, tool and instance settings: for one object, every key's effective value with get_config's
explanation (where the value comes from, what it overrides), an override at the object's own level
(set_config) and a reset to the inherited value (delete_config at that level).

The keys shown: the system settings, and any key stored at the object's own level. Each row is
resolved with get_config for that object (an instance brings its tool and agent), so the
explanation is the tool's own words; a secret stays masked (the override input is empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, reaches
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act, done, refused, text
from sanctum_mcp.domain.config.models import ConfigEntry, ResolvedConfig

PATH = f"{PREFIX}/objects"
KINDS = ("agent", "tool", "instance")
LISTED = 200  # objects listed per kind; a registry with more shows the first 200 (pick one by URL)


@dataclass
class Row:
    key: str
    resolved: ResolvedConfig | None
    problem: str | None
    here: ConfigEntry | None  # the value stored at this object's own level, if any
    can_override: bool
    can_reset: bool


def _selected(ctx: Ctx) -> tuple[str, str] | None:
    for kind in KINDS:
        value = ctx.request.query_params.get(kind)
        if value:
            return kind, value[:200]
    return None


async def _rows(ctx: Ctx, kind: str, target: str) -> list[Row]:
    system = await act(ctx, "list_config", scope="system", limit=500)
    own = await act(ctx, "list_config", scope=kind, target=target, limit=500)
    here = {entry.key: entry for entry in own.entries}
    keys = [e.key for e in system.entries] + [key for key in here if key not in {e.key for e in system.entries}]
    sensitive = {e.key: e.sensitive for e in [*system.entries, *own.entries]}
    rows = []
    for key in keys:
        try:
            resolved, problem = await act(ctx, "get_config", key=key, **{kind: target}), None
        except Refused as exc:
            resolved, problem = None, exc.message
        rows.append(Row(
            key=key, resolved=resolved, problem=problem, here=here.get(key),
            can_override=await reaches(ctx.registry, ctx.caller, "set_config", key=key, scope=kind, target=target,
                                       sensitive=sensitive.get(key) or None),
            can_reset=key in here and await reaches(ctx.registry, ctx.caller, "delete_config", key=key, scope=kind,
                                                    target=target),
        ))
    return rows


async def _context(ctx: Ctx) -> dict[str, Any]:
    selected = _selected(ctx)
    context: dict[str, Any] = {"kind": None, "target": None, "rows": [], "instance": None, "error": None}
    if selected is None:
        return context
    kind, target = selected
    context.update(kind=kind, target=target)
    try:
        if kind == "instance":
            context["instance"] = await act(ctx, "get_tool_instance", instance=target)
        context["rows"] = await _rows(ctx, kind, target)
    except Refused as exc:
        context["error"] = exc.message
    return context


async def _listing(ctx: Ctx, tool: str, attribute: str, **arguments: Any) -> tuple[list[Any], str | None]:
    try:
        return getattr(await act(ctx, tool, limit=LISTED, **arguments), attribute), None
    except Refused as exc:
        return [], exc.message


@page(PATH, nav="Objects")
async def objects(ctx: Ctx) -> Response:
    agents, agents_error = await _listing(ctx, "list_agents", "agents")
    tools, tools_error = await _listing(ctx, "list_tools", "tools")
    instances, instances_error = await _listing(ctx, "list_tool_instances", "instances")
    return ctx.page("pages/objects.html", agents=agents, tools=tools, instances=instances,
                    errors=[e for e in (agents_error, tools_error, instances_error) if e], **await _context(ctx))


@page(f"{PATH}/list")
async def listing(ctx: Ctx) -> Response:
    return ctx.page("pages/objects_rows.html", **await _context(ctx))


def _target(form: Any) -> tuple[str, str, str]:
    key, scope, target = text(form, "key", default=""), text(form, "scope", default=""), text(form, "target", default="")
    return key or "", scope or "", target or ""


@page(f"{PATH}/override", methods=("POST",))
async def override(ctx: Ctx) -> Response:
    form = await ctx.form()
    key, scope, target = _target(form)
    value = form.get("value")
    expected = text(form, "expected_version")
    try:
        change = await act(ctx, "set_config", key=key, value=value if isinstance(value, str) else "", scope=scope,
                           target=target, **({"expected_version": expected} if expected is not None else {}))
    except Refused as exc:
        return refused(ctx, exc)
    return done(ctx, change.message)


@page(f"{PATH}/reset", methods=("POST",))
async def reset(ctx: Ctx) -> Response:
    form = await ctx.form()
    key, scope, target = _target(form)
    expected = text(form, "expected_version")
    try:
        change = await act(ctx, "delete_config", key=key, scope=scope, target=target,
                           **({"expected_version": expected} if expected is not None else {}))
    except Refused as exc:
        return refused(ctx, exc)
    return done(ctx, change.message)
