"""sync_letta_agents: every agent Letta lists, added to the registry, renamed or linked to its Letta
id; agents Letta no longer lists are reported, never deleted."""

from __future__ import annotations

import sqlite3
from typing import Any

from sanctum_mcp.domain.agents import check_agent_name
from sanctum_mcp.domain.feed import record as feed
from sanctum_mcp.domain.letta.models import LettaSync, LettaUnavailable, SkippedAgent, SyncedAgent
from sanctum_mcp.domain.letta.probe import Failure, LettaHttp, Target, http_failure, items_of, json_of
from sanctum_mcp.domain.letta.urls import public_url
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.storage import agents as agents_sql
from sanctum_mcp.storage import letta as sql

AGENT_PAGE = 100
MAX_AGENT_PAGES = 1000


async def fetch_agents(http: LettaHttp, target: Target) -> list[dict[str, Any]]:
    """Every agent Letta lists (id, name, description), following `after` cursors."""
    agents: list[dict[str, Any]] = []
    seen: set[str] = set()
    after: str | None = None
    try:
        async with http.client(target) as client:
            for _ in range(MAX_AGENT_PAGES):
                params: dict[str, Any] = {"limit": AGENT_PAGE}
                if after:
                    params["after"] = after
                response, _ = await http.send(http.authed_get(client, target, "/v1/agents/", params), target)
                if response.status_code == 401:
                    raise http.auth_failure(target, "/v1/agents/")
                if response.status_code != 200:
                    raise http_failure(response, "/v1/agents/", target)
                page = items_of(json_of(response, "/v1/agents/"), "agents", "data", "items")
                if page is None:
                    raise Failure("bad-response", "GET /v1/agents/ did not answer a list of agents.", 200)
                fresh = 0
                for item in page:
                    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                        raise Failure("bad-response", "GET /v1/agents/ listed an agent without a string id.", 200)
                    if item["id"] in seen:
                        continue
                    seen.add(item["id"])
                    fresh += 1
                    agents.append({"id": item["id"], "name": item.get("name"),
                                   "description": item.get("description")})
                if len(page) < AGENT_PAGE or fresh == 0:
                    return agents
                after = page[-1]["id"]
    except Failure as exc:
        raise LettaUnavailable(f"sync_letta_agents could not list Letta's agents: {exc.message} "
                               "Nothing was changed; letta_status shows the connection's state.") from None
    return agents


def apply(conn: sqlite3.Connection, caller: Caller, target: Target, letta_agents: list[dict[str, Any]], *,
          dry_run: bool, now: str) -> LettaSync:
    """What sync_letta_agents changes, inside its transaction (a read one for a dry run): Letta's
    agents added, renamed or linked by id; never deleted (missing ones are listed)."""
    result = LettaSync(url=public_url(target.url), source=target.source, dry_run=dry_run,
                       letta_agents=len(letta_agents))
    rows = sql.agents_for_sync(conn)
    by_letta = {r["letta_id"]: r for r in rows if r["letta_id"]}
    by_name = {r["name"].casefold(): r for r in rows}
    claimed_names: set[str] = set()
    for agent in letta_agents:
        letta_id, name = agent["id"], agent["name"]
        if not isinstance(name, str):
            result.skipped.append(SkippedAgent(name=str(name), letta_id=letta_id, reason="Letta gave no name"))
            continue
        try:
            check_agent_name(name)
        except InvalidInput as exc:
            result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason=str(exc)))
            continue
        if name.casefold() in claimed_names:
            result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason="Letta has another agent "
                                               "with this name (ignoring case); rename one in Letta."))
            continue
        claimed_names.add(name.casefold())
        linked = by_letta.get(letta_id)
        same_name = by_name.get(name.casefold())
        if linked is not None:
            if linked["name"].casefold() == name.casefold():  # registry names ignore case
                result.unchanged.append(linked["name"])
            elif same_name is not None and same_name["id"] != linked["id"]:
                result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason=(
                    f"Letta renamed it from {linked['name']!r}, but another registry agent is named "
                    f"{same_name['name']!r}; rename or delete that one, then sync again.")))
            else:
                if not dry_run:
                    agents_sql.update(conn, linked["id"], {"name": name})
                result.updated.append(SyncedAgent(name=name, letta_id=letta_id, agent_id=linked["id"],
                                                  change=f"renamed from {linked['name']!r}"))
        elif same_name is not None:
            if same_name["letta_id"]:
                result.skipped.append(SkippedAgent(name=name, letta_id=letta_id, reason=(
                    f"registry agent {same_name['name']!r} is linked to another Letta id "
                    f"({same_name['letta_id']}); clear or fix its letta_id with update_agent first.")))
                continue
            if not dry_run:
                agents_sql.update(conn, same_name["id"], {"letta_id": letta_id})
            result.updated.append(SyncedAgent(name=same_name["name"], letta_id=letta_id,
                                              agent_id=same_name["id"], change="linked to its Letta id"))
        else:
            agent_id = None
            if not dry_run:
                description = agent["description"] if isinstance(agent["description"], str) else None
                agent_id = agents_sql.insert(conn, {"name": name, "letta_id": letta_id,
                                                    "description": description, "config": "{}",
                                                    "is_active": 1})
            result.added.append(SyncedAgent(name=name, letta_id=letta_id, agent_id=agent_id))
    listed = {a["id"] for a in letta_agents}
    result.missing = [SyncedAgent(name=r["name"], letta_id=r["letta_id"], agent_id=r["id"])
                      for r in rows if r["letta_id"] and r["letta_id"] not in listed]
    if target.server_id is not None and not dry_run:
        sql.set_last_connected(conn, target.server_id, now)
    if not dry_run and (result.added or result.updated):
        for synced in (*result.added, *result.updated):
            feed.agent_synced(conn, synced.agent_id, synced.name, caller.username)
        audit.record(conn, caller, action="letta.sync", source="letta", source_id=target.server_id,
                     message=f"synced {len(result.added)} added, {len(result.updated)} updated agents from "
                     f"{result.url}", after=result)
    return result
