"""JobService: the job tools (list, get, preview, create, update, pause, resume, delete).

A job's next_run is computed from its cron expression in its own time zone and stored in UTC. Every
mutation recomputes it from the registry's clock where needed, keeps its tool instance's
last_run/next_run in step, and wakes the in-process scheduler (jobs/scheduler.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.agents import resolve as resolve_agent
from sanctum_mcp.domain.jobs import cron
from sanctum_mcp.domain.jobs.models import DeletedJob, Job, JobPage, JobRunPreview
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.clock import iso, parse_instant
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.names import check_name_characters
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.shared.references import as_id, looks_like_id
from sanctum_mcp.storage import jobs as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.jobs.wakeup import Wakeup
    from sanctum_mcp.storage.database import Database

MAX_NAME = 100
MAX_PREVIEW = 100


def resolve(conn: sqlite3.Connection, job: str) -> sqlite3.Row:
    row = sql.get_by_name(conn, job)
    job_id = as_id(job)
    if row is None and job_id is not None:
        row = sql.get_by_id(conn, job_id)
    if row is None:
        raise NotFound(f"no scheduled job named {job!r}; call list_jobs to see the jobs.")
    return row


def resolve_instance(conn: sqlite3.Connection, ref: str, agent_id: int | None) -> sqlite3.Row:
    """A tool instance by numeric id, or by name (narrowed to the agent when one is given)."""
    instance_id = as_id(ref)
    if instance_id is not None:
        row = sql.instance_by_id(conn, instance_id)
        if row is not None:
            return row
    rows = sql.instances_by_name(conn, ref)
    if agent_id is not None and len(rows) > 1:
        rows = [r for r in rows if r["agent_id"] == agent_id] or rows
    if not rows:
        raise NotFound(f"no tool instance named {ref!r}; give the instance's id or exact name.")
    if len(rows) > 1:
        listed = ", ".join(f"id {r['id']} (agent {r['agent_name'] or 'master'})" for r in rows)
        raise InvalidInput(f"several tool instances are named {ref!r}: {listed}. Give the id instead.")
    return rows[0]


def _check_name(name: str) -> str:
    check_name_characters(name, "job")
    if not name or name != name.strip():
        raise InvalidInput(f"job name {name!r} must be non-empty and have no surrounding spaces.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"job name is {len(name)} characters long; the limit is {MAX_NAME}.")
    if looks_like_id(name):
        raise InvalidInput(f"job name {name!r} cannot be all digits (digits address jobs by id).")
    return name


class JobService:
    PAGE_DEFAULT = 50

    def __init__(self, db: Database, clock: Callable[[], datetime], wakeup: Wakeup) -> None:
        self.db = db
        self.clock = clock
        # Set after every change to jobs, so a sleeping scheduler re-reads the earliest next_run.
        self.wakeup = wakeup

    # --- reads -------------------------------------------------------------------------------

    async def list(
        self,
        *,
        agent: str | None = None,
        status: str | None = None,
        due_before: str | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> JobPage:
        key = decode_cursor("list_jobs", cursor, arity=2)
        due = iso(parse_instant(due_before, field="due_before")) if due_before is not None else None

        def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            agent_id = resolve_agent(conn, agent)["id"] if agent is not None else None
            return sql.page(conn, agent_id=agent_id, status=status, due_before=due,
                            after=(key[0], key[1]) if key else None, limit=limit + 1)

        rows = await self.db.read(read)
        jobs = [Job.from_row(r) for r in rows[:limit]]
        next_cursor = encode_cursor("list_jobs", [jobs[-1].name, jobs[-1].id]) if len(rows) > limit else None
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    async def get(self, job: str) -> Job:
        return Job.from_row(await self.db.read(resolve, job))

    async def preview(
        self,
        *,
        cron_expression: str | None,
        job: str | None,
        timezone: str | None,
        count: int,
        after: str | None,
    ) -> JobRunPreview:
        if (cron_expression is None) == (job is None):
            raise InvalidInput("give exactly one of cron_expression (to try an expression) or job (an existing job's name).")
        if not 1 <= count <= MAX_PREVIEW:
            raise InvalidInput(f"count must be between 1 and {MAX_PREVIEW}.")
        if job is not None:
            if timezone is not None:
                raise InvalidInput("timezone goes with cron_expression; a job's preview uses the job's own time zone.")
            row = await self.db.read(resolve, job)
            expression, zone_name = row["cron_expression"], row["timezone"]
        else:
            expression, zone_name = cron_expression, timezone or "UTC"
        start = parse_instant(after, field="after") if after is not None else self.clock()
        runs = cron.upcoming(expression, zone_name, start, count)
        tz = cron.zone(zone_name)
        return JobRunPreview(
            cron_expression=expression,
            timezone=zone_name,
            after=iso(start),
            runs_utc=[iso(r) for r in runs],
            runs_local=[r.astimezone(tz).isoformat() for r in runs],
        )

    # --- mutations ---------------------------------------------------------------------------

    async def create(self, caller: Caller, values: dict[str, Any]) -> Job:
        name = _check_name(values["name"])
        expression = cron.check(values["cron_expression"])
        zone_name = values.get("timezone") or "UTC"
        cron.zone(zone_name)
        enabled = values.get("enabled", True)
        now = self.clock()
        next_run = iso(cron.next_after(expression, zone_name, now)) if enabled else None

        def tx(conn: sqlite3.Connection) -> Job:
            existing = sql.get_by_name(conn, name)
            if existing is not None:
                raise Conflict(
                    f"a job named {existing['name']!r} already exists (names ignore case); choose another "
                    "name or change that job with update_job."
                )
            agent_id, instance_id = _targets(conn, values.get("agent"), values.get("tool_instance"))
            job_id = sql.insert(conn, {
                "name": name,
                "description": values.get("description"),
                "cron_expression": expression,
                "timezone": zone_name,
                "tool_instance_id": instance_id,
                "agent_id": agent_id,
                "status": "Active",
                "next_run": next_run,
                "is_enabled": int(enabled),
            })
            sql.sync_instance_schedule(conn, instance_id)
            created = Job.from_row(sql.get_by_id(conn, job_id))
            audit.record(conn, caller, action="job.create", source="job", source_id=job_id,
                         message=f"job {name!r} created ({expression!r}, {zone_name})", after=created)
            return created

        return await self._write(tx)

    async def update(self, caller: Caller, job: str, changes: dict[str, Any]) -> Job:
        if "name" in changes:
            _check_name(changes["name"])
        if "cron_expression" in changes:
            cron.check(changes["cron_expression"])
        if "timezone" in changes:
            cron.zone(changes["timezone"])
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> Job:
            row = resolve(conn, job)
            before = Job.from_row(row)
            if "name" in changes:
                clash = sql.get_by_name(conn, changes["name"])
                if clash is not None and clash["id"] != row["id"]:
                    raise Conflict(f"another job is already named {clash['name']!r}; choose another name.")
            columns: dict[str, Any] = {k: changes[k] for k in ("name", "description", "cron_expression", "timezone") if k in changes}
            if "agent" in changes or "tool_instance" in changes:
                agent_ref = changes["agent"] if "agent" in changes else _kept(row["agent_id"])
                instance_ref = changes["tool_instance"] if "tool_instance" in changes else _kept(row["tool_instance_id"])
                columns["agent_id"], columns["tool_instance_id"] = _targets(conn, agent_ref, instance_ref)
            if "enabled" in changes:
                columns["is_enabled"] = int(changes["enabled"])
            expression = columns.get("cron_expression", row["cron_expression"])
            zone_name = columns.get("timezone", row["timezone"])
            enabled = bool(columns.get("is_enabled", row["is_enabled"]))
            schedule_changed = any(k in columns for k in ("cron_expression", "timezone", "is_enabled"))
            if schedule_changed:
                runnable = enabled and row["status"] == "Active"
                columns["next_run"] = iso(cron.next_after(expression, zone_name, now)) if runnable else None
            sql.update(conn, row["id"], columns)
            sql.sync_instance_schedule(conn, row["tool_instance_id"])
            sql.sync_instance_schedule(conn, columns.get("tool_instance_id"))
            after = Job.from_row(sql.get_by_id(conn, row["id"]))
            audit.record(conn, caller, action="job.update", source="job", source_id=row["id"],
                         message=f"job {after.name!r} updated", before=before, after=after)
            return after

        return await self._write(tx)

    async def pause(self, caller: Caller, job: str) -> Job:
        def tx(conn: sqlite3.Connection) -> Job:
            row = resolve(conn, job)
            before = Job.from_row(row)
            sql.update(conn, row["id"], {"status": "Paused", "next_run": None})
            sql.sync_instance_schedule(conn, row["tool_instance_id"])
            after = Job.from_row(sql.get_by_id(conn, row["id"]))
            audit.record(conn, caller, action="job.pause", source="job", source_id=row["id"],
                         message=f"job {after.name!r} paused", before=before, after=after)
            return after

        return await self._write(tx)

    async def resume(self, caller: Caller, job: str) -> Job:
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> Job:
            row = resolve(conn, job)
            before = Job.from_row(row)
            next_run = iso(cron.next_after(row["cron_expression"], row["timezone"], now)) if row["is_enabled"] else None
            sql.update(conn, row["id"], {"status": "Active", "next_run": next_run})
            sql.sync_instance_schedule(conn, row["tool_instance_id"])
            after = Job.from_row(sql.get_by_id(conn, row["id"]))
            note = "" if row["is_enabled"] else " (it stays disabled: update_job enabled=true to let it run)"
            audit.record(conn, caller, action="job.resume", source="job", source_id=row["id"],
                         message=f"job {after.name!r} resumed{note}", before=before, after=after)
            return after

        return await self._write(tx)

    async def delete(self, caller: Caller, job: str) -> DeletedJob:
        def tx(conn: sqlite3.Connection) -> DeletedJob:
            row = resolve(conn, job)
            before = Job.from_row(row)
            sql.delete(conn, row["id"])
            sql.sync_instance_schedule(conn, row["tool_instance_id"])
            audit.record(conn, caller, action="job.delete", source="job", source_id=row["id"],
                         message=f"job {before.name!r} deleted", before=before)
            return DeletedJob(deleted=before)

        return await self._write(tx)

    async def _write(self, tx):
        result = await self.db.write(tx)
        self.wakeup.set()
        return result


class _keep(int):
    """An existing reference kept as it is (an id, not something to resolve by name)."""


def _kept(existing: int | None) -> _keep | None:
    return None if existing is None else _keep(existing)


def _targets(conn: sqlite3.Connection, agent: Any, instance: Any) -> tuple[int | None, int | None]:
    """Resolve (agent, tool instance) references to ids; '' or None means none. At least one is needed,
    and an instance that belongs to an agent must belong to the job's agent."""
    agent_id: int | None = None
    agent_name: str | None = None
    if isinstance(agent, _keep):
        agent_id = int(agent)
    elif agent:
        found = resolve_agent(conn, agent)
        agent_id, agent_name = found["id"], found["name"]
    instance_row = None
    if isinstance(instance, _keep):
        instance_row = sql.instance_by_id(conn, int(instance))
    elif instance:
        instance_row = resolve_instance(conn, instance, agent_id)
    if agent_id is None and instance_row is None:
        raise InvalidInput(
            "a job needs a tool_instance (to run its plugin command) or an agent (to fall due for it); "
            "give at least one."
        )
    if instance_row is not None and agent_id is not None and instance_row["agent_id"] not in (None, agent_id):
        raise InvalidInput(
            f"tool instance {instance_row['name']!r} (id {instance_row['id']}) belongs to agent "
            f"{instance_row['agent_name']!r}, not {agent_name or agent_id!r}; give that agent, or leave agent out."
        )
    return agent_id, (instance_row["id"] if instance_row is not None else None)


def parse_stored(value: str) -> datetime:
    """A timestamp as stored by iso()."""
    return parse_instant(value, field="stored timestamp")
