"""Resource subscriptions: `resources/subscribe` and `resources/unsubscribe` (protocol versions up
to 2025-11-25) and `subscriptions/listen` (2026-07-28), fed by the change feed.

Subscribing passes the gate of reading the resource (server/resources.py:_gate: the endpoint's
selection, the role, permissions.tools and permissions.agents; a refusal is audited), and passes it
again whenever a change touches the subscriber's user (Followers._regate), and names a
topic (domain/feed/topics.py): sanctum://agents/Athena follows agent 3 under any later name. A URI
the server does not serve is accepted and never fires, as the SDK and the conformance suite expect.

Bounded: at most MAX_PER_SESSION URIs per session (legacy) or per listen stream (2026-07-28), at
most MAX_LISTEN_STREAMS streams (MAX_LISTEN_PER_USER of one user), URIs of at most MAX_URI
characters. A session's subscriptions are dropped when it ends (the SDK unwinds the connection's
exit stack).

Tool lists: a caller's tools/list depends on its user's role and permissions.tools (server/listing.py),
which an admin may change while the session lives, or end (deactivating the user, revoking the
session's token). Every live session (2025: noted at its first message after initialize, dropped
with it; 2026-07-28: each listen stream that asks for toolsListChanged) is followed with who it is
(user id and token id, as the tool calls see it; over stdio the local user), its endpoint's
selection and the tool names it would list. At most MAX_TRACKED sessions; beyond that a session is
not told (logged).

`Followers.run` is the one task per process (started by the transport, beside the server) that
waits on the notifier for the next revision, reads which topics the new changes touched, and sends
`notifications/resources/updated` for each subscribed URI whose topic they touched: to a legacy
session on its standalone stream (each session in a task of its own, NOTIFY_TIMEOUT at most), to
2026-07-28 listen streams through the SDK's subscription bus.
For a touched user it computes the tool names each of that user's sessions would list now and
sends `notifications/tools/list_changed` to the sessions whose names differ from the last ones,
and to no other (StreamBus delivers to one listen stream).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import Context
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, ServerEvent, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from sanctum_mcp.domain.config.models import SCOPES
from sanctum_mcp.domain.feed.topics import EVERYTHING, Topic
from sanctum_mcp.domain.shared.errors import Forbidden, InvalidInput, RegistryError
from sanctum_mcp.server.errors import to_protocol_error
from sanctum_mcp.server.listing import listed_tools, request_selection
from sanctum_mcp.server.lograte import RateLimitedLog
from sanctum_mcp.server.resources import _gate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext

    from sanctum_mcp.catalogue.toolsets import Selection
    from sanctum_mcp.domain.registry import Registry
    from sanctum_mcp.domain.shared.identity import Caller
    from sanctum_mcp.server.app import SanctumServer

MAX_PER_SESSION = 100
MAX_LISTEN_STREAMS = 256
MAX_LISTEN_PER_USER = 64  # so that one user (one leaked viewer token) cannot hold them all
MAX_URI = 2_048
MAX_TRACKED = 4_096  # live 2025 sessions whose tool list is followed (2026 listen streams: MAX_LISTEN_STREAMS)
FOLLOW_TIMEOUT = 30.0  # seconds the task waits for a revision in one go (it simply waits again)
RETRY_DELAY = 5.0
NOTIFY_TIMEOUT = 5.0  # a client that does not read its stream is skipped after this long, not waited for

log = logging.getLogger("sanctum_mcp.subscriptions")

_AGENT = re.compile(r"sanctum://agents/([^/]+)")
_CONFIG = re.compile(r"sanctum://config/([^/]+)/([^/]+)")

# The listen stream whose handler is running: StreamBus notes it as the owner of the listener the
# SDK's handler subscribes (synchronously, before its first await).
_STREAM: ContextVar[object | None] = ContextVar("sanctum_listen_stream", default=None)


@dataclass
class _Listing:
    """Whose tool list a session shows (as its tool calls see it), at which endpoint, and the names
    it would list when last computed."""

    user_id: int
    token_id: int | None  # the API token it signed in with; None: stdio's local user, --trust-loopback
    selection: Selection
    names: frozenset[str]


@dataclass
class _Owner:
    """Who subscribed (as the gate saw them) and at which endpoint: when a change touches that user
    (role, permissions, deactivation, a revoked token), their subscriptions pass the gate again."""

    user_id: int
    token_id: int | None
    selection: Selection


class StreamBus:
    """The SDK's in-process subscription bus (as InMemorySubscriptionBus), plus delivery to one listen
    stream: a tool list is its caller's own, and no other caller may learn that it changed."""

    def __init__(self) -> None:
        self._listeners: dict[object, tuple[object | None, Callable[[ServerEvent], None]]] = {}

    async def publish(self, event: ServerEvent) -> None:
        await self._publish(event, None)

    async def publish_to(self, stream: object, event: ServerEvent) -> None:
        await self._publish(event, stream)

    async def _publish(self, event: ServerEvent, stream: object | None) -> None:
        for owner, listener in list(self._listeners.values()):
            if stream is not None and owner is not stream:
                continue
            try:
                listener(event)
            except Exception:  # one bad listener must not starve the others (as the SDK's bus)
                log.exception("subscription listener raised; continuing")
        await anyio.lowlevel.checkpoint()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = (_STREAM.get(), listener)
        return lambda: self._listeners.pop(token, None)  # idempotent, as the protocol asks


