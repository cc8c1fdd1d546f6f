"""Jobs: each scheduled job with its next runs (preview_job_runs: UTC and the job's own time zone),
its last run and error, and pause/resume (pause_job, resume_job). Paged with list_jobs' cursor."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, may
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act, done, refused, text

PATH = f"{PREFIX}/jobs"
PER_PAGE = 50
NEXT_RUNS = 3


async def _context(ctx: Ctx) -> dict[str, Any]:
    cursor = ctx.request.query_params.get("cursor")
    context: dict[str, Any] = {"jobs": [], "runs": {}, "error": None, "next_cursor": None, "cursor": cursor,
                               "can_pause": may(ctx.caller, "pause_job"), "can_resume": may(ctx.caller, "resume_job")}
    try:
        listed = await act(ctx, "list_jobs", limit=PER_PAGE, **({"cursor": cursor[:500]} if cursor else {}))
    except Refused as exc:
        context["error"] = exc.message
        return context
    context["jobs"], context["next_cursor"] = listed.jobs, listed.next_cursor
    for job in listed.jobs:
        try:
            context["runs"][job.id] = await act(ctx, "preview_job_runs", job=str(job.id), count=NEXT_RUNS)
        except Refused as exc:  # e.g. a job whose stored expression no longer parses: say so in its row
            context["runs"][job.id] = exc.message
    return context


@page(PATH, nav="Jobs")
async def jobs(ctx: Ctx) -> Response:
    return ctx.page("pages/jobs.html", **await _context(ctx))


@page(f"{PATH}/list")
async def listing(ctx: Ctx) -> Response:
    return ctx.page("pages/jobs_list.html", **await _context(ctx))


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
