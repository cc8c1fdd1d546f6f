"""Letta connection tools, the Letta probe and the agent sync."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sanctum_mcp.catalogue.base import ALL_AGENTS, Call, ToolInput, tool
from sanctum_mcp.domain.letta.models import LettaServer, LettaServerList, LettaStatus, LettaSync, RemovedLettaServer


def serves_names(names: str) -> bool:
    """Whether /mcp/x/NAMES is an endpoint of the HTTP server (toolsets and profiles it knows)."""
    from sanctum_mcp.catalogue.toolsets import UnknownSelection, url_selection

    try:
        url_selection(names)
    except UnknownSelection:
        return False
    return True


ServerId = Field(ge=1, description="The connection's id (list_letta_servers shows them).")


class ListLettaServers(ToolInput):
    pass


@tool("list_letta_servers", title="List Letta connections", group="Letta", role="viewer", read_only=True,
      idempotent=True)
async def list_letta_servers(call: Call, args: ListLettaServers) -> LettaServerList:
    """List the Letta server connections (address, port, scheme, timeout, which one is active,
    passwords and tokens masked) and whether LETTA_* environment variables override them."""
    return await call.registry.letta.list()


class AddLettaServer(ToolInput):
    address: str = Field(min_length=1, max_length=253, description="Host name or IP address only, e.g. 'localhost'.")
    port: int = Field(ge=1, le=65535, description="TCP port (Letta's default is 8283; Sanctum runs it on 8284).")
    scheme: Literal["http", "https"] = Field(default="http", description="http or https.")
    password: str | None = Field(default=None, description="The Letta server password, if it has one (stored encrypted).")
    token: str | None = Field(default=None, description="An API token/key for Letta, if it uses one (stored encrypted).")
    timeout: int = Field(default=30, ge=1, le=600, description="Seconds allowed for a whole status probe.")
    activate: bool = Field(default=False, description="Make it the active connection (it is anyway if none is active).")


@tool("add_letta_server", title="Add a Letta connection", group="Letta", role="admin", read_only=False,
      secrets=("password", "token"))
async def add_letta_server(call: Call, args: AddLettaServer) -> LettaServer:
    """Add a Letta server connection. Password and token are encrypted at rest and shown masked.
    Check it afterwards with letta_status(server=<id>)."""
    return await call.registry.letta.add(call.caller, address=args.address, port=args.port, scheme=args.scheme,
                                         password=args.password, token=args.token, timeout=args.timeout,
                                         activate=args.activate)


class UpdateLettaServer(ToolInput):
    server: int = ServerId
    address: str | None = Field(default=None, min_length=1, max_length=253, description="New host name or IP address.")
    port: int | None = Field(default=None, ge=1, le=65535, description="New port.")
    scheme: Literal["http", "https"] | None = Field(default=None, description="New scheme.")
    password: str | None = Field(default=None, description="New password (stored encrypted).")
    token: str | None = Field(default=None, description="New API token (stored encrypted).")
    clear_password: bool | None = Field(default=None, description="true removes the stored password.")
    clear_token: bool | None = Field(default=None, description="true removes the stored token.")
    timeout: int | None = Field(default=None, ge=1, le=600, description="New probe timeout in seconds.")


@tool("update_letta_server", title="Update a Letta connection", group="Letta", role="admin", read_only=False,
      idempotent=True, secrets=("password", "token"))
async def update_letta_server(call: Call, args: UpdateLettaServer) -> LettaServer:
    """Change some fields of a Letta connection; fields left out stay as they are."""
    return await call.registry.letta.update(call.caller, args.server, args.model_dump(exclude={"server"}))


class RemoveLettaServer(ToolInput):
    server: int = ServerId


@tool("remove_letta_server", title="Remove a Letta connection", group="Letta", role="admin", read_only=False,
      destructive=True)
async def remove_letta_server(call: Call, args: RemoveLettaServer) -> RemovedLettaServer:
    """Remove a Letta connection that is not the active one (activate another first)."""
    return await call.registry.letta.remove(call.caller, args.server)


class ActivateLettaServer(ToolInput):
    server: int = ServerId


@tool("activate_letta_server", title="Activate a Letta connection", group="Letta", role="admin", read_only=False,
      idempotent=True)
async def activate_letta_server(call: Call, args: ActivateLettaServer) -> LettaServer:
    """Make this connection the active one (the previous one is deactivated in the same transaction)."""
    return await call.registry.letta.activate(call.caller, args.server)


class LettaStatusInput(ToolInput):
    server: int | None = Field(default=None, ge=1, description="A connection id; omit for the one in use "
                               "(the environment override if set, else the active connection).")


@tool("letta_status", title="Check the Letta server", group="Letta", role="viewer", read_only=True,
      idempotent=True, open_world=True)
async def letta_status(call: Call, args: LettaStatusInput) -> LettaStatus:
    """Probe the Letta server: reachable or not, latency, version, whether the credentials work,
    its agent count, and which MCP servers registered in Letta reach this registry. Failures come
    back as a status with a message saying what to do, never as an error."""
    return await call.registry.letta.status(args.server, serves_names=serves_names)


class SyncLettaAgents(ToolInput):
    server: int | None = Field(default=None, ge=1, description="A connection id; omit for the one in use.")
    dry_run: bool = Field(default=False, description="true: report what would change without changing anything.")


@tool("sync_letta_agents", title="Import agents from Letta", group="Letta", role="user", read_only=False,
      idempotent=True, open_world=True, agents=ALL_AGENTS)
async def sync_letta_agents(call: Call, args: SyncLettaAgents) -> LettaSync:
    """Import Letta's agents (id, name) into the registry: new ones are added with their letta_id,
    same-named unlinked ones are linked, renamed ones follow Letta. Reports added, updated, unchanged,
    skipped and missing (agents Letta no longer lists); it never deletes anything."""
    return await call.registry.letta.sync_agents(call.caller, server_id=args.server, dry_run=args.dry_run)
