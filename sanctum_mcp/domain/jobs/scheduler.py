"""The in-process scheduler: runs due jobs and the registry's housekeeping.

One task per server process (started by the transports, see transports/background.py). It sleeps
until the earliest next_run of an active job (at most `max_sleep` seconds, so a job created by
another process on the same database is seen), or until a job change in this process wakes it.
It never polls once a second.

A run is CLAIMED before it is executed: a conditional UPDATE moves next_run past now only if it
still holds the value this pass read, so when two processes share a database exactly one of them
runs each occurrence. Occurrences missed while no scheduler was running are coalesced into one run,
with a 'job.missed' log row saying how many there were.

What a run does (see `execute`): if the job's tool instance belongs to a plugin registered from SMCP
(domain/smcp/commands.py decides, see
`plugin_runs.plugin_plan`), the plugin command is run by the SMCP contract with
a timeout; otherwise the run is recorded as due
for the job's agent ('job.due'). Every run leaves log rows (source 'job', source_id the job id).
A failed run puts the job in status Error; the reason is the message of its 'job.failed' row.

Housekeeping, at most once per `housekeeping_interval`: log retention (system setting
log_retention_days), removal of expired backups, and automatic backups (backup_schedule).
Time comes from the registry's clock, so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from sanctum_mcp.domain.backups.housekeeping import BackupHousekeeping
from sanctum_mcp.domain.feed import record as feed
from sanctum_mcp.domain.jobs import cron
from sanctum_mcp.domain.jobs.plugin_runs import failure_reason, kept_output, plugin_plan
from sanctum_mcp.domain.shared.clock import iso, parse_instant
from sanctum_mcp.domain.shared.errors import RegistryError
from sanctum_mcp.storage import jobs as sql
from sanctum_mcp.storage import logs as log_sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

log = logging.getLogger("sanctum_mcp.scheduler")

MAX_SLEEP = 60.0  # seconds; bounds how late a job created by another process is noticed
PLUGIN_TIMEOUT = 60.0  # seconds a plugin command may run
HOUSEKEEPING_INTERVAL = timedelta(hours=1)
CONCURRENT_RUNS = 4


@dataclass(frozen=True)
class Claim:
    """One occurrence of a job that this process has claimed and must now run."""

    job_id: int
    name: str
    scheduled_for: str
    ran_at: str
    missed: int
    next_run: str
    tool_instance_id: int | None
    tool_instance: str | None
    agent_id: int | None
    agent: str | None


class Scheduler:
    def __init__(
        self,
        registry: Registry,
        *,
        max_sleep: float = MAX_SLEEP,
        plugin_timeout: float = PLUGIN_TIMEOUT,
        housekeeping_interval: timedelta = HOUSEKEEPING_INTERVAL,
        python: str | None = None,
    ) -> None:
        # Its collaborators, named once here: the database and clock, the wake-up that job changes
        # set, the secrets that decrypt a run's arguments, and the services whose housekeeping it runs.
        self.db, self.clock, self.secrets = registry.db, registry.clock, registry.secrets
        self.wakeup = registry.wakeup
        self.logs, self.backups = registry.logs, BackupHousekeeping(registry.db, registry.backups)
        self.max_sleep = max_sleep
        self.plugin_timeout = plugin_timeout
        self.housekeeping_interval = housekeeping_interval
        self.python = python
        self.started_at: datetime | None = None
        self.next_housekeeping: datetime | None = None
        self.passes = 0
        self.sleeping = False  # True while run() waits for the next due time or a wake-up
        self._pass_done: anyio.Event | None = None

    # --- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled."""
        self.started_at = self.clock()
        log.info("scheduler started")
        while True:
            try:
                delay = await self.tick()
            except Exception:  # one bad pass must not stop scheduling
                log.exception("scheduler pass failed")
                delay = self.max_sleep
            self.sleeping = True
            try:
                await self.wakeup.wait(delay)
            finally:
                self.sleeping = False

    async def tick(self) -> float:
        """One pass: run what is due, do housekeeping; return the seconds to sleep before the next."""
        now = self.clock()
        if self.started_at is None:
            self.started_at = now
        due = await self.find_due(now)
        claimed = 0
        if due:
            limiter = anyio.CapacityLimiter(CONCURRENT_RUNS)
            results: list[bool] = []

            async def one(row: sqlite3.Row) -> None:
                async with limiter:
                    results.append(await self.run_job(row, now))

            async with anyio.create_task_group() as tg:
                for row in due:
                    tg.start_soon(one, row)
            claimed = sum(results)
        await self.housekeeping(now)
        delay = await self.seconds_until_next(self.clock())
        if delay <= 0 and due and not claimed:
            delay = 1.0  # due rows that could not be claimed: never spin
        self.passes += 1
        if self._pass_done is not None:
            self._pass_done.set()
        return delay

    async def wait_for_pass(self) -> None:
        """Wait until the running loop finishes its next pass (for tests and tools that need it)."""
        self._pass_done = anyio.Event()
        await self._pass_done.wait()

    async def seconds_until_next(self, now: datetime) -> float:
        candidates = [self.max_sleep]
        earliest = await self.db.read(sql.earliest_next_run)
        if earliest is not None:
            candidates.append((parse_instant(earliest, field="next_run") - now).total_seconds())
        if self.next_housekeeping is not None:
            candidates.append((self.next_housekeeping - now).total_seconds())
        auto = await self.backups.next_auto_backup(now)
        if auto is not None:
            candidates.append((auto - now).total_seconds())
        return max(0.0, min(candidates))

    # --- jobs --------------------------------------------------------------------------------

    async def find_due(self, now: datetime) -> list[sqlite3.Row]:
        return await self.db.read(sql.due, iso(now))

    async def run_job(self, row: sqlite3.Row, now: datetime) -> bool:
        claim = await self.claim(row, now)
        if claim is None:
            return False
        try:
            await self.execute(claim)
        except Exception as exc:  # a bug or an unreadable row: record it on the job, keep scheduling
            log.exception("job %r failed unexpectedly", claim.name)
            await self._finish(claim, ok=False, action="job.failed",
                               message=f"job {claim.name!r} failed: unexpected {type(exc).__name__}", details={})
        return True

    async def claim(self, row: sqlite3.Row, now: datetime) -> Claim | None:
        """Claim the occurrence due at row['next_run']; None if another process (or a change) got there first."""
        scheduled_for = row["next_run"]
        try:
            missed_total = cron.count_between(
                row["cron_expression"], row["timezone"], parse_instant(scheduled_for, field="next_run"), now
            )
            next_run = iso(cron.next_after(row["cron_expression"], row["timezone"], now))
        except RegistryError as exc:
            await self.db.write(self._fail_unschedulable, row, str(exc), now)
            return None
        ran_at = iso(now)

        def tx(conn: sqlite3.Connection) -> Claim | None:
            if not sql.claim(conn, row["id"], expected_next_run=scheduled_for, next_run=next_run, last_run=ran_at):
                return None
            sql.sync_instance_schedule(conn, row["tool_instance_id"], last_run=ran_at)
            feed.job_run(conn, row["id"], row["name"], "job.run")  # its last and next run moved
            missed = max(0, missed_total - 1)
            if missed:
                counted = f"at least {missed}" if missed_total >= cron.MAX_COUNT else str(missed)
                _log(conn, "WARNING", row["id"], "job.missed", ran_at,
                     f"job {row['name']!r} missed {counted} run(s) due from {scheduled_for} while no scheduler "
                     f"was running; they were coalesced into one run at {ran_at}",
                     {"job": row["name"], "missed": missed, "first_missed": scheduled_for, "ran_at": ran_at})
            return Claim(
                job_id=row["id"], name=row["name"], scheduled_for=scheduled_for, ran_at=ran_at, missed=missed,
                next_run=next_run, tool_instance_id=row["tool_instance_id"], tool_instance=row["instance_name"],
                agent_id=row["agent_id"] if row["agent_id"] is not None else row["instance_agent_id"],
                agent=row["agent_name"],
            )

        return await self.db.write(tx)

    def _fail_unschedulable(self, conn: sqlite3.Connection, row: sqlite3.Row, reason: str, now: datetime) -> None:
        if conn.execute("UPDATE scheduled_jobs SET status = 'Error', next_run = NULL WHERE id = ? AND status = 'Active'",
                        (row["id"],)).rowcount:
            feed.job_run(conn, row["id"], row["name"], "job.failed")
        _log(conn, "ERROR", row["id"], "job.failed", iso(now), f"job {row['name']!r} failed: {reason}", {"job": row["name"]})

    async def execute(self, claim: Claim) -> None:
        """Do what the claimed run means: run its SMCP plugin command, or record it as due for its agent."""
        plan = None
        if claim.tool_instance_id is not None:
            plan = await self.db.read(partial(plugin_plan, box=self.secrets), claim.tool_instance_id)
        base = {"job": claim.name, "scheduled_for": claim.scheduled_for, "missed": claim.missed,
                "tool_instance": claim.tool_instance, "agent": await self._agent_name(claim)}
        if plan is None:
            who = f"agent {base['agent']!r}" if base["agent"] else "no agent (its tool instance has no SMCP plugin)"
            await self._finish(claim, ok=True, action="job.due", message=f"job {claim.name!r} is due for {who}",
                               details=base | {"agent_id": claim.agent_id})
            return
        base |= {"plugin": plan.plugin or None, "command": plan.command or None}
        if plan.problem is not None:
            await self._finish(claim, ok=False, action="job.failed", message=f"job {claim.name!r} failed: {plan.problem}",
                               details=base)
            return
        from sanctum_mcp.domain.smcp.contract import run_plugin

        run = await anyio.to_thread.run_sync(
            partial(run_plugin, Path(plan.plugin_dir), plan.argv, timeout=self.plugin_timeout,
                    python=self.python or plan.python)
        )
        details = base | {"exit_code": run.exit_code} | kept_output(plan, run)
        reason = failure_reason(plan, run)
        tool = f"{plan.plugin}__{plan.command}"
        if reason is None:
            await self._finish(claim, ok=True, action="job.run", message=f"job {claim.name!r} ran {tool} (exit code 0)",
                               details=details)
        else:
            await self._finish(claim, ok=False, action="job.failed",
                               message=f"job {claim.name!r} failed running {tool}: {reason}", details=details)

    async def _agent_name(self, claim: Claim) -> str | None:
        if claim.agent or claim.agent_id is None:
            return claim.agent
        row = await self.db.read(
            lambda conn: conn.execute("SELECT name FROM agents WHERE id = ?", (claim.agent_id,)).fetchone()
        )
        return row[0] if row else None

    async def _finish(self, claim: Claim, *, ok: bool, action: str, message: str, details: dict[str, Any]) -> None:
        at = iso(self.clock())

        def tx(conn: sqlite3.Connection) -> None:
            _log(conn, "INFO" if ok else "ERROR", claim.job_id, action, at, message, details)
            if not ok:
                conn.execute("UPDATE scheduled_jobs SET status = 'Error', next_run = NULL WHERE id = ?", (claim.job_id,))
                sql.sync_instance_schedule(conn, claim.tool_instance_id)
                feed.job_run(conn, claim.job_id, claim.name, "job.failed")

        await self.db.write(tx)
        (log.info if ok else log.warning)("%s", message)

    # --- housekeeping ------------------------------------------------------------------------

    async def housekeeping(self, now: datetime) -> None:
        if self.next_housekeeping is None or now >= self.next_housekeeping:
            self.next_housekeeping = now + self.housekeeping_interval
            for step in (self.logs.apply_retention, self.backups.remove_expired,
                         self.backups.fail_interrupted):
                try:
                    await step(now)
                except Exception:
                    log.exception("housekeeping step %s failed", step.__name__)
        try:
            await self.backups.auto_backup(now, since=self.started_at or now)
        except Exception:
            log.exception("automatic backup failed")


def _log(conn: sqlite3.Connection, level: str, job_id: int, action: str, at: str, message: str, details: dict[str, Any]) -> None:
    log_sql.insert(conn, {
        "level": level, "source": "job", "source_id": str(job_id), "action": action, "message": message,
        "details": json.dumps(details, separators=(",", ":"), default=str), "created_at": at,
    })
