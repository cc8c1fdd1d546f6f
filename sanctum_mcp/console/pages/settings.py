"""System Settings: the form generated from the system settings (list_config at scope system), one
section per category, a widget per type and constraint.

Saving is two steps: "Review" shows the diff (and any value the key's type or constraint refuses,
next to its field, checked by the domain's own coerce/check_constraint) and "Apply" calls
set_config once per changed key with the version the page was loaded at (check-and-set). A version
that moved meanwhile is a conflict that names who changed what since (config_history).

Secrets: a sensitive value is never sent to the browser. Its field shows the mask and an empty
"replace" input; the review says "replaced" and never echoes the new value (Apply sends the form
again, it does not read the value back from the review). An admin may reveal one (get_config
reveal=true: the domain audits it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, may, run
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.domain.config.models import SYSTEM_CATEGORIES, ConfigEntry
from sanctum_mcp.domain.config.values import check_constraint, coerce
from sanctum_mcp.domain.shared.errors import RegistryError

PATH = f"{PREFIX}/settings"
STATUS = {"forbidden": 403, "conflict": 409, "invalid_input": 422, "not_found": 404, "unavailable": 503}
# Signs what a review showed, so that Apply runs only what was reviewed (per process: a restart
# asks for a new review).
_REVIEW_KEY = secrets.token_bytes(32)
ENVIRONMENT_KEYS = ("active_environment", "environment")


def dom_id(key: str) -> str:
    return "k" + hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class Field:
    entry: ConfigEntry
    widget: str  # secret, checkbox, select, number, json, text
    can_edit: bool
    can_reveal: bool
    can_rollback: bool
    minimum: Any = None
    maximum: Any = None
    step: str | None = None
    options: list[str] | None = None

    @property
    def id(self) -> str:
        return dom_id(self.entry.key)


def _field(caller: Any, entry: ConfigEntry) -> Field:
    constraint = entry.constraint or {}
    options = constraint.get("enum") if isinstance(constraint.get("enum"), list) else None
    if entry.sensitive:
        widget = "secret"
    elif entry.type == "boolean":
        widget = "checkbox"
    elif options is not None:
        widget = "select"
    elif entry.type in ("integer", "number"):
        widget = "number"
    elif entry.type == "json":
        widget = "json"
    else:
        widget = "text"
    return Field(
        entry=entry,
        widget=widget,
        can_edit=may(caller, "set_config", key=entry.key, sensitive=entry.sensitive or None),
        can_reveal=entry.sensitive and entry.has_value and may(caller, "get_config", key=entry.key, reveal=True),
        can_rollback=may(caller, "rollback_config", key=entry.key),
        minimum=constraint.get("minimum"),
        maximum=constraint.get("maximum"),
        step="1" if entry.type == "integer" else "any",
        options=[str(option) for option in options] if options is not None else None,
    )


async def _entries(ctx: Ctx) -> list[ConfigEntry]:
    entries: list[ConfigEntry] = []
    cursor = None
    for _ in range(20):  # 500 a page; a registry with more than 10,000 system settings shows the first
        result = await run(ctx.registry, ctx.caller, "list_config", scope="system", limit=500,
                           **({"cursor": cursor} if cursor else {}))
        entries += result.entries
        cursor = result.next_cursor
        if not cursor:
            break
    return entries


@page(PATH, nav="System Settings")
async def settings(ctx: Ctx) -> Response:
    try:
        entries = await _entries(ctx)
    except Refused as exc:
        return ctx.page("refused.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    sections: dict[str, list[Field]] = {category: [] for category in SYSTEM_CATEGORIES}
    for entry in entries:
        sections.setdefault(entry.category or "general", []).append(_field(ctx.caller, entry))
    environment = next((e for key in ENVIRONMENT_KEYS for e in entries if e.key == key), None)
    saved = [key for key in ctx.request.query_params.get("saved", "").split(",") if key][:50]
    return ctx.page("settings.html", sections=sections, environment=environment, saved=saved,
                    can_save=any(f.can_edit for fields in sections.values() for f in fields))


@dataclass
class Change:
    entry: ConfigEntry
    value: str  # what the form sends (never shown again for a secret)
    loaded_version: int


def _changes(form: FormData, entries: list[ConfigEntry]) -> list[Change]:
    changes = []
    for entry in entries:
        sent = form.getlist(f"f.{entry.key}")
        version = form.get(f"v.{entry.key}")
        if not sent or not isinstance(version, str) or not version.isdigit():
            continue
        value = sent[-1] if isinstance(sent[-1], str) else ""
        if entry.sensitive:
            if value == "":  # an empty "replace" input keeps the secret
                continue
        elif value == form.get(f"o.{entry.key}"):
            continue
        changes.append(Change(entry, value, int(version)))
    return changes


def _problem(change: Change) -> str | None:
    """What the key's type or constraint says about the new value (the domain's own checks)."""
    entry = change.entry
    try:
        _text, typed = coerce(entry.key, change.value, entry.type, sensitive=entry.sensitive)
        if entry.constraint:
            check_constraint(entry.key, json.dumps(entry.constraint), typed, change.value, sensitive=entry.sensitive)
    except RegistryError as exc:
        return str(exc)
    return None


def _signature(changes: list[Change]) -> str:
    payload = json.dumps([[c.entry.key, c.value, c.loaded_version] for c in changes])
    return hmac.new(_REVIEW_KEY, payload.encode(), hashlib.sha256).hexdigest()


async def _since(ctx: Ctx, change: Change) -> list[Any]:
    """The history entries newer than the version the page was loaded at: who changed what since."""
    try:
        history = await run(ctx.registry, ctx.caller, "config_history", key=change.entry.key, limit=20)
    except Refused:
        return []
    return [entry for entry in history.entries if entry.version > change.loaded_version]


async def _conflicts(ctx: Ctx, changes: list[Change], current: dict[str, ConfigEntry]) -> list[dict[str, Any]]:
    found = []
    for change in changes:
        now = current.get(change.entry.key)
        if now is None or now.version != change.loaded_version:
            found.append({"key": change.entry.key, "loaded": change.loaded_version,
                          "now": now.version if now else 0, "since": await _since(ctx, change)})
    return found


async def _review(ctx: Ctx, *, note: str | None = None) -> Response:
    form = await ctx.form()
    try:
        entries = await _entries(ctx)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    changes = _changes(form, entries)
    current = {entry.key: entry for entry in entries}
    problems = {change.entry.key: problem for change in changes if (problem := _problem(change))}
    conflicts = await _conflicts(ctx, changes, current)
    status = 422 if problems else 409 if conflicts else 200
    return ctx.page("fragments/review.html", status=status, changes=changes, problems=problems, conflicts=conflicts,
                    signature=_signature(changes), note=note, fields=[_field(ctx.caller, e) for e in entries],
                    dom_id=dom_id)


@page(f"{PATH}/review", methods=("POST",))
async def review(ctx: Ctx) -> Response:
    return await _review(ctx)


@page(f"{PATH}/apply", methods=("POST",))
async def apply(ctx: Ctx) -> Response:
    form = await ctx.form()
    try:
        entries = await _entries(ctx)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    changes = _changes(form, entries)
    if not changes:
        return ctx.page("fragments/message.html", message="Nothing to save: no value differs from the page.",
                        kind="info")
    reviewed = form.get("reviewed")
    if not isinstance(reviewed, str) or not hmac.compare_digest(reviewed, _signature(changes)):
        response = await _review(ctx, note="The form changed since the review: check the changes again.")
        response.status_code = 409
        return response
    applied: list[str] = []
    for change in changes:
        try:
            await run(ctx.registry, ctx.caller, "set_config", key=change.entry.key, value=change.value,
                      scope="system", expected_version=change.loaded_version)
        except Refused as exc:
            conflicts = []
            if exc.kind == "conflict":
                conflicts = [{"key": change.entry.key, "loaded": change.loaded_version, "now": None,
                              "since": await _since(ctx, change)}]
            return ctx.page("fragments/applied.html", status=STATUS.get(exc.kind, 400), applied=applied,
                            failed=change.entry.key, message=exc.message, conflicts=conflicts)
        applied.append(change.entry.key)
    return Response(status_code=204, headers={"hx-redirect": f"{PATH}?saved={quote(','.join(applied))}"})


def _key(form: FormData) -> str:
    key = form.get("key")
    return key if isinstance(key, str) else ""


@page(f"{PATH}/history")
async def history(ctx: Ctx) -> Response:
    key = ctx.request.query_params.get("key", "")
    try:
        result = await run(ctx.registry, ctx.caller, "config_history", key=key, limit=20)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    current = result.entries[0].version if result.entries else 0
    return ctx.page("fragments/history.html", history=result, current=current, id=dom_id(key),
                    can_rollback=may(ctx.caller, "rollback_config", key=key))


@page(f"{PATH}/rollback", methods=("POST",))
async def rollback(ctx: Ctx) -> Response:
    form = await ctx.form()
    version, expected = form.get("version"), form.get("expected_version")
    try:
        if not (isinstance(version, str) and version.isdigit() and isinstance(expected, str) and expected.isdigit()):
            raise Refused("rollback_config", "invalid_input", "This rollback form is incomplete (version and "
                          "expected_version are whole numbers). Reload the page and try again.")
        await run(ctx.registry, ctx.caller, "rollback_config", key=_key(form), scope="system", version=int(version),
                  expected_version=int(expected), confirmed=True)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    return Response(status_code=204, headers={"hx-redirect": f"{PATH}?saved={quote(_key(form))}"})


@page(f"{PATH}/reveal", methods=("POST",))
async def reveal(ctx: Ctx) -> Response:
    key = _key(await ctx.form())
    try:
        result = await run(ctx.registry, ctx.caller, "get_config", key=key, reveal=True)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    return ctx.page("fragments/revealed.html", key=key, value=result.revealed_value)
