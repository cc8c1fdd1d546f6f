"""Which agents own the objects a call names: the data behind permissions.agents.

An object belongs to an agent (an agent itself, its tool instances, the jobs scheduled for it or
for its instances) or to the whole host (a master instance, a job tied to no agent). Lookups by
name or by numeric id, as the tools accept them; the caller decides what an owner allows.
"""

from __future__ import annotations

import sqlite3

# Each query yields one row per owner: the owning agent's name, or NULL for host-wide.
_AGENT_BY_ID = "SELECT name AS owner FROM agents WHERE id = ?"
_INSTANCE_BY_ID = (
    "SELECT a.name AS owner FROM tool_instances i LEFT JOIN agents a ON a.id = i.agent_id WHERE i.id = ?"
)
_INSTANCES_BY_NAME = (
    "SELECT a.name AS owner FROM tool_instances i LEFT JOIN agents a ON a.id = i.agent_id WHERE i.name = ?"
)
_JOB = (
    "SELECT a.name AS agent, i.id AS instance, ia.name AS instance_agent FROM scheduled_jobs j "
    "LEFT JOIN agents a ON a.id = j.agent_id "
    "LEFT JOIN tool_instances i ON i.id = j.tool_instance_id "
    "LEFT JOIN agents ia ON ia.id = i.agent_id "
)


def agent_by_id(conn: sqlite3.Connection, agent_id: int) -> list[str | None]:
    return [row["owner"] for row in conn.execute(_AGENT_BY_ID, (agent_id,))]


def instance_owners(conn: sqlite3.Connection, ref: str, instance_id: int | None) -> list[str | None]:
    """Owners of the instance with this id, else of every instance with this name."""
    if instance_id is not None:
        rows = conn.execute(_INSTANCE_BY_ID, (instance_id,)).fetchall()
        if rows:
            return [row["owner"] for row in rows]
    return [row["owner"] for row in conn.execute(_INSTANCES_BY_NAME, (ref,))]


def job_owners(conn: sqlite3.Connection, ref: str, job_id: int | None) -> list[str | None]:
    """The agents a job acts for (directly and through its instance); [None] for a host-wide job."""
    row = conn.execute(_JOB + "WHERE j.name = ?", (ref,)).fetchone()
    if row is None and job_id is not None:
        row = conn.execute(_JOB + "WHERE j.id = ?", (job_id,)).fetchone()
    if row is None:
        return []
    owners = [name for name in (row["agent"], row["instance_agent"]) if name is not None]
    if row["instance"] is not None and row["instance_agent"] is None:
        owners.append(None)  # a master instance: host-wide
    return owners or [None]
