"""completion/complete: values for the prompt's and the resource templates' arguments, so that
clients (Claude Desktop, the MCP Inspector) can offer them while a person fills them in.

OFFERS says what each (reference, argument) completes to, and which tool's data the resource or
prompt shows (server/resources.py gates each on that tool): an endpoint that does not serve that
tool (server/listing.py), or a caller whose role or permissions.tools rules it out, is offered nothing (catalogue/base.py:may_call_some, which
audits nothing: a completion is no attempt). The config template's target depends on the scope
already chosen (the request's context.arguments). What is offered, and to whom, is decided in
domain/completions.py. A reference or argument not listed here (an unknown prompt or template) gets
no values rather than an error, as the SDK's own completion handler answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context
from mcp_types import CompleteRequestParams, CompleteResult, Completion, PromptReference

from sanctum_mcp.catalogue import find_tool
from sanctum_mcp.catalogue.base import may_call_some
from sanctum_mcp.domain.completions import NOTHING, TARGET_SCOPES, Offer, Suggestions, suggest
from sanctum_mcp.server.errors import to_protocol_error
from sanctum_mcp.server.listing import request_selection

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.context import ServerRequestContext

    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.identity import Caller
    from sanctum_mcp.server.app import SanctumServer

# ("prompt" | "template", prompt name or URI template, argument) -> (what it completes to, the tool
# whose data it shows); "target" means: what the scope in the request's context names.
OFFERS: dict[tuple[str, str, str], tuple[Offer | str, str]] = {
    ("prompt", "configure_sanctum", "agent"): ("agent", "list_config"),
    ("template", "sanctum://agents/{name}", "name"): ("agent", "get_agent"),
    ("template", "sanctum://config/{scope}/{target}", "scope"): ("scope", "list_config"),
    ("template", "sanctum://config/{scope}/{target}", "target"): ("target", "list_config"),
}


def register_completions(server: SanctumServer, registry: Registry, identify: Callable[[Context], Caller]) -> None:
    async def complete(ctx: ServerRequestContext, params: CompleteRequestParams) -> CompleteResult:
        ref = params.ref
        key = ("prompt", ref.name) if isinstance(ref, PromptReference) else ("template", ref.uri)
        offer, tool = OFFERS.get((*key, params.argument.name), (None, None))
        if offer == "target":
            chosen = (params.context.arguments or {}).get("scope") if params.context else None
            offer = chosen if chosen in TARGET_SCOPES else None
        found: Suggestions = NOTHING
        if offer is not None:
            try:
                caller = identify(Context(request_context=ctx, mcp_server=server))
                served = request_selection(server.selection, ctx.request).admits(tool)
                if served and may_call_some(find_tool(tool), caller):
                    found = await suggest(registry, caller, offer, params.argument.value)
            except Exception as exc:
                raise to_protocol_error("completion/complete", exc) from None
        return CompleteResult(completion=Completion(values=found.values, total=found.total, has_more=found.has_more))

    server.add_request_handler("completion/complete", CompleteRequestParams, complete)
