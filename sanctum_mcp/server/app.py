"""Build the MCPServer from the tool catalogue, resources and prompts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.tools.tool_manager import ToolManager
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from sanctum_mcp import __version__
from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.catalogue.base import Call, ToolSpec, describe_validation_error
from sanctum_mcp.catalogue.toolsets import Selection, select
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR, Caller
from sanctum_mcp.server.completions import register_completions
from sanctum_mcp.server.confirm import run_confirming
from sanctum_mcp.server.errors import to_tool_error
from sanctum_mcp.server.listing import ToolListCache, request_selection
from sanctum_mcp.server.log_level import register_log_level
from sanctum_mcp.server.resources import READING, register_prompts, register_resources
from sanctum_mcp.server.subscriptions import Followers, StreamBus

Identify = Callable[[Context], Caller]
log = logging.getLogger("sanctum_mcp.calls")

INSTRUCTIONS = """\
sanctum-mcp is the Sanctum registry: the agents (Athena, Monday, Timbre, ...), their tools and tool
instances, layered configuration (system -> agent -> tool -> instance), plugins, scheduled jobs,
Letta connections, logs, backups and users of one Sanctum host. Read with list_*/get_* tools and the
sanctum:// resources; change things with the create_/update_/set_ tools. Secrets are always masked.
Every error says what to do next."""


def published_hints(spec: ToolSpec) -> ToolAnnotations:
    """The tool's four hints, written only where they differ from MCP's defaults (readOnlyHint false,
    destructiveHint true, idempotentHint false, openWorldHint true) and, as the spec says the
    destructive and idempotent hints mean nothing for a read-only tool, not at all there. A client
    reads exactly the catalogue's hints back; the listing is ~3 KB smaller (issue 16's budget)."""
    if spec.read_only:
        return ToolAnnotations(read_only_hint=True, open_world_hint=None if spec.open_world else False)
    return ToolAnnotations(
        destructive_hint=None if spec.destructive else False,
        idempotent_hint=True if spec.idempotent else None,
        open_world_hint=None if spec.open_world else False,
    )


def local_operator(_ctx: Context) -> Caller:
    """The fallback identity (an admin with no users row); serving paths use the registry's operator."""
    return LOCAL_OPERATOR


class CatalogueTool(Tool):
    """An MCPServer tool backed by a catalogue entry.

    `run` is overridden so that argument errors are described without echoing the rejected
    values (which may be secrets), and every failure passes through `to_tool_error`.
    """

    spec: Any = Field(default=None, exclude=True)
    registry: Any = Field(default=None, exclude=True)
    identify: Any = Field(default=None, exclude=True)

    async def run(self, arguments: dict[str, Any], context: Context, convert_result: bool = False) -> Any:
        spec: ToolSpec = self.spec
        try:
            args = spec.input.model_validate(self.fn_metadata.pre_parse_json(arguments))
        except ValidationError as exc:
            raise ToolError(describe_validation_error(spec.name, exc)) from None
        call: Call | None = None
        try:
            call = Call(self.registry, self.identify(context), progress=context.report_progress)
            result = await run_confirming(spec, call, args, context)
        except Exception as exc:
            error = to_tool_error(spec.name, exc)
            log.debug("%s by %s: refused or failed", spec.name, call.caller.username if call else "?")
            raise error from None
        # -v detail: which tool ran for whom, never its arguments or result (they may hold secrets).
        log.debug("%s by %s: ok", spec.name, call.caller.username)
        if not convert_result:
            return result
        if isinstance(result, spec.output):
            # The result as compact JSON text: a model reading it (Letta, Claude) pays for every
            # character, and the SDK's indent=2 adds about a third. structuredContent is the same
            # object, as the SDK would publish it.
            return CallToolResult(
                content=[TextContent(type="text", text=result.model_dump_json(by_alias=True))],
                structured_content=result.model_dump(mode="json", by_alias=True),
            )
        return self.fn_metadata.convert_result(result)


def _mcp_tool(spec: ToolSpec, registry: Registry, identify: Identify) -> Tool:
    arg_model = type(f"{spec.input.__name__}Arguments", (spec.input, ArgModelBase), {"__module__": __name__})
    return CatalogueTool(
        fn=spec.handler,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=spec.input_schema,
        fn_metadata=FuncMetadata(arg_model=arg_model, output_model=spec.output, output_schema=spec.output_schema),
        is_async=True,
        context_kwarg=None,
        # No annotations.title: the tool's own title says it (MCP shows title first); said once, every
        # listing is ~1.5 KB smaller.
        annotations=published_hints(spec),
        spec=spec,
        registry=registry,
        identify=identify,
    )


