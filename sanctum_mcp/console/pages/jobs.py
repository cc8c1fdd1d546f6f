"""Jobs: each scheduled job with its next runs (preview_job_runs: UTC and the job's own time zone),
its last run and error, and pause/resume (pause_job, resume_job). Paged with list_jobs' cursor."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, reaches
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act, done, listed_page, one_page, refused, text

PATH = f"{PREFIX}/jobs"
PER_PAGE = 50
NEXT_RUNS = 3


async def _context(ctx: Ctx) -> dict[str, Any]:
    # The jobs whose Pause / Resume the caller may use (a job belongs to its agent: actions.reaches).
    context: dict[str, Any] = {"runs": {}, "can_pause": set(), "can_resume": set()}
    listed = await one_page(ctx, "list_jobs", "jobs", PER_PAGE, context)
    if listed is None:
        return context
    for job in listed.jobs:
        paused = job.status == "Paused"
        if await reaches(ctx.registry, ctx.caller, "resume_job" if paused else "pause_job", job=str(job.id)):
            context["can_resume" if paused else "can_pause"].add(job.id)
        try:
            context["runs"][job.id] = await act(ctx, "preview_job_runs", job=str(job.id), count=NEXT_RUNS)
        except Refused as exc:  # e.g. a job whose stored expression no longer parses: say so in its row
            context["runs"][job.id] = exc.message
    return context


listed_page(PATH, "Jobs", "jobs", _context)


async def _switch(ctx: Ctx, tool: str, word: str) -> Response:
    try:
        job = await act(ctx, tool, job=text(await ctx.form(), "job", default="") or "")
    except Refused as exc:
        return refused(ctx, exc)
    return done(ctx, f"{job.name} {word}" + (f"; next run {job.next_run}." if job.next_run else "."))


@page(f"{PATH}/pause", methods=("POST",))
async def pause(ctx: Ctx) -> Response:
    return await _switch(ctx, "pause_job", "paused")


@page(f"{PATH}/resume", methods=("POST",))
async def resume(ctx: Ctx) -> Response:
    return await _switch(ctx, "resume_job", "resumed")