class Followers:
    """Who follows which resource in this process, whose tool list each session shows, and the task
    that tells them of changes."""

    def __init__(self, server: SanctumServer, registry: Registry, identify: Callable[[Context], Caller]) -> None:
        self.server = server
        self.registry = registry
        self.identify = identify
        self._sessions: dict[Connection, dict[str, Topic]] = {}  # legacy sessions: uri -> topic
        self._owners: dict[Connection, _Owner] = {}  # who subscribed in each legacy session (users rows only)
        # 2026-07-28 listen streams following resources: who, their URIs, and how to end the stream
        self._listeners: dict[object, tuple[_Owner, list[str], anyio.CancelScope]] = {}
        self._streams: Counter[tuple[str, Topic]] = Counter()  # 2026-07-28 listen streams' (uri, topic)
        self._listings: dict[Connection, _Listing | None] = {}  # 2025 sessions (None: no user row to follow)
        self._tool_streams: dict[object, _Listing] = {}  # 2026-07-28 listen streams asking for toolsListChanged
        self._over_cap = RateLimitedLog(log.warning)

    def count(self) -> int:
        """Subscriptions held now (legacy sessions' URIs and listen streams' URIs)."""
        return sum(len(uris) for uris in self._sessions.values()) + sum(self._streams.values())

    def tracked(self) -> int:
        """Sessions and listen streams whose tool list is followed now."""
        return sum(listing is not None for listing in self._listings.values()) + len(self._tool_streams)

    def register(self) -> None:
        self.server.add_request_handler("resources/subscribe", SubscribeRequestParams, self.subscribe)
        self.server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self.unsubscribe)
        bus = self.server._subscriptions  # MCPServer's bus (a StreamBus: app.py); its listen handler is replaced
        self.server.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams,
                                        _Listen(self, bus, max_subscriptions=MAX_LISTEN_STREAMS))
        self.server.middleware.append(self.track)
        # The 2025 handshake's tools.listChanged comes from NotificationOptions, which every transport
        # (the SDK's HTTP and SSE, our stdio) asks create_initialization_options for without any: this
        # server's default says true. At 2026-07-28 the SDK derives it from subscriptions/listen.
        lowlevel = self.server._lowlevel_server
        lowlevel.create_initialization_options = partial(
            type(lowlevel).create_initialization_options, lowlevel, NotificationOptions(tools_changed=True))

    # --- whose tool list each session shows ---------------------------------------------------------

    async def track(self, ctx: ServerRequestContext, call_next: Any) -> Any:
        """Server middleware: note a 2025 session at its first message after initialize (one dict
        lookup for every later one); the session's end drops it. Over stdio the catalogue is built
        on first use (app.py): until then no session has a tool list, and none is noted, so that a
        session that never lists tools does not pay for the catalogue."""
        connection = ctx.session._connection
        if (connection not in self._listings and ctx.method != "initialize"
                and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS
                and (self.server.catalogue_loaded or ctx.method in ("tools/list", "tools/call"))):
            if len(self._listings) >= MAX_TRACKED:
                self._over_cap.emit("cap", "%d MCP sessions are live, the most whose tool list is followed: a "
                                    "newer one is not told when its user's tools change", MAX_TRACKED)
            else:
                self._listings[connection] = self.listing_of(ctx)
                connection.exit_stack.callback(self._listings.pop, connection, None)  # the session's end
        return await call_next(ctx)

    def listing_of(self, ctx: ServerRequestContext) -> _Listing | None:
        """Who this request's caller is and what it would list; None for a caller no users row
        stands for (an in-process identity) or none at all (refused on every call anyway)."""
        try:
            caller = self.identify(Context(request_context=ctx, mcp_server=self.server))
        except Exception:
            return None
        owner = self.owner_of(ctx, caller)
        if owner is None:
            return None
        return _Listing(owner.user_id, owner.token_id, owner.selection, listed_tools(owner.selection, caller))

    def owner_of(self, ctx: ServerRequestContext, caller: Caller | None = None) -> _Owner | None:
        """The users row and token this request's caller stands for, and its endpoint's selection;
        None for an in-process identity (no users row) or no caller at all."""
        try:
            caller = caller or self.identify(Context(request_context=ctx, mcp_server=self.server))
        except Exception:
            return None
        if caller.user_id is None:
            return None
        token = get_access_token()  # over HTTP: the verified bearer token (server/auth.py); else None
        token_id = (token.claims or {}).get("token_id") if token is not None else None
        return _Owner(caller.user_id, token_id, request_selection(self.server.selection, ctx.request))

    # --- subscribing ------------------------------------------------------------------------------

    async def topic(self, ctx: ServerRequestContext, uri: str, method: str) -> Topic:
        """The topic `uri` names, once the caller has passed the gate of reading it."""
        try:
            if len(uri) > MAX_URI:
                raise InvalidInput(f"a resource URI of {len(uri):,} characters is longer than {MAX_URI:,}; "
                                   "resources/list and resources/templates/list show the URIs served.")
            reads, topic = await self._reads(uri)
            if reads:
                caller = self.identify(Context(request_context=ctx, mcp_server=self.server))
                await _gate(self.registry, caller, reads, request_selection(self.server.selection, ctx.request))
            return topic
        except Exception as exc:
            raise to_protocol_error(method, exc) from None

    async def _reads(self, uri: str) -> tuple[list[tuple[str, dict[str, Any]]], Topic]:
        """The tool reads the resource at `uri` shows (as server/resources.py gates them) and its topic."""
        feed = self.registry.feed
        if uri == "sanctum://agents":
            return [("list_agents", {})], ("agents",)
        if uri == "sanctum://config/system":
            return [("list_config", {"scope": "system"})], ("config", "system", "")
        if uri == "sanctum://jobs/due":
            return [("list_jobs", {"status": "Active"}), ("query_logs", {})], ("jobs",)
        if match := _AGENT.fullmatch(uri):
            return [("get_agent", {"agent": match[1]})], await feed.topic_of("agent", match[1])
        if (match := _CONFIG.fullmatch(uri)) and match[1] in SCOPES and match[1] != "system":
            scope, target = match[1], match[2]
            return [("list_config", {"scope": scope, "target": target})], await feed.topic_of("config", scope, target)
        return [], ("uri", uri)  # not served here (sanctum://schema never changes): never fires

    async def subscribe(self, ctx: ServerRequestContext, params: SubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        connection = ctx.session._connection  # the SDK's per-session state; no public accessor
        if uri in self._sessions.get(connection, {}):
            return EmptyResult()
        self._check_room(len(self._sessions.get(connection, {})))
        topic = await self.topic(ctx, uri, "resources/subscribe")
        uris = self._sessions.get(connection)
        if uris is None:
            uris = self._sessions[connection] = {}
            connection.exit_stack.callback(self._sessions.pop, connection, None)  # the session's end
            owner = self.owner_of(ctx)
            if owner is not None:
                self._owners[connection] = owner
                connection.exit_stack.callback(self._owners.pop, connection, None)
        if uri not in uris:
            self._check_room(len(uris))  # again: another subscribe of this session may have run meanwhile
            uris[uri] = topic
        return EmptyResult()

    async def unsubscribe(self, ctx: ServerRequestContext, params: UnsubscribeRequestParams) -> EmptyResult:
        uris = self._sessions.get(ctx.session._connection)
        if uris is not None:
            uris.pop(str(params.uri), None)
        return EmptyResult()

    @staticmethod
    def _check_room(held: int) -> None:
        if held >= MAX_PER_SESSION:
            raise MCPError(INVALID_PARAMS, f"this session already follows {MAX_PER_SESSION} resources, the most one "
                                           "session may; unsubscribe from one first (resources/unsubscribe).")

    # --- telling them -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the feed for as long as the server runs (cancelled with it). A failure (a locked or
        damaged file) is logged and retried: it must never take the server down with it."""
        revision: int | None = None
        while True:
            try:
                if revision is None:
                    revision = await self.registry.notifier.current()
                revision = await self._follow(revision)
            except Exception:
                log.exception("could not read the change feed; retrying in %s s", RETRY_DELAY)
                await anyio.sleep(RETRY_DELAY)

    async def _follow(self, revision: int) -> int:
        now = await self.registry.notifier.wait_beyond(revision, FOLLOW_TIMEOUT)
        if now <= revision:
            return revision
        if not self.count() and not self.tracked():
            return now  # nobody follows anything: nothing to read
        up_to, topics = await self.registry.feed.touched_since(revision)
        await self._regate(topics)  # first: a user who lost the right hears nothing of this round
        await self._deliver(topics)
        await self._tell_tool_lists(topics)
        return up_to

    async def _regate(self, topics: set[Topic]) -> None:
        """The subscriptions of each user these changes touched pass the gate again, as that user is
        now: a legacy session keeps the URIs it may still read, a listen stream that may no longer
        read one of its URIs is ended (its client may listen again and be told why)."""
        everything = EVERYTHING in topics
        users = {topic[1] for topic in topics if topic[0] == "user"}
        if not everything and not users:
            return
        callers: dict[tuple[int, int | None], Caller | None] = {}

        async def readable(owner: _Owner, uris: list[str]) -> set[str]:
            who = (owner.user_id, owner.token_id)
            if who not in callers:
                callers[who] = await self.registry.users.caller_now(owner.user_id, token_id=owner.token_id)
            caller = callers[who]
            if caller is None:  # deactivated, removed, or its token revoked
                return set()
            kept = set()
            for uri in uris:
                try:
                    reads, _topic = await self._reads(uri)
                    await _recheck(self.registry, caller, reads, owner.selection)
                except RegistryError:
                    continue
                kept.add(uri)
            return kept

        def touched(owner: _Owner) -> bool:
            return everything or str(owner.user_id) in users

        for connection, owner in list(self._owners.items()):
            uris = self._sessions.get(connection)
            if uris and touched(owner):
                kept = await readable(owner, list(uris))
                for uri in [uri for uri in uris if uri not in kept]:
                    uris.pop(uri, None)
        for stream, (owner, uris, scope) in list(self._listeners.items()):
            if touched(owner) and len(await readable(owner, uris)) < len(uris):
                scope.cancel()

    async def _deliver(self, topics: set[Topic]) -> None:
        everything = EVERYTHING in topics
        async with anyio.create_task_group() as tg:
            for connection, uris in list(self._sessions.items()):
                due = [partial(connection.send_resource_updated, uri) for uri, topic in list(uris.items())
                       if everything or topic in topics]
                if due:
                    tg.start_soon(_send, due)
        for uri, topic in list(self._streams):
            if everything or topic in topics:
                await self.server._subscriptions.publish(ResourceUpdated(uri=uri))

    async def _tell_tool_lists(self, topics: set[Topic]) -> None:
        everything = EVERYTHING in topics
        users = {topic[1] for topic in topics if topic[0] == "user"}
        if not everything and not users:
            return
        callers: dict[tuple[int, int | None], Caller | None] = {}  # read once per (user, token)

        async def changed(listing: _Listing) -> bool:
            if not everything and str(listing.user_id) not in users:
                return False
            who = (listing.user_id, listing.token_id)
            if who not in callers:
                callers[who] = await self.registry.users.caller_now(listing.user_id, token_id=listing.token_id)
            names = listed_tools(listing.selection, callers[who])
            if names == listing.names:
                return False
            listing.names = names
            return True

        async with anyio.create_task_group() as tg:
            for connection, listing in list(self._listings.items()):
                if listing is not None and await changed(listing):
                    tg.start_soon(_send, [connection.send_tool_list_changed])
        for stream, listing in list(self._tool_streams.items()):
            if await changed(listing):
                await self.server._subscriptions.publish_to(stream, ToolsListChanged())


async def _recheck(registry: Registry, caller: Caller, reads: list[tuple[str, dict[str, Any]]],
                   selection: Selection) -> None:
    """resources._gate's question again, for a subscription held since: raise RegistryError unless the
    endpoint serves, and the caller may call, every read. Not audited: nobody asked anything now."""
    from sanctum_mcp.catalogue import find_tool
    from sanctum_mcp.catalogue.base import Call, authorize, parse_arguments

    for name, raw in reads:
        spec = find_tool(name)
        if spec is None or not selection.admits(name):
            raise Forbidden(f"this endpoint does not serve {name}")
        await authorize(spec, Call(registry, caller), parse_arguments(spec, raw))


async def _send(sends: list[Callable[[], Awaitable[None]]]) -> None:
    """The notifications of one session, in a task of its own with one NOTIFY_TIMEOUT for them all: a
    client that stops reading its stream (its sends block once the buffers fill) holds up neither the
    other sessions nor, past NOTIFY_TIMEOUT, the next changes."""
    try:
        with anyio.move_on_after(NOTIFY_TIMEOUT):
            for send in sends:
                await send()
    except Exception:  # the session ended meanwhile: nobody to tell
        log.debug("could not notify an ending session", exc_info=True)


class _Listen(ListenHandler):
    """The SDK's `subscriptions/listen` handler, with the same gate and bounds as resources/subscribe
    for the resources a stream asks for."""

    def __init__(self, followers: Followers, bus: Any, **options: Any) -> None:
        super().__init__(bus, **options)
        self.followers = followers
        self._held: Counter[str] = Counter()  # listen streams open now, by user name

    async def __call__(self, ctx: ServerRequestContext, params: SubscriptionsListenRequestParams) -> Any:
        uris = list(dict.fromkeys(params.notifications.resource_subscriptions or ()))
        if len(uris) > MAX_PER_SESSION:
            raise MCPError(INVALID_PARAMS, f"a listen stream may follow at most {MAX_PER_SESSION} resources, not "
                                           f"{len(uris):,}; open another stream for the rest.")
        try:
            who = self.followers.identify(Context(request_context=ctx, mcp_server=self.followers.server)).username
        except Exception as exc:
            raise to_protocol_error("subscriptions/listen", exc) from None
        if self._held[who] >= MAX_LISTEN_PER_USER:
            raise MCPError(INVALID_PARAMS, f"{who!r} already holds {MAX_LISTEN_PER_USER} listen streams, the most one "
                                           "user may; close one first (end its subscriptions/listen request).")
        self._held[who] += 1  # before any await: streams opened at once are counted too
        try:
            return await self._listen(ctx, params, uris)
        finally:
            self._held[who] -= 1
            self._held += Counter()

    async def _listen(self, ctx: ServerRequestContext, params: SubscriptionsListenRequestParams,
                      uris: list[str]) -> Any:
        followed = [(uri, await self.followers.topic(ctx, uri, "subscriptions/listen")) for uri in uris]
        stream = object()  # this stream, as StreamBus knows it
        listing = self.followers.listing_of(ctx) if params.notifications.tools_list_changed else None
        if listing is not None:
            self.followers._tool_streams[stream] = listing
        self.followers._streams.update(followed)
        owner = self.followers.owner_of(ctx) if uris else None
        scope = anyio.CancelScope()
        if owner is not None:
            self.followers._listeners[stream] = (owner, uris, scope)
        token = _STREAM.set(stream)
        try:
            with scope:
                return await super().__call__(ctx, params)
            raise MCPError(INVALID_PARAMS, "this listen stream was ended: your access changed (your role, permissions "
                                           "or token), and you may no longer read all of its resources. Listen "
                                           "again to be told which.")
        finally:
            _STREAM.reset(token)
            self.followers._listeners.pop(stream, None)
            self.followers._tool_streams.pop(stream, None)
            self.followers._streams.subtract(followed)
            self.followers._streams += Counter()  # drop the keys counted down to zero
