"""LettaService: the letta tools. The stored connections (it is a Connections), the audited reveal
of one for `sanctum-mcp letta env`, which endpoint to talk to (the environment override or a stored
connection), letta_status and sync_letta_agents."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sanctum_mcp.domain.feed import record as feed
from sanctum_mcp.domain.letta import sync
from sanctum_mcp.domain.letta.connections import Connections
from sanctum_mcp.domain.letta.environment import ENV_API_KEY, ENV_PASSWORD, ENV_URL, OVERRIDE_TIMEOUT, env_override
from sanctum_mcp.domain.letta.models import LettaStatus, LettaSync, LettaUnavailable, RevealedConnection
from sanctum_mcp.domain.letta.probe import LettaHttp, Target
from sanctum_mcp.domain.letta.registration import OwnEndpoint, PathCheck, Registration, configured_endpoint
from sanctum_mcp.domain.letta.urls import base_url
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.clock import iso
from sanctum_mcp.domain.shared.errors import Forbidden, NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.secrets import SecretBox, SecretUnreadable
from sanctum_mcp.storage import letta as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.users.access import AccessChecks
    from sanctum_mcp.domain.users.service import UserService
    from sanctum_mcp.storage.database import Database


class LettaService(Connections):
    def __init__(self, db: Database, secrets: SecretBox, clock: Callable[[], datetime], access: AccessChecks,
                 users: UserService) -> None:
        super().__init__(db, secrets)
        self.clock = clock
        self.access = access  # audits a refused reveal like the gate's refusals
        self.users = users  # whether a token Letta holds is an active sanctum token
        self.http = LettaHttp()
        # Where this registry's HTTP server listens: set by the HTTP transport for itself; in other
        # processes (stdio, CLI, SMCP) None, and the address configured for `serve` is used.
        self.serving: OwnEndpoint | None = None

    env_override = staticmethod(env_override)

    async def _target(self, server_id: int | None) -> tuple[Target | None, LettaStatus | None]:
        """The endpoint to talk to, or a finished status explaining why there is none."""
        override = env_override()
        if server_id is None and override is not None:
            if not override.complete:
                return None, LettaStatus(source="environment", override=override, status="override-invalid",
                                         message=override.message, reachable=False)
            return Target(url=os.environ[ENV_URL].rstrip("/"), source="environment", server_id=None,
                          timeout=OVERRIDE_TIMEOUT, token=os.environ.get(ENV_API_KEY) or None,
                          password=os.environ.get(ENV_PASSWORD) or None), None
        if server_id is None:
            row = await self.db.read(sql.active)
            if row is None:
                return None, LettaStatus(source="none", override=override, status="not-configured", reachable=False,
                                         message="there is no active Letta connection; add one with "
                                         "add_letta_server or activate one with activate_letta_server.")
        else:
            row = await self.db.read(lambda conn: self.row(conn, server_id))
        url = base_url(row["server_scheme"], row["server_address"], row["server_port"])
        try:
            token = self.secrets.decrypt(row["server_token"]) if row["server_token"] else None
            password = self.secrets.decrypt(row["server_password"]) if row["server_password"] else None
        except SecretUnreadable as exc:
            return None, LettaStatus(url=url, source="database", server_id=row["id"], override=override,
                                     status="secret-unreadable", reachable=False, message=str(exc))
        return Target(url=url, source="database", server_id=row["id"], timeout=row["connection_timeout"],
                      token=token, password=password), None

    async def reveal(self, caller: Caller, server_id: int | None = None) -> RevealedConnection:
        """A stored connection (the active one by default) with its password and token in clear.

        For admins whose permissions are not narrowed (the credentials reach Letta for every agent);
        a refusal is audited (`access.denied`) like the role gate's, and a reveal of any secret like
        get_config(reveal=true) (`letta.reveal`, naming what was revealed, never the values)."""
        narrowed = caller.permissions is not None and (caller.permissions.agents is not None
                                                        or caller.permissions.tools is not None)
        if not caller.has_role("admin") or narrowed:
            why = f"{caller.username!r} has {caller.role!r}" + (" and narrowed permissions" if narrowed else "")
            reason = (f"revealing a Letta connection's password and token needs the 'admin' role without narrowed "
                      f"permissions; {why}. Call list_letta_servers to see the connections with their secrets "
                      "masked, or ask an admin.")
            await self.access.record_refusal(caller, tool="letta.reveal", reason=reason, needed="admin")
            raise Forbidden(reason)

        def tx(conn: sqlite3.Connection) -> RevealedConnection:
            row = sql.active(conn) if server_id is None else self.row(conn, server_id)
            if row is None:
                raise NotFound("there is no active Letta connection; add one with add_letta_server(activate=true) "
                               "or activate one with activate_letta_server.")
            url = base_url(row["server_scheme"], row["server_address"], row["server_port"])
            try:
                password = self.secrets.decrypt(row["server_password"]) if row["server_password"] else None
                token = self.secrets.decrypt(row["server_token"]) if row["server_token"] else None
            except SecretUnreadable as exc:  # rolls back unaudited: nothing was revealed
                raise SecretUnreadable(f"Letta connection {row['id']} ({url}): {exc}") from None
            revealed = [name for name, value in (("password", password), ("token", token)) if value]
            if revealed:
                audit.record(conn, caller, action="letta.reveal", source="letta", source_id=row["id"],
                             message=f"{' and '.join(revealed)} of Letta connection {row['id']} ({url}) revealed "
                                     f"to {caller.username!r}",
                             extra={"revealed": revealed, "url": url})
            return RevealedConnection(server_id=row["id"], url=url, password=password, token=token)

        return await self.db.write(tx)

    # --- letta_status -----------------------------------------------------------------------------

    async def status(self, server_id: int | None = None, *, serves_names: PathCheck) -> LettaStatus:
        """serves_names(NAMES): whether /mcp/x/NAMES is an endpoint of this server (the catalogue knows)."""
        target, finished = await self._target(server_id)
        if finished is not None:
            return finished
        assert target is not None
        registration = Registration(self.serving or configured_endpoint(), target.url, self.users.token_is_active,
                                    serves_names)
        result = await self.http.status(target, env_override(), registration)
        if target.server_id is not None and result.reachable and result.auth in ("ok", "not-needed"):
            now = iso(self.clock())
            await self.db.write(self._connected, target.server_id, now)
        return result

    @staticmethod
    def _connected(conn: sqlite3.Connection, server_id: int, now: str) -> None:
        sql.set_last_connected(conn, server_id, now)
        feed.unaudited(conn, kind="letta", action="letta.connected", object_id=server_id, actor="letta_status")

    # --- sync_letta_agents ------------------------------------------------------------------------

    async def sync_agents(self, caller: Caller, *, server_id: int | None, dry_run: bool) -> LettaSync:
        import anyio

        target, finished = await self._target(server_id)
        if finished is not None:
            raise LettaUnavailable(f"sync_letta_agents cannot reach Letta: {finished.message} Nothing was changed.")
        assert target is not None
        with anyio.move_on_after(max(target.timeout, 1) * 4) as scope:
            letta_agents = await sync.fetch_agents(self.http, target)
        if scope.cancelled_caught:
            raise LettaUnavailable(f"listing Letta's agents took longer than {max(target.timeout, 1) * 4:g} s; "
                                   "nothing was changed. Retry, or raise the timeout with update_letta_server.")
        now = iso(self.clock())
        work = partial(sync.apply, caller=caller, target=target, letta_agents=letta_agents, dry_run=dry_run, now=now)
        return await (self.db.read(work) if dry_run else self.db.write(work))
