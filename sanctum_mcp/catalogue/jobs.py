"""Scheduled job tools."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sanctum_mcp.catalogue.base import Call, ToolInput, tool
from sanctum_mcp.domain.jobs.models import DeletedJob, Job, JobPage, JobRunPreview, JobStatus

JobRef = Field(description="Name or id.")
CRON_HELP = "Cron, e.g. '0 3 * * *' or @daily."
TZ_HELP = "IANA zone (default UTC)."


class ListJobs(ToolInput):
    agent: str | None = Field(default=None, description="Only this agent's (name or id), also via their instance.")
    status: JobStatus | None = None
    due_before: str | None = Field(default=None, description="Only jobs next due by this ISO-8601 time.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


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
    """List scheduled jobs by name, with status and next run."""
    return await call.registry.jobs.list(agent=args.agent, status=args.status, due_before=args.due_before,
                                         cursor=args.cursor, limit=args.limit)


class GetJob(ToolInput):
    job: str = JobRef


@tool("get_job", title="Get a scheduled job", group="Jobs", role="viewer", read_only=True, idempotent=True,
      owned=_the_job)
async def get_job(call: Call, args: GetJob) -> Job:
    """Show one scheduled job, with why its last run failed if in Error."""
    return await call.registry.jobs.get(args.job)


class CreateJob(ToolInput):
    name: str = Field(min_length=1, max_length=100, description="Unique, any case.")
    cron_expression: str = Field(min_length=1, max_length=200, description=CRON_HELP)
    tool_instance: str | None = Field(
        default=None,
        description="Id or name; an SMCP one runs its config's command.",
    )
    agent: str | None = Field(default=None, description="Name or id.")
    description: str | None = Field(default=None, max_length=2000)
    timezone: str | None = Field(default=None, max_length=64, description=TZ_HELP)
    enabled: bool = Field(default=True, description="false: not scheduled until enabled.")


@tool("create_job", title="Create a scheduled job", group="Jobs", role="user", read_only=False, agents=("agent",),
      owned=_new_job)
async def create_job(call: Call, args: CreateJob) -> Job:
    """Schedule a job for a tool_instance and/or an agent."""
    values = args.model_dump(exclude_none=True)
    return await call.registry.jobs.create(call.caller, values)


class UpdateJob(ToolInput):
    job: str = JobRef
    name: str | None = Field(default=None, min_length=1, max_length=100)
    cron_expression: str | None = Field(default=None, min_length=1, max_length=200, description=CRON_HELP)
    timezone: str | None = Field(default=None, max_length=64, description=TZ_HELP)
    tool_instance: str | None = Field(default=None, description="Id or name; '' removes it.")
    agent: str | None = Field(default=None, description="Name or id; '' removes it.")
    description: str | None = Field(default=None, max_length=2000)
    enabled: bool | None = None


@tool("update_job", title="Update a scheduled job", group="Jobs", role="user", read_only=False, idempotent=True,
      agents=("agent",), owned=lambda args: [("job", args.job), ("instance", args.tool_instance)])
async def update_job(call: Call, args: UpdateJob) -> Job:
    """Change a job's fields; those left out stay. next_run is recomputed from now."""
    changes = args.model_dump(exclude_none=True, exclude={"job"})
    return await call.registry.jobs.update(call.caller, args.job, changes)


class JobOnly(ToolInput):
    job: str = JobRef


@tool("pause_job", title="Pause a scheduled job", group="Jobs", role="user", read_only=False, idempotent=True,
      owned=_the_job)
async def pause_job(call: Call, args: JobOnly) -> Job:
    """Stop a job from running (Paused) until resume_job."""
    return await call.registry.jobs.pause(call.caller, args.job)


@tool("resume_job", title="Resume a scheduled job", group="Jobs", role="user", read_only=False, idempotent=True,
      owned=_the_job)
async def resume_job(call: Call, args: JobOnly) -> Job:
    """Make a Paused or Error job Active again; missed runs are not made up."""
    return await call.registry.jobs.resume(call.caller, args.job)


@tool("delete_job", title="Delete a scheduled job", group="Jobs", role="user", read_only=False, destructive=True,
      owned=_the_job)
async def delete_job(call: Call, args: JobOnly) -> DeletedJob:
    """Delete a scheduled job; its past runs stay in the logs."""
    return await call.registry.jobs.delete(call.caller, args.job)


class PreviewJobRuns(ToolInput):
    cron_expression: str | None = Field(default=None, max_length=200, description="Or give job. " + CRON_HELP)
    job: str | None = Field(default=None, description="An existing job (name or id).")
    timezone: str | None = Field(default=None, max_length=64, description=TZ_HELP)
    count: int = Field(default=5, ge=1, le=100)
    after: str | None = Field(default=None, description="Start from this ISO-8601 time (default now).")


@tool("preview_job_runs", title="Preview a schedule", group="Jobs", role="viewer", read_only=True, idempotent=True,
      owned=_the_job)
async def preview_job_runs(call: Call, args: PreviewJobRuns) -> JobRunPreview:
    """The next run times of a cron expression or job, in UTC and local time."""
    return await call.registry.jobs.preview(cron_expression=args.cron_expression, job=args.job,
                                            timezone=args.timezone, count=args.count, after=args.after)