class SanctumServer(MCPServer):
    """The MCPServer of sanctum-mcp: its tool catalogue is built on first use.

    Building the catalogue (importing every catalogue module and generating ~90 JSON schemas with
    pydantic) takes about 0.3 s, a third more than the SDK's own start-up; `initialize` needs none
    of it, so a stdio client gets its handshake answered as fast as from a bare MCPServer, and the
    first tools/list or tools/call builds it (benchmarks/README.md, P3). The HTTP transport calls
    load_catalogue() before serving, so that no client pays for it.
    """

    def __init__(self, build_tools: Callable[[], list[Tool]], selection: Selection, **options: Any) -> None:
        super().__init__(**options)
        self._build_tools: Callable[[], list[Tool]] | None = build_tools
        self.selection = selection  # what this server publishes (server/listing.py narrows it per request)
        self.followers: Followers | None = None  # resource subscriptions (server/subscriptions.py)

    @property
    def catalogue_loaded(self) -> bool:
        return self._build_tools is None

    def load_catalogue(self) -> None:
        if self._build_tools is None:
            return
        build, self._build_tools = self._build_tools, None
        # The SDK offers no public way to register an already-built Tool after construction: a new
        # ToolManager holding the catalogue replaces the empty one (it holds nothing else).
        self._tool_manager = ToolManager(self.settings.warn_on_duplicate_tools, tools=build())

    def add_request_handler(self, method: str, params_type: type, handler: Callable[..., Any]) -> None:
        """Serve a protocol method MCPServer has no decorator for, with the request's context (its
        completion decorator hides the context, and so the caller: server/completions.py)."""
        self._lowlevel_server.add_request_handler(method, params_type, handler)

    async def list_tools(self) -> list[Any]:
        self.load_catalogue()
        return await super().list_tools()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        self.load_catalogue()
        return await super().call_tool(name, arguments, context)

    async def read_resource(self, uri: Any, context: Context | None = None) -> Any:
        token = READING.set(context)  # for the static resources' gate (see server/resources.py)
        try:
            return await super().read_resource(uri, context)
        finally:
            READING.reset(token)


def _served_by(identify: Identify, chosen: Selection) -> Identify:
    """identify, the caller marked with what this request's endpoint serves (serve's selection,
    narrowed by its URL), so that what shows other tools' data (changes_since's kinds) leaves out
    the tools the endpoint does not serve."""

    def identify_served(ctx: Context | None) -> Caller:
        caller = identify(ctx)
        try:
            request = ctx.request_context.request if ctx is not None else None
        except ValueError:  # a Context outside any request: the server's own selection
            request = None
        served = request_selection(chosen, request)
        return caller if served.names is None else replace(caller, serves=served)

    return identify_served


def build_server(registry: Registry, *, identify: Identify | None = None, selection: Selection | None = None,
                 **server_options: Any) -> SanctumServer:
    """One MCPServer over an already-open registry (the registry outlives every MCP session).

    selection (catalogue/toolsets.py): the tools it publishes and serves; every tool by default.

    identify(ctx) says who is calling: by default the registry's local operator (stdio, CLI);
    the HTTP transport passes one that reads the verified bearer token (server/auth.py).
    """
    if identify is None:
        def identify(_ctx: Context) -> Caller:
            return registry.users.operator_now()

    chosen = selection if selection is not None else select()
    identify = _served_by(identify, chosen)

    def build_tools() -> list[Tool]:
        return [_mcp_tool(spec, registry, identify) for spec in all_tools().values() if chosen.admits(spec.name)]

    def caller_of(request_context: Any) -> Caller:
        return identify(Context(request_context=request_context, mcp_server=server))

    server = SanctumServer(
        build_tools,
        chosen,
        name="sanctum-mcp",
        title="Sanctum registry",
        version=__version__,
        instructions=INSTRUCTIONS,
        middleware=[ToolListCache(chosen, caller_of)],
        subscriptions=StreamBus(),  # listen streams, with delivery to one of them (server/subscriptions.py)
        **server_options,
    )
    register_resources(server, registry, identify)
    register_prompts(server, registry, identify)
    register_completions(server, registry, identify)
    register_log_level(server)
    server.followers = Followers(server, registry, identify)
    server.followers.register()
    return server
