"""Reading the change feed as a caller may see it: `changes_since(revision)`."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from pydantic import BaseModel, Field

from sanctum_mcp.domain.feed.record import RESTORE
from sanctum_mcp.domain.feed.topics import EVERYTHING, Topic, agent_topic, config_topic, touched
from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.storage import changes as sql
from sanctum_mcp.storage.database import Database

# One answer reads at most SCAN rows (visible or not) and returns at most `limit` of them: a caller
# that may see little of a busy feed pages through it in bounded steps.
SCAN = 2_000
MAX_LIMIT = 500


class Change(BaseModel):
    # One change: what and who, never a value; README "Following changes" lists the kinds. (A comment,
    # not a docstring: a docstring would be published in changes_since's output schema.)

    revision: int
    kind: str
    action: str
    object_id: str | None = None  # config: the target's id (none for system)
    name: str | None = None  # config: the target's name
    key: str | None = None  # config only
    scope: str | None = None  # config only
    agent_id: int | None = None  # the agent it belongs to; none: host-wide
    actor: str
    at: str


class ChangesPage(BaseModel):
    revision: int  # the feed's revision now
    up_to: int = Field(description="Pass as the next revision.")
    more: bool  # changes after up_to are waiting
    reset: bool = False  # reload everything, then follow from revision
    message: str | None = None
    changes: list[Change]


class FeedService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def changes_since(self, caller: Caller, revision: int, *, kinds: Collection[str],
                            limit: int = 100) -> ChangesPage:
        """The changes after `revision` that the caller may see: kinds in `kinds` (the catalogue
        says which kinds' read tools the caller may call) and, for a caller limited by
        permissions.agents, nothing that belongs to another agent."""
        if revision < 0:
            raise InvalidInput("revision must be 0 or more: pass 0 for everything the feed keeps, or the "
                               "revision (or up_to) of your previous answer.")
        limit = max(1, min(limit, MAX_LIMIT))
        agents = None if caller.permissions is None else caller.permissions.agents

        def read(conn: sqlite3.Connection) -> ChangesPage:
            current = sql.current(conn)
            if revision > current:
                return ChangesPage(revision=current, up_to=current, more=False, reset=True, changes=[], message=(
                    f"revision {revision} is ahead of this registry's feed (now {current}): it comes from another "
                    f"database or from before a restore. Reload everything, then follow from revision {current}."))
            oldest = sql.oldest(conn)
            if revision < current and (oldest is None or oldest > revision + 1):
                return ChangesPage(revision=current, up_to=current, more=False, reset=True, changes=[], message=(
                    f"revision {revision} is older than the feed keeps (the newest {sql.KEPT} changes, from "
                    f"revision {oldest or current}): reload everything, then follow from revision {current}."))
            allowed = None if agents is None else sql.agent_ids_named(conn, list(agents))
            rows = sql.since(conn, revision, SCAN)
            seen, reset, up_to = [], False, revision
            for row in rows:
                if row["action"] == RESTORE:
                    reset = True
                if _visible(row, kinds, allowed):
                    if len(seen) == limit:
                        break
                    seen.append(_change(row))
                up_to = row["revision"]
            if not rows:
                up_to = current
            message = None
            if reset:
                message = ("the registry was restored from a backup: reload everything, then follow from "
                           f"revision {current}.")
            return ChangesPage(revision=current, up_to=up_to, more=up_to < current, reset=reset,
                               message=message, changes=seen)

        return await self.db.read(read)

    async def touched_since(self, revision: int) -> tuple[int, set[Topic]]:
        """(up_to, the topics the changes after `revision` touched, at most SCAN of them): for the
        subscriptions, which tell each follower only that its resource changed, not how. A
        revision older than the window touched everything."""

        def read(conn: sqlite3.Connection) -> tuple[int, set[Topic]]:
            current = sql.current(conn)
            oldest = sql.oldest(conn)
            if revision < current and (oldest is None or oldest > revision + 1):
                return current, {EVERYTHING}
            rows = sql.since(conn, revision, SCAN)
            found: set[Topic] = set()
            for row in rows:
                found |= touched(row)
            return (rows[-1]["revision"] if rows else max(revision, current)), found

        return await self.db.read(read)

    async def topic_of(self, resource: str, *args: str) -> Topic:
        """The topic a follower of this resource ("agent" with a name or id, "config" with a scope
        and target) names."""
        if resource == "agent":
            return await self.db.read(agent_topic, *args)
        return await self.db.read(config_topic, *args)


def _visible(row: sqlite3.Row, kinds: Collection[str], allowed: set[int] | None) -> bool:
    if row["kind"] not in kinds:
        return False
    return allowed is None or row["agent_id"] is None or row["agent_id"] in allowed


def _change(row: sqlite3.Row) -> Change:
    return Change(revision=row["revision"], kind=row["kind"], action=row["action"], object_id=row["object_id"],
                  name=row["name"], key=row["key"], scope=row["scope"], agent_id=row["agent_id"],
                  actor=row["actor"], at=row["created_at"])
