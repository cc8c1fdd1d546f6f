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

Environments: `environment` is not a field (set_config refuses it): the page shows the active one and,
for admins, a switch that first shows switch_environment's preview (masked) and then applies what was
previewed with confirm=true. ?environment=staging shows that environment's view: a field holds the
environment's own value when it has one, else the general value marked inherited (version 0: saving
creates the environment's value, check-and-set); saving sends set_config with `environment`, and
"Use the general value" is delete_config with `environment`. The general view lists general values
only. Reveal (get_config: the value that applies now) is offered only on a value that applies now.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.responses import Response

from sanctum_mcp.console.actions import Refused, may, run
from sanctum_mcp.console.app import PREFIX, Ctx
from sanctum_mcp.console.pages import page
from sanctum_mcp.domain.config.environments import ENVIRONMENT_KEY, ENVIRONMENTS, check_environment
from sanctum_mcp.domain.config.models import SYSTEM_CATEGORIES, ConfigEntry
from sanctum_mcp.domain.config.values import check_constraint, coerce
from sanctum_mcp.domain.shared.errors import RegistryError

PATH = f"{PREFIX}/settings"
STATUS = {"forbidden": 403, "conflict": 409, "invalid_input": 422, "not_found": 404, "unavailable": 503}
# Signs what a review showed, so that Apply runs only what was reviewed (per process: a restart
# asks for a new review).
_REVIEW_KEY = secrets.token_bytes(32)


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
    inherited: bool = False  # an environment's view showing the general value
    can_inherit: bool = False  # "Use the general value": delete this environment's own value

    @cached_property
    def id(self) -> str:  # a hash, used six times per field by the template: computed once
        return dom_id(self.entry.key)


def _field(caller: Any, entry: ConfigEntry, view: str | None = None, revealable: bool = True) -> Field:
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
        can_reveal=entry.sensitive and entry.has_value and revealable
        and may(caller, "get_config", key=entry.key, reveal=True),
        can_rollback=may(caller, "rollback_config", key=entry.key),
        minimum=constraint.get("minimum"),
        maximum=constraint.get("maximum"),
        step="1" if entry.type == "integer" else "any",
        options=[str(option) for option in options] if options is not None else None,
        inherited=view is not None and entry.environment is None,
        can_inherit=view is not None and entry.environment == view
        and may(caller, "delete_config", key=entry.key, environment=view),
    )


def _view(value: Any) -> str | None:
    """The environment a page or form is about: None (the general values) or one of ENVIRONMENTS."""
    if value in (None, ""):
        return None
    try:
        return check_environment(value if isinstance(value, str) else repr(value))
    except RegistryError as exc:
        raise Refused("list_config", "invalid_input", str(exc)) from None


def _in_view(entries: list[ConfigEntry], view: str | None) -> list[ConfigEntry]:
    """The general values, or in `view` each key's own value for it, else the general value with
    version 0 (what set_config with that environment expects for a value it creates)."""
    general = [e for e in entries if e.environment is None]
    if view is None:
        return general
    own = {e.key: e for e in entries if e.environment == view}
    shown = [own.pop(e.key, None) or e.model_copy(update={"version": 0}) for e in general]
    return shown + list(own.values())


def _applying(entries: list[ConfigEntry], active: str | None) -> dict[str, str | None]:
    """Each key's environment in _in_view(entries, active) (None: the general value), without
    copying an entry per setting as the view does."""
    applying: dict[str, str | None] = {e.key: None for e in entries if e.environment is None}
    if active is not None:
        applying.update((e.key, active) for e in entries if e.environment == active)
    return applying


async def _entries(ctx: Ctx, view: str | None = None) -> list[ConfigEntry]:
    return _in_view(await _stored(ctx), view)


