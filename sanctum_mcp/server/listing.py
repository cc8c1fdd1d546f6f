"""What one request may see and call: the server's selection, narrowed by its URL, then by the caller.

- The selection (catalogue/toolsets.py) is chosen by `serve --toolsets/--tools/--read-only` and,
  over HTTP, by the URL (/mcp/x/NAMES, transports/http.py). A call of a tool outside it is refused
  with one message whether or not the tool exists (no probing for what is served elsewhere).
- The caller's role and permissions.tools hide what authorize() would refuse anyway (MCP allows a
  listing to vary by authorization); calling such a tool still gets authorize()'s own refusal.
- Resources and the prompt follow the selection through the tools whose data they show; reading one
  passes the caller's gate (server/resources.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.catalogue.base import may_call_some
from sanctum_mcp.catalogue.toolsets import Selection, UnknownSelection, url_selection
from sanctum_mcp.domain.shared.identity import Caller

# The path parameter of an HTTP URL that names a selection (transports/http.py).
URL_PARAM = "toolsets"

# The tools whose data a resource or the prompt shows (server/resources.py gates reads on the same
# tools). A listing shows an entry only when the endpoint serves every one of them.
RESOURCE_TOOLS: dict[str, tuple[str, ...]] = {
    "sanctum://agents": ("list_agents",),
    "sanctum://agents/{name}": ("get_agent",),
    "sanctum://config/system": ("list_config",),
    "sanctum://config/{scope}/{target}": ("list_config",),
    "sanctum://jobs/due": ("list_jobs", "query_logs"),
    "sanctum://schema": (),
}
PROMPT_TOOLS: dict[str, tuple[str, ...]] = {"configure_sanctum": ("list_config",)}

_MAX_VIEWS = 512  # distinct (version, selection, role, permissions.tools) listings kept


def request_selection(server_selection: Selection, request: Any) -> Selection:
    """The server's selection, narrowed by the HTTP URL the request came to (if it names one)."""
    params = getattr(request, "path_params", None) or {}
    segment = params.get(URL_PARAM)
    if not segment:
        return server_selection
    try:
        return server_selection.narrowed(url_selection(segment))
    except UnknownSelection:  # refused with 404 before it gets here (transports/http.py)
        return Selection(frozenset(), "no tool")


def visible(names: tuple[str, ...], selection: Selection, caller: Caller | None) -> bool:
    """Whether this endpoint serves every tool of names, and (given a caller) the caller may call them."""
    tools = all_tools()
    return all(selection.admits(n) and (caller is None or may_call_some(tools[n], caller)) for n in names)


def listed_tools(selection: Selection, caller: Caller | None) -> frozenset[str]:
    """The names tools/list shows this caller at this endpoint; none to a caller that is gone (its
    user deactivated, its token revoked). server/subscriptions.py compares them to tell a session
    its list changed."""
    if caller is None:
        return frozenset()
    return frozenset(name for name in all_tools() if visible((name,), selection, caller))


def _wire(result: Any) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dict(result)


class ToolListCache:
    """Server middleware: answers tools/list from the wire form built the first time, per protocol
    version, filtered per (selection, role, permissions.tools); refuses calls outside the selection;
    filters the resource, template and prompt listings the same way.

    The SDK validates and serializes the whole catalogue (60 tools with input and output schemas)
    again on every tools/list. Clients such as Letta open a new session for every call, and the SDK
    client lists the tools in each new session before its first call: this answer is on the path of
    every such call. See benchmarks/README.md (P4).
    """

    def __init__(self, selection: Selection, caller_of: Callable[[Any], Caller]) -> None:
        self.selection = selection
        self.caller_of = caller_of
        self._wire: dict[str, dict[str, Any]] = {}  # protocol version -> the whole listing
        self._views: dict[tuple[Any, ...], dict[str, Any]] = {}

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        method = ctx.method
        if method == "tools/list" and not (ctx.params and ctx.params.get("cursor")):
            return await self._tools(ctx, call_next)
        if method == "tools/call":
            name = (ctx.params or {}).get("name")
            selection = request_selection(self.selection, ctx.request)
            if isinstance(name, str) and not selection.admits(name):
                return CallToolResult(content=[TextContent(type="text", text=selection.refusal(name))], is_error=True)
        elif method in ("resources/list", "resources/templates/list", "prompts/list"):
            return self._filtered(ctx, method, _wire(await call_next(ctx)))
        return await call_next(ctx)

    async def _tools(self, ctx: Any, call_next: Any) -> Any:
        version = ctx.protocol_version
        whole = self._wire.get(version)
        if whole is None:
            whole = self._wire[version] = _wire(await call_next(ctx))
        selection = request_selection(self.selection, ctx.request)
        caller = self.caller_of(ctx)
        allowed = caller.permissions.tools if caller.permissions is not None else None
        key = (version, selection.names, caller.role, allowed)
        view = self._views.get(key)
        if view is None:
            if len(self._views) >= _MAX_VIEWS:
                self._views.clear()
            shown = listed_tools(selection, caller)
            view = self._views[key] = {**whole, "tools": [t for t in whole["tools"] if t["name"] in shown]}
        return view

    def _filtered(self, ctx: Any, method: str, result: dict[str, Any]) -> dict[str, Any]:
        # By the selection only: reading one is gated per caller (server/resources.py), and the
        # listing of resources shows what the endpoint offers, as before per-caller tool listings.
        selection = request_selection(self.selection, ctx.request)
        if method == "prompts/list":
            field, key, needs = "prompts", "name", PROMPT_TOOLS
        else:
            field = "resourceTemplates" if method == "resources/templates/list" else "resources"
            key, needs = ("uriTemplate" if field == "resourceTemplates" else "uri"), RESOURCE_TOOLS
        entries = result.get(field, [])
        return {**result, field: [e for e in entries if visible(needs.get(e[key], ()), selection, None)]}
