"""Backups: the list (list_backups), create with progress, verify, and restore with a typed
confirmation (the backup's name, typed again), each through its tool.

Create runs create_backup in a task with the tool's own progress reports (the same ones an MCP
client receives as notifications); the POST answers when the first report arrives or the call ends
(a refusal comes from the gate before any work, so it is answered at once, as for any tool), and
the page then follows the task's progress until it ends. Tasks are per process, bounded, and only
their starter can follow one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, may, run
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.console.pages.parts import act, done, listed_page, number, one_page, refused, text
from sanctum_mcp.domain.backups.models import Backup

PATH = f"{PREFIX}/backups"
PER_PAGE = 50
MAX_TASKS = 20  # finished tasks beyond this are forgotten, oldest first


@dataclass
class Creation:
    user_id: int | None
    name: str | None
    done: float = 0.0
    total: float | None = None
    message: str = "starting"
    result: Backup | None = None
    failure: Refused | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None or self.failure is not None


_tasks: OrderedDict[int, Creation] = OrderedDict()
_ids = itertools.count(1)


def _remember(creation: Creation) -> int:
    number_ = next(_ids)
    _tasks[number_] = creation
    for old in [key for key, c in _tasks.items() if c.finished][: max(0, len(_tasks) - MAX_TASKS)]:
        del _tasks[old]
    return number_


async def _context(ctx: Ctx) -> dict[str, Any]:
    context: dict[str, Any] = {"can_create": may(ctx.caller, "create_backup"),
                               "can_verify": may(ctx.caller, "verify_backup"),
                               "can_restore": may(ctx.caller, "restore_backup")}
    await one_page(ctx, "list_backups", "backups", PER_PAGE, context)
    return context


listed_page(PATH, "Backups", "backups", _context)


def _finished(ctx: Ctx, creation: Creation) -> Response:
    if creation.failure is not None:
        return refused(ctx, creation.failure)
    backup = creation.result
    assert backup is not None
    return done(ctx, f"Backup {backup.name} completed ({backup.type}, {backup.size_bytes or 0:,} bytes, checksum "
                     f"{(backup.checksum or '')[:12]}…).")


@page(f"{PATH}/create", methods=("POST",))
async def create(ctx: Ctx) -> Response:
    form = await ctx.form()
    arguments = {name: value for name in ("type", "name", "description") if (value := text(form, name)) is not None}
    creation = Creation(user_id=ctx.caller.user_id if ctx.caller else None, name=arguments.get("name"))

    async def progress(done_: float, total: float | None = None, message: str | None = None) -> None:
        creation.done, creation.total, creation.message = done_, total, message or creation.message
        creation.started.set()

    async def work() -> None:
        try:
            creation.result = await run(ctx.registry, ctx.caller, "create_backup", progress=progress, **arguments)
        except Refused as exc:
            creation.failure = exc
        finally:
            creation.started.set()

    creation.task = asyncio.create_task(work())
    await creation.started.wait()  # the first progress report, or the end (a refusal ends it at once)
    if creation.finished:
        return _finished(ctx, creation)
    return ctx.page("pages/backups_progress.html", id=_remember(creation), creation=creation)


@page(f"{PATH}/progress")
async def progress_(ctx: Ctx) -> Response:
    raw = ctx.request.query_params.get("id", "")
    creation = _tasks.get(int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
    if creation is None or creation.user_id != (ctx.caller.user_id if ctx.caller else None):
        return ctx.page("fragments/message.html", status=404, kind="error",
                        message="This backup's progress is not known here (the server restarted, or it is someone "
                                "else's). Reload the page: the list shows every backup.")
    if creation.finished:
        return _finished(ctx, creation)
    return ctx.page("pages/backups_progress.html", id=int(raw), creation=creation)


@page(f"{PATH}/verify", methods=("POST",))
async def verify(ctx: Ctx) -> Response:
    try:
        result = await act(ctx, "verify_backup", backup_id=number(await ctx.form(), "backup_id", "verify_backup"))
    except Refused as exc:
        return refused(ctx, exc)
    if result.ok:
        return done(ctx, f"{result.backup.name}: checksum and size match the file.")
    return ctx.page("fragments/message.html", kind="error", message=f"{result.backup.name}: {result.problem}")


async def _named(ctx: Ctx, backup_id: int) -> Backup | None:
    cursor = None
    for _ in range(20):
        listed = await act(ctx, "list_backups", limit=500, **({"cursor": cursor} if cursor else {}))
        for backup in listed.backups:
            if backup.id == backup_id:
                return backup
        cursor = listed.next_cursor
        if not cursor:
            break
    return None


@page(f"{PATH}/confirm")
async def confirm(ctx: Ctx) -> Response:
    raw = ctx.request.query_params.get("id", "")
    try:
        backup = await _named(ctx, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 18 else None
    except Refused as exc:
        return refused(ctx, exc)
    if backup is None:
        return ctx.page("fragments/message.html", status=404, kind="error",
                        message="There is no such backup any more. Reload the page.")
    return ctx.page("pages/backups_restore.html", backup=backup)


@page(f"{PATH}/restore", methods=("POST",))
async def restore(ctx: Ctx) -> Response:
    form = await ctx.form()
    try:
        backup_id = number(form, "backup_id", "restore_backup")
        backup = await _named(ctx, backup_id)
        typed = text(form, "typed", default="")
        if backup is not None and typed != backup.name:
            raise Refused("restore_backup", "invalid_input",
                          f"Type the backup's name ({backup.name}) exactly to confirm the restore: it replaces the "
                          "whole registry. Nothing was changed.")
        result = await act(ctx, "restore_backup", backup_id=backup_id, confirmed=True)
    except Refused as exc:
        return refused(ctx, exc)
    return done(ctx, f"Restored {result.restored.name}. {result.message}")
