"""Scheduled job tools."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sanctum_mcp.catalogue.base import Call, ToolInput, tool
from sanctum_mcp.domain.jobs.models import DeletedJob, Job, JobPage, JobRunPreview, JobStatus

JobRef = Field(description="The job's name (any case), or its numeric id.")
CRON_HELP = (
    "Cron expression with 5 fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *' (03:00 every "
    "day) or '*/15 * * * 1-5' (every 15 minutes on weekdays); @hourly, @daily, @weekly, @monthly, @yearly also work."
)
TZ_HELP = "IANA time zone the expression is read in, e.g. 'Europe/Paris' or 'America/New_York' (default UTC)."


class ListJobs(ToolInput):
    agent: str | None = Field(default=None, description="Only jobs for this agent (name or id), directly or through their tool instance.")
    status: JobStatus | None = Field(default=None, description="Only jobs with this status: Active, Paused or Error.")
    due_before: str | None = Field(
        default=None, description="Only jobs whose next run is at or before this ISO-8601 time, e.g. '2026-03-08T12:00:00Z'."
    )
    cursor: str | None = Field(default=None, description="next_cursor from the previous page; omit for the first page.")
    limit: int = Field(default=50, ge=1, le=500, description="Jobs per page (1-500).")


def _the_job(args: Any) -> list[tuple[str, Any]]:
    # permissions.agents: a job belongs to its agent and to its instance's agent.
    return [("job", args.job)]


def _new_job(args: Any) -> list[tuple[str, Any]]:
    # A job for no agent and no instance would be host-wide.
    if args.agent in (None, "") and args.tool_instance in (None, ""):
        return [("host", "a job for no agent or tool instance")]
    return [("instance", args.tool_instance)]


@tool("list_jobs", title="List scheduled jobs", group="Jobs", role="viewer", read_only=True, idempotent=True,
      agents=("agent",))
async def list_jobs(call: Call, args: ListJobs) -> JobPage:
    """List scheduled jobs by name, one page at a time, with their cron expression, time zone, status,
    last and next run (UTC). Filter by agent, status, or due_before to see what runs soon."""
    return await call.registry.jobs.list(agent=args.agent, status=args.status, due_before=args.due_before,
                                         cursor=args.cursor, limit=args.limit)


class GetJob(ToolInput):
    job: str = JobRef


@tool("get_job", title="Get a scheduled job", group="Jobs", role="viewer", read_only=True, idempotent=True,
      owned=_the_job)
async def get_job(call: Call, args: GetJob) -> Job:
    """Show one scheduled job, including why its last run failed when its status is Error."""
    return await call.registry.jobs.get(args.job)


class CreateJob(ToolInput):
    name: str = Field(min_length=1, max_length=100, description="Unique job name, case-insensitive.")
    cron_expression: str = Field(min_length=1, max_length=200, description=CRON_HELP)
    tool_instance: str | None = Field(
        default=None,
        description="Tool instance to run (id or name). If it belongs to an SMCP plugin, each run executes the "
        "command in the instance's config ('command' and 'arguments').",
    )
    agent: str | None = Field(default=None, description="Agent the job is for (name or id); runs without a plugin fall due for it.")
    description: str | None = Field(default=None, max_length=2000, description="What the job is for.")
    timezone: str | None = Field(default=None, max_length=64, description=TZ_HELP)
    enabled: bool = Field(default=True, description="false: created but not scheduled until enabled with update_job.")


@tool("create_job", title="Create a scheduled job", group="Jobs", role="user", read_only=False, agents=("agent",),
      owned=_new_job)
async def create_job(call: Call, args: CreateJob) -> Job:
    """Schedule a job with a cron expression. It needs a tool_instance or an agent (or both).
    Returns the job with its next_run in UTC; use preview_job_runs first to check the times."""
    values = args.model_dump(exclude_none=True)
    return await call.registry.jobs.create(call.caller, values)


class UpdateJob(ToolInput):
    job: str = JobRef
    name: str | None = Field(default=None, min_length=1, max_length=100, description="New name.")
    cron_expression: str | None = Field(default=None, min_length=1, max_length=200, description="New expression. " + CRON_HELP)
    timezone: str | None = Field(default=None, max_length=64, description="New time zone. " + TZ_HELP)
    tool_instance: str | None = Field(default=None, description="New tool instance (id or name); '' removes it.")
    agent: str | None = Field(default=None, description="New agent (name or id); '' removes it.")
    description: str | None = Field(default=None, max_length=2000, description="New description.")
    enabled: bool | None = Field(default=None, description="Enable or disable the job.")


@tool("update_job", title="Update a scheduled job", group="Jobs", role="user", read_only=False, idempotent=True,
      agents=("agent",), owned=lambda args: [("job", args.job), ("instance", args.tool_instance)])
async def update_job(call: Call, args: UpdateJob) -> Job:
    """Change some fields of a job; fields left out stay. A new expression, time zone or enabled flag
    recomputes next_run from now."""
    changes = args.model_dump(exclude_none=True, exclude={"job"})
    return await call.registry.jobs.update(call.caller, args.job, changes)


class JobOnly(ToolInput):
    job: str = JobRef


@tool("pause_job", title="Pause a scheduled job", group="Jobs", role="user", read_only=False, idempotent=True,
      owned=_the_job)
async def pause_job(call: Call, args: JobOnly) -> Job:
    """Stop a job from running (status Paused, no next_run) until resume_job."""
    return await call.registry.jobs.pause(call.caller, args.job)


@tool("resume_job", title="Resume a scheduled job", group="Jobs", role="user", read_only=False, idempotent=True,
      owned=_the_job)
async def resume_job(call: Call, args: JobOnly) -> Job:
    """Make a Paused job (or one in Error, once its cause is fixed) Active again; next_run is computed
    from now, so runs missed while paused are not made up."""
    return await call.registry.jobs.resume(call.caller, args.job)


@tool("delete_job", title="Delete a scheduled job", group="Jobs", role="user", read_only=False, destructive=True,
      owned=_the_job)
async def delete_job(call: Call, args: JobOnly) -> DeletedJob:
    """Delete a scheduled job. Its past runs stay in the logs (query_logs source=job)."""
    return await call.registry.jobs.delete(call.caller, args.job)


class PreviewJobRuns(ToolInput):
    cron_expression: str | None = Field(default=None, max_length=200, description="An expression to try (or give job). " + CRON_HELP)
    job: str | None = Field(default=None, description="An existing job (name or id) whose next runs to show, instead of cron_expression.")
    timezone: str | None = Field(default=None, max_length=64, description="With cron_expression: " + TZ_HELP)
    count: int = Field(default=5, ge=1, le=100, description="How many upcoming runs to list (1-100).")
    after: str | None = Field(default=None, description="List runs after this ISO-8601 time instead of now, e.g. '2026-11-01T00:00:00Z'.")


@tool("preview_job_runs", title="Preview a schedule", group="Jobs", role="viewer", read_only=True, idempotent=True,
      owned=_the_job)
async def preview_job_runs(call: Call, args: PreviewJobRuns) -> JobRunPreview:
    """List the next run times of a cron expression (or of an existing job) in UTC and in local time,
    including across daylight-saving changes. Changes nothing."""
    return await call.registry.jobs.preview(cron_expression=args.cron_expression, job=args.job,
                                            timezone=args.timezone, count=args.count, after=args.after)
