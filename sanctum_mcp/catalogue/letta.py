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


ServerId = Field(ge=1, description="Connection id.")


class ListLettaServers(ToolInput):
    pass


@tool("list_letta_servers", title="List Letta connections", group="Letta", role="viewer", read_only=True,
      idempotent=True)
async def list_letta_servers(call: Call, args: ListLettaServers) -> LettaServerList:
    """List the Letta connections (secrets masked) and any LETTA_* override."""
    return await call.registry.letta.list()


class AddLettaServer(ToolInput):
    address: str = Field(min_length=1, max_length=253, description="Host name or IP, e.g. 'localhost'.")
    port: int = Field(ge=1, le=65535, description="Letta's default is 8283.")
    scheme: Literal["http", "https"] = "http"
    password: str | None = None
    token: str | None = None
    timeout: int = Field(default=30, ge=1, le=600, description="Seconds for a status probe.")
    activate: bool = Field(default=False, description="Make it the active one (the first one is).")


@tool("add_letta_server", title="Add a Letta connection", group="Letta", role="admin", read_only=False,
      secrets=("password", "token"))
async def add_letta_server(call: Call, args: AddLettaServer) -> LettaServer:
    """Add a Letta connection; its secrets are stored encrypted."""
    return await call.registry.letta.add(call.caller, address=args.address, port=args.port, scheme=args.scheme,
                                         password=args.password, token=args.token, timeout=args.timeout,
                                         activate=args.activate)


class UpdateLettaServer(ToolInput):
    server: int = ServerId
    address: str | None = Field(default=None, min_length=1, max_length=253, description="New host name or IP.")
    port: int | None = Field(default=None, ge=1, le=65535)
    scheme: Literal["http", "https"] | None = None
    password: str | None = None
    token: str | None = None
    clear_password: bool | None = Field(default=None, description="true removes the password.")
    clear_token: bool | None = Field(default=None, description="true removes the token.")
    timeout: int | None = Field(default=None, ge=1, le=600, description="New probe timeout (s).")


@tool("update_letta_server", title="Update a Letta connection", group="Letta", role="admin", read_only=False,
      idempotent=True, secrets=("password", "token"))
async def update_letta_server(call: Call, args: UpdateLettaServer) -> LettaServer:
    """Change a Letta connection's fields; those left out stay."""
    return await call.registry.letta.update(call.caller, args.server, args.model_dump(exclude={"server"}))


class RemoveLettaServer(ToolInput):
    server: int = ServerId


@tool("remove_letta_server", title="Remove a Letta connection", group="Letta", role="admin", read_only=False,
      destructive=True)
async def remove_letta_server(call: Call, args: RemoveLettaServer) -> RemovedLettaServer:
    """Remove a Letta connection other than the active one."""
    return await call.registry.letta.remove(call.caller, args.server)


class ActivateLettaServer(ToolInput):
    server: int = ServerId


@tool("activate_letta_server", title="Activate a Letta connection", group="Letta", role="admin", read_only=False,
      idempotent=True)
async def activate_letta_server(call: Call, args: ActivateLettaServer) -> LettaServer:
    """Make this Letta connection the active one."""
    return await call.registry.letta.activate(call.caller, args.server)


class LettaStatusInput(ToolInput):
    server: int | None = Field(default=None, ge=1, description="Connection id; default: the one in use.")


@tool("letta_status", title="Check the Letta server", group="Letta", role="viewer", read_only=True,
      idempotent=True, open_world=True)
async def letta_status(call: Call, args: LettaStatusInput) -> LettaStatus:
    """Probe the Letta server and which MCP servers registered in Letta reach this registry. A
    failure is a status, not an error."""
    return await call.registry.letta.status(args.server, serves_names=serves_names)


class SyncLettaAgents(ToolInput):
    server: int | None = Field(default=None, ge=1, description="Connection id; default: the one in use.")
    dry_run: bool = Field(default=False, description="Report only; change nothing.")


@tool("sync_letta_agents", title="Import agents from Letta", group="Letta", role="user", read_only=False,
      idempotent=True, open_world=True, agents=ALL_AGENTS)
async def sync_letta_agents(call: Call, args: SyncLettaAgents) -> LettaSync:
    """Import Letta's agents: add new ones, link same-named ones, follow renames. Never deletes."""
    return await call.registry.letta.sync_agents(call.caller, server_id=args.server, dry_run=args.dry_run)
