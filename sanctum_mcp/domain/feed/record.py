"""Writing the change feed: one `changes` row per committed change, inside the change's transaction.

`domain/shared/audit.py:record` calls `from_audit` for every audit row, so every mutation that is
audited (all of them: that is the audit rule) gets its revision in the same transaction, and a
change that rolls back leaves no revision. Audit rows that change nothing (refusals, reveals, an
agent's own log events, `changed=False`) get none. The two writes that keep no audit row call in
themselves: the scheduler's runs (`job_run`) and letta_status (`unaudited`); a Letta sync adds a
row per agent it touched (`agent_synced`) beside its one audit row. A row names the object
and the configuration key, never a value or a message. tests/test_feed.py runs every tool and
fails for one that changes a table without a revision.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.storage import changes as sql

# Audit actions that record something without changing the registry.
NOT_CHANGES = frozenset({"access.denied", "config.reveal", "letta.reveal", "log.event"})

# The audit row's source -> the feed's kind.
KINDS = {"tool_instance": "instance"}

RESTORE = "backup.restore"  # the whole registry was replaced: readers reload everything


def from_audit(conn: sqlite3.Connection, actor: str, *, action: str, source: str, source_id: Any,
               before: Any, after: Any, extra: dict[str, Any] | None) -> int | None:
    """The revision of the change an audit row describes, or None when it describes no change."""
    if action in NOT_CHANGES:
        return None
    kind = KINDS.get(source, source)
    row: dict[str, Any] = {"kind": kind, "action": action, "actor": actor,
                           "object_id": None if source_id is None else str(source_id)}
    model = after if after is not None else before
    if isinstance(model, dict):
        row["name"] = model.get("name") or model.get("username")
        row["agent_id"] = model.get("agent_id")
    if kind == "agent":
        row["agent_id"] = source_id
    elif kind == "config" and extra:
        # source_id is "scope:target id:key"; the target's id says whose it is.
        scope, target_id, _key = str(source_id).split(":", 2)
        row.update(scope=scope, key=extra.get("key"), name=extra.get("target") or None, object_id=target_id or None)
        row["agent_id"] = _config_owner(conn, scope, target_id)
    elif kind == "job" and row.get("agent_id") is None and source_id is not None:
        # A job of an instance belongs to the instance's agent; read it from the instance the model
        # names, since a deleted job's row is gone by now (job_agent would find no agent: host-wide).
        instance_id = model.get("tool_instance_id") if isinstance(model, dict) else None
        row["agent_id"] = (sql.job_agent(conn, source_id) if instance_id is None
                           else sql.instance_agent(conn, instance_id))
    if kind not in ("agent", "instance", "job", "config"):
        row["agent_id"] = None  # host-wide objects (tools, plugins, users, ...) belong to no agent
    return sql.insert(conn, row)


def job_run(conn: sqlite3.Connection, job_id: int, name: str, action: str) -> int:
    """A scheduled run changed a job (its last and next run, or its status): the scheduler's change."""
    return sql.insert(conn, {"kind": "job", "action": action, "object_id": str(job_id), "name": name,
                             "agent_id": sql.job_agent(conn, job_id), "actor": "scheduler"})


def agent_synced(conn: sqlite3.Connection, agent_id: int, name: str, actor: str) -> int:
    """sync_letta_agents added an agent, or linked or renamed one: the sync has one audit row (kind
    letta), and each agent it touched is also a change of that agent, so that followers of agents
    (and a user limited to that agent) hear of it."""
    return sql.insert(conn, {"kind": "agent", "action": "agent.sync", "object_id": str(agent_id), "name": name,
                             "agent_id": agent_id, "actor": actor})


def unaudited(conn: sqlite3.Connection, *, kind: str, action: str, object_id: Any, actor: str) -> int:
    """A change that writes no audit row (letta_status noting when a connection last answered)."""
    return sql.insert(conn, {"kind": kind, "action": action, "object_id": str(object_id), "actor": actor})


def carry_over(work: sqlite3.Connection, live: sqlite3.Connection) -> None:
    """For a restore, on the restored copy before its audit row: the feed goes on from the live
    database's (its rows and numbering, never backwards), not the copy's own."""
    sql.carry_over(work, live)


def _config_owner(conn: sqlite3.Connection, scope: str, target_id: str) -> int | None:
    if not target_id:
        return None
    if scope == "agent":
        return int(target_id)
    if scope == "instance":
        return sql.instance_agent(conn, target_id)
    return None
