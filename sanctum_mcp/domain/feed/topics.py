"""What a change touches, as topics a follower can name: ("agents",), ("agent", id),
("config", scope, target id), ("jobs",), ("user", id). A follower names a topic once
(server/subscriptions.py resolves a resource's name to its id when it subscribes, so a rename does
not lose it); a name that resolved to nothing is followed by name ("agent-name", folded name) or
("config-name", scope, name), so the object's creation is seen too. EVERYTHING: the registry was
replaced (a restore)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.domain.config.targets import resolve_target
from sanctum_mcp.domain.feed.record import RESTORE
from sanctum_mcp.domain.shared.errors import RegistryError

Topic = tuple[str, ...]
EVERYTHING: Topic = ("*",)

# Kinds whose objects are configuration targets: deleting one deletes its settings.
_TARGET_SCOPES = {"agent": "agent", "tool": "tool", "instance": "instance", "user": "user"}


def touched(row: sqlite3.Row | dict[str, Any]) -> set[Topic]:
    kind, object_id, name = row["kind"], row["object_id"] or "", row["name"]
    if row["action"] == RESTORE:
        return {EVERYTHING}
    topics: set[Topic] = set()
    if kind == "agent":
        topics |= {("agents",), ("agent", object_id)}
        if name:
            topics.add(("agent-name", name.casefold()))
    if kind == "config":
        topics.add(("config", row["scope"], object_id))
        if name and row["scope"] != "system":
            topics.add(("config-name", row["scope"], name.casefold()))
    if kind == "user" and object_id:
        topics.add(("user", object_id))  # its role, permissions, active flag or tokens: what it may list
    if kind in _TARGET_SCOPES and object_id:
        topics.add(("config", _TARGET_SCOPES[kind], object_id))
    if kind == "job":
        topics.add(("jobs",))
    return topics


def agent_topic(conn: sqlite3.Connection, ref: str) -> Topic:
    try:
        return ("agent", resolve_target(conn, "agent", ref).id)
    except RegistryError:
        return ("agent-name", ref.casefold())


def config_topic(conn: sqlite3.Connection, scope: str, ref: str | None) -> Topic:
    if scope == "system":
        return ("config", "system", "")
    try:
        return ("config", scope, resolve_target(conn, scope, ref).id)
    except RegistryError:
        return ("config-name", scope, (ref or "").casefold())
