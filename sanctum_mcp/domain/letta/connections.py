"""The stored Letta connections (letta_server_config): address checks, and list, add, update,
remove and activate, each change audited; password and token encrypted, shown masked."""

from __future__ import annotations

import ipaddress
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.letta.environment import env_override
from sanctum_mcp.domain.letta.models import LettaServer, LettaServerList, RemovedLettaServer
from sanctum_mcp.domain.letta.urls import base_url
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.secrets import SecretBox, SecretUnreadable, mask
from sanctum_mcp.storage import letta as sql

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database

_HOST_RE = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")


def check_address(address: str) -> str:
    if "://" in address or "/" in address:
        raise InvalidInput(
            f"address {address[:80]!r} must be a host name or IP address only; give the scheme in "
            "scheme= and the port in port= (e.g. address='localhost', port=8283, scheme='http')."
        )
    bare = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if not _HOST_RE.fullmatch(address):
        raise InvalidInput(f"address {address[:80]!r} is not a host name or IP address.")
    return address


def check_secret(label: str, value: str) -> str:
    if value == "":
        raise InvalidInput(f"{label} is empty; leave it out, or use clear_{label}=true to remove a stored one.")
    if len(value) > 4096:
        raise InvalidInput(f"{label} is longer than 4096 characters.")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidInput(f"{label} contains control characters, which cannot travel in an HTTP header.")
    return value


class Connections:
    def __init__(self, db: Database, secrets: SecretBox) -> None:
        self.db = db
        self.secrets = secrets

    def _masked(self, stored: str | None) -> str | None:
        if stored is None:
            return None
        try:
            return mask(self.secrets.decrypt(stored))
        except SecretUnreadable:
            return mask(None)

    def model(self, row: sqlite3.Row) -> LettaServer:
        return LettaServer(
            id=row["id"],
            address=row["server_address"],
            port=row["server_port"],
            scheme=row["server_scheme"],
            url=base_url(row["server_scheme"], row["server_address"], row["server_port"]),
            password=self._masked(row["server_password"]),
            token=self._masked(row["server_token"]),
            timeout_seconds=row["connection_timeout"],
            is_active=bool(row["is_active"]),
            last_connected=row["last_connected"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def list(self) -> LettaServerList:
        rows = await self.db.read(sql.all_servers)
        servers = [self.model(r) for r in rows]
        active = next((s.id for s in servers if s.is_active), None)
        return LettaServerList(servers=servers, active_id=active, override=env_override())

    async def add(self, caller: Caller, *, address: str, port: int, scheme: str, password: str | None,
                  token: str | None, timeout: int, activate: bool) -> LettaServer:
        address = check_address(address)
        values: dict[str, Any] = {"server_address": address, "server_port": port, "server_scheme": scheme,
                                  "connection_timeout": timeout, "is_active": 0}
        if password is not None:
            values["server_password"] = self.secrets.encrypt(check_secret("password", password))
        if token is not None:
            values["server_token"] = self.secrets.encrypt(check_secret("token", token))

        def tx(conn: sqlite3.Connection) -> LettaServer:
            clash = sql.find_endpoint(conn, scheme, address, port)
            if clash is not None:
                raise Conflict(f"Letta connection {clash['id']} already points at {base_url(scheme, address, port)}; "
                               "change it with update_letta_server instead.")
            server_id = sql.insert(conn, values)
            if activate or sql.active(conn) is None:
                sql.activate(conn, server_id)
            created = self.model(sql.get(conn, server_id))
            audit.record(conn, caller, action="letta.server.add", source="letta", source_id=server_id,
                         message=f"Letta connection {created.url} added", after=created)
            return created

        return await self.db.write(tx)

    async def update(self, caller: Caller, server_id: int, changes: dict[str, Any]) -> LettaServer:
        values: dict[str, Any] = {}
        if changes.get("address") is not None:
            values["server_address"] = check_address(changes["address"])
        if changes.get("port") is not None:
            values["server_port"] = changes["port"]
        if changes.get("scheme") is not None:
            values["server_scheme"] = changes["scheme"]
        if changes.get("timeout") is not None:
            values["connection_timeout"] = changes["timeout"]
        for label, column in (("password", "server_password"), ("token", "server_token")):
            if changes.get(label) is not None and changes.get(f"clear_{label}"):
                raise InvalidInput(f"give either {label} or clear_{label}=true, not both; nothing was changed.")
            if changes.get(label) is not None:
                values[column] = self.secrets.encrypt(check_secret(label, changes[label]))
            elif changes.get(f"clear_{label}"):
                values[column] = None
        if not values:
            raise InvalidInput("update_letta_server needs at least one change (address, port, scheme, password, "
                               "token, timeout, clear_password, clear_token); nothing was changed.")

        def tx(conn: sqlite3.Connection) -> LettaServer:
            row = self.row(conn, server_id)
            before = self.model(row)
            scheme = values.get("server_scheme", row["server_scheme"])
            address = values.get("server_address", row["server_address"])
            port = values.get("server_port", row["server_port"])
            clash = sql.find_endpoint(conn, scheme, address, port)
            if clash is not None and clash["id"] != server_id:
                raise Conflict(f"Letta connection {clash['id']} already points at {base_url(scheme, address, port)}; "
                               "nothing was changed.")
            sql.update(conn, server_id, values)
            after = self.model(sql.get(conn, server_id))
            audit.record(conn, caller, action="letta.server.update", source="letta", source_id=server_id,
                         message=f"Letta connection {server_id} updated", before=before, after=after)
            return after

        return await self.db.write(tx)

    async def remove(self, caller: Caller, server_id: int) -> RemovedLettaServer:
        def tx(conn: sqlite3.Connection) -> RemovedLettaServer:
            row = self.row(conn, server_id)
            before = self.model(row)
            if row["is_active"]:
                raise Conflict(f"Letta connection {server_id} is the active one; activate another with "
                               "activate_letta_server first (or change this one with update_letta_server). "
                               "Nothing was removed.")
            sql.delete(conn, server_id)
            audit.record(conn, caller, action="letta.server.remove", source="letta", source_id=server_id,
                         message=f"Letta connection {before.url} removed", before=before)
            return RemovedLettaServer(removed=before)

        return await self.db.write(tx)

    async def activate(self, caller: Caller, server_id: int) -> LettaServer:
        def tx(conn: sqlite3.Connection) -> LettaServer:
            row = self.row(conn, server_id)
            if row["is_active"]:
                return self.model(row)
            previous = sql.active(conn)
            sql.activate(conn, server_id)
            after = self.model(sql.get(conn, server_id))
            audit.record(conn, caller, action="letta.server.activate", source="letta", source_id=server_id,
                         message=f"Letta connection {after.url} activated",
                         before=self.model(previous) if previous else None, after=after)
            return after

        return await self.db.write(tx)

    @staticmethod
    def row(conn: sqlite3.Connection, server_id: int) -> sqlite3.Row:
        row = sql.get(conn, server_id)
        if row is None:
            raise NotFound(f"no Letta connection with id {server_id}; call list_letta_servers to see them.")
        return row