async def _stored(ctx: Ctx) -> list[ConfigEntry]:
    """Every system-level row: the general values and each environment's."""
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
        view = _view(ctx.request.query_params.get("environment"))
        stored = await _stored(ctx)
    except Refused as exc:
        return ctx.page("refused.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    entries = _in_view(stored, view)
    environment = next((e for e in entries if e.key == ENVIRONMENT_KEY), None)
    active = environment.value if environment else None
    # get_config reveals the value that applies now: offered only where that is the value shown.
    applies_now = _applying(stored, active)
    sections: dict[str, list[Field]] = {category: [] for category in SYSTEM_CATEGORIES}
    for entry in entries:
        if entry.key != ENVIRONMENT_KEY:  # shown with its switch, not as a field
            sections.setdefault(entry.category or "general", []).append(
                _field(ctx.caller, entry, view, revealable=applies_now.get(entry.key, "") == entry.environment))
    saved = [key for key in ctx.request.query_params.get("saved", "").split(",") if key][:50]
    return ctx.page("settings.html", sections=sections, environment=environment, saved=saved, view=view,
                    environments=ENVIRONMENTS, can_switch=may(ctx.caller, "switch_environment"),
                    switched=ctx.request.query_params.get("switched") in ENVIRONMENTS,
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


def _signature(changes: list[Change], view: str | None) -> str:
    payload = json.dumps([view, [[c.entry.key, c.value, c.loaded_version] for c in changes]])
    return hmac.new(_REVIEW_KEY, payload.encode(), hashlib.sha256).hexdigest()


async def _since(ctx: Ctx, change: Change, view: str | None) -> list[Any]:
    """The history entries newer than the version the page was loaded at: who changed what since."""
    try:
        history = await run(ctx.registry, ctx.caller, "config_history", key=change.entry.key, limit=20,
                            environment=view)
    except Refused:
        return []
    return [entry for entry in history.entries if entry.version > change.loaded_version]


async def _conflicts(ctx: Ctx, changes: list[Change], current: dict[str, ConfigEntry],
                     view: str | None) -> list[dict[str, Any]]:
    found = []
    for change in changes:
        now = current.get(change.entry.key)
        if now is None or now.version != change.loaded_version:
            found.append({"key": change.entry.key, "loaded": change.loaded_version,
                          "now": now.version if now else 0, "since": await _since(ctx, change, view)})
    return found


async def _review(ctx: Ctx, *, note: str | None = None) -> Response:
    form = await ctx.form()
    try:
        view = _view(form.get("environment"))
        entries = await _entries(ctx, view)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    changes = _changes(form, entries)
    current = {entry.key: entry for entry in entries}
    problems = {change.entry.key: problem for change in changes if (problem := _problem(change))}
    conflicts = await _conflicts(ctx, changes, current, view)
    status = 422 if problems else 409 if conflicts else 200
    return ctx.page("fragments/review.html", status=status, changes=changes, problems=problems, conflicts=conflicts,
                    signature=_signature(changes, view), note=note, fields=[_field(ctx.caller, e) for e in entries],
                    dom_id=dom_id, view=view)


@page(f"{PATH}/review", methods=("POST",))
async def review(ctx: Ctx) -> Response:
    return await _review(ctx)


@page(f"{PATH}/apply", methods=("POST",))
async def apply(ctx: Ctx) -> Response:
    form = await ctx.form()
    try:
        view = _view(form.get("environment"))
        entries = await _entries(ctx, view)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    changes = _changes(form, entries)
    if not changes:
        return ctx.page("fragments/message.html", message="Nothing to save: no value differs from the page.",
                        kind="info")
    reviewed = form.get("reviewed")
    if not isinstance(reviewed, str) or not hmac.compare_digest(reviewed, _signature(changes, view)):
        response = await _review(ctx, note="The form changed since the review: check the changes again.")
        response.status_code = 409
        return response
    applied: list[str] = []
    for change in changes:
        try:
            await run(ctx.registry, ctx.caller, "set_config", key=change.entry.key, value=change.value,
                      scope="system", expected_version=change.loaded_version, environment=view)
        except Refused as exc:
            conflicts = []
            if exc.kind == "conflict":
                conflicts = [{"key": change.entry.key, "loaded": change.loaded_version, "now": None,
                              "since": await _since(ctx, change, view)}]
            return ctx.page("fragments/applied.html", status=STATUS.get(exc.kind, 400), applied=applied,
                            failed=change.entry.key, message=exc.message, conflicts=conflicts, view=view)
        applied.append(change.entry.key)
    return _saved(applied, view)


def _saved(keys: list[str], view: str | None) -> Response:
    """Back to the view the change was made in, naming what was saved."""
    where = f"&environment={view}" if view else ""
    return Response(status_code=204, headers={"hx-redirect": f"{PATH}?saved={quote(','.join(keys))}{where}"})


def _key(form: FormData) -> str:
    key = form.get("key")
    return key if isinstance(key, str) else ""


@page(f"{PATH}/history")
async def history(ctx: Ctx) -> Response:
    key = ctx.request.query_params.get("key", "")
    try:
        view = _view(ctx.request.query_params.get("environment"))
        result = await run(ctx.registry, ctx.caller, "config_history", key=key, limit=20, environment=view)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    current = result.entries[0].version if result.entries else 0
    return ctx.page("fragments/history.html", history=result, current=current, id=dom_id(key), view=view,
                    can_rollback=may(ctx.caller, "rollback_config", key=key))


@page(f"{PATH}/rollback", methods=("POST",))
async def rollback(ctx: Ctx) -> Response:
    form = await ctx.form()
    version, expected = form.get("version"), form.get("expected_version")
    try:
        view = _view(form.get("environment"))
        if not (isinstance(version, str) and version.isdigit() and isinstance(expected, str) and expected.isdigit()):
            raise Refused("rollback_config", "invalid_input", "This rollback form is incomplete (version and "
                          "expected_version are whole numbers). Reload the page and try again.")
        await run(ctx.registry, ctx.caller, "rollback_config", key=_key(form), scope="system", version=int(version),
                  expected_version=int(expected), confirmed=True, environment=view)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    return _saved([_key(form)], view)


@page(f"{PATH}/reveal", methods=("POST",))
async def reveal(ctx: Ctx) -> Response:
    key = _key(await ctx.form())
    try:
        result = await run(ctx.registry, ctx.caller, "get_config", key=key, reveal=True)
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    return ctx.page("fragments/revealed.html", key=key, value=result.revealed_value)


@page(f"{PATH}/inherit", methods=("POST",))
async def inherit(ctx: Ctx) -> Response:
    """"Use the general value": delete_config of one environment's own value (check-and-set)."""
    form = await ctx.form()
    expected = form.get("expected_version")
    try:
        view = _view(form.get("environment"))
        if view is None or not (isinstance(expected, str) and expected.isdigit()):
            raise Refused("delete_config", "invalid_input", "This form is incomplete (an environment and the "
                          "version of its value). Reload the page and try again.")
        await run(ctx.registry, ctx.caller, "delete_config", key=_key(form), scope="system", environment=view,
                  expected_version=int(expected))
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    return _saved([_key(form)], view)


def _previewed(switch: Any) -> str:
    payload = json.dumps([switch.from_environment, switch.to_environment, switch.version,
                          [c.model_dump() for c in switch.changes], switch.omitted])
    return hmac.new(_REVIEW_KEY, payload.encode(), hashlib.sha256).hexdigest()


@page(f"{PATH}/switch", methods=("POST",))
async def switch(ctx: Ctx) -> Response:
    """switch_environment's preview; with confirm and the preview's signature, the switch itself. A
    preview that no longer matches (a value or the environment changed meanwhile) is shown again."""
    form = await ctx.form()
    to = form.get("to")
    try:
        preview = await run(ctx.registry, ctx.caller, "switch_environment", environment=to, confirm=False)
        note = None
        if form.get("confirm") == "true":
            previewed = form.get("previewed")
            if isinstance(previewed, str) and hmac.compare_digest(previewed, _previewed(preview)):
                await run(ctx.registry, ctx.caller, "switch_environment", environment=to, confirm=True)
                return Response(status_code=204, headers={"hx-redirect": f"{PATH}?switched={quote(str(to))}"})
            note = "What the switch changes is not what was previewed: check it again."
    except Refused as exc:
        return ctx.page("fragments/message.html", status=STATUS.get(exc.kind, 400), message=exc.message, kind="error")
    return ctx.page("fragments/switch.html", status=409 if note else 200, switch=preview,
                    signature=_previewed(preview), note=note)
