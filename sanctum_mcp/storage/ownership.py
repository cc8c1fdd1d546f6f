"""Which agents own the objects a call names or reaches: the data behind permissions.agents.

An object belongs to an agent (an agent itself, its tool instances, the jobs scheduled for it or
for its instances) or to the whole host (a master instance, a job tied to no agent). Lookups by
name or by numeric id, as the tools accept them; the caller decides what an owner allows. The
`*_reach` queries list what a cascade or a change to a shared object (a tool, a plugin) acts on.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

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


# --- what a change reaches besides what it names ---------------------------------------------------
# Rows of (kind, name, owner): every instance and job a cascade or a shared switch acts on, one row
# per owner (a job acts for its agent and for its instance's agent; NULL owner = host-wide).


class Reach(NamedTuple):
    kind: str  # 'instance', 'job' or 'plugin' (a plugin linked to the agent)
    name: str
    owner: str | None


def _reach(conn: sqlite3.Connection, instances: str, jobs: str, params: tuple[Any, ...],
           job_params: tuple[Any, ...]) -> list[Reach]:
    """`instances` and `jobs` are subqueries of this module (never input) selecting the ids acted on."""
    rows = conn.execute(
        "SELECT 'instance', i.name, a.name FROM tool_instances i LEFT JOIN agents a ON a.id = i.agent_id "
        f"WHERE i.id IN ({instances}) "
        "UNION ALL "
        "SELECT 'job', j.name, a.name FROM scheduled_jobs j JOIN agents a ON a.id = j.agent_id "
        f"WHERE j.id IN ({jobs}) "
        "UNION ALL "
        "SELECT 'job', j.name, a.name FROM scheduled_jobs j JOIN tool_instances i ON i.id = j.tool_instance_id "
        f"LEFT JOIN agents a ON a.id = i.agent_id WHERE j.id IN ({jobs})",
        (*params, *job_params, *job_params),
    )
    return [Reach(*row) for row in rows]


def tool_reach(conn: sqlite3.Connection, tool_id: int) -> list[Reach]:
    """The instances of a tool and the jobs that run them."""
    of_tool = "SELECT id FROM tool_instances WHERE tool_id = ?"
    return _reach(conn, of_tool, f"SELECT id FROM scheduled_jobs WHERE tool_instance_id IN ({of_tool})",
                  (tool_id,), (tool_id,))


def instance_reach(conn: sqlite3.Connection, instance_id: int) -> list[Reach]:
    """An instance and the jobs that run it."""
    return _reach(conn, "?", "SELECT id FROM scheduled_jobs WHERE tool_instance_id = ?", (instance_id,), (instance_id,))


def agent_reach(conn: sqlite3.Connection, agent_id: int) -> list[Reach]:
    """What deleting an agent takes with it: its instances, its jobs and the jobs running its instances."""
    of_agent = "SELECT id FROM tool_instances WHERE agent_id = ?"
    return _reach(conn, of_agent,
                  f"SELECT id FROM scheduled_jobs WHERE agent_id = ? OR tool_instance_id IN ({of_agent})",
                  (agent_id,), (agent_id, agent_id))


def plugin_reach(conn: sqlite3.Connection, plugin_ids: list[int]) -> list[Reach]:
    """What plugins are used by: the agents linked to them, and the instances (and their jobs) of
    the tools linked to them, which run the plugin's commands."""
    ids = json.dumps(plugin_ids)
    linked = [
        Reach("plugin", plugin, agent)
        for plugin, agent in conn.execute(
            "SELECT p.name, a.name FROM plugin_links l JOIN plugins p ON p.id = l.plugin_id "
            "JOIN agents a ON a.id = l.agent_id WHERE l.plugin_id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
    ]
    of_tools = ("SELECT id FROM tool_instances WHERE tool_id IN "
                "(SELECT tool_id FROM plugin_links WHERE plugin_id IN (SELECT value FROM json_each(?)))")
    return linked + _reach(conn, of_tools, f"SELECT id FROM scheduled_jobs WHERE tool_instance_id IN ({of_tools})",
                           (ids,), (ids,))
