"""Environments: Sanctum runs as development, staging or production (the system setting
`environment`), and a setting may hold a value for one environment at any scope.

Rule (ResolvedConfig, resolve.py): at each scope the active environment's value wins over the
general one (stored for no environment); between scopes the usual order applies, so the scope order
is primary: an agent's general value beats a system value for the active environment.

Here: the names and their check, the value that applies at each stored place in one environment
(`values_in`, for the switch's diff, export and the console), and the diff between two environments.
The switch itself (one audited transaction) is ConfigService.switch_environment.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from sanctum_mcp.domain.config.models import ConfigEntry, EnvironmentChange, plaintext
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput
from sanctum_mcp.domain.shared.secrets import SecretBox
from sanctum_mcp.storage import config as sql

ENVIRONMENTS = sql.ENVIRONMENTS
ENVIRONMENT_KEY = sql.ENVIRONMENT_KEY
active_environment = sql.active_environment


def check_environment(name: str | None) -> str | None:
    """None (the general value) or one of the three names; anything else is refused."""
    if name is not None and name not in ENVIRONMENTS:
        raise InvalidInput(f"environment {name!r} is not one of {', '.join(ENVIRONMENTS)}; leave it out for the "
                           "value that applies in every environment.")
    return name


def which_value(environment: str | None) -> str:
    """Words for the value a row holds: "the production value" or "the general value"."""
    return f"{environment} value" if environment else "general value"


def _places(rows: Iterator[sqlite3.Row]) -> Iterator[list[sqlite3.Row]]:
    """Rows sorted by (scope, target, key, ...) grouped by place."""
    group: list[sqlite3.Row] = []
    for row in rows:
        place = (row["scope"], row["target"], row["key"])
        if group and (group[0]["scope"], group[0]["target"], group[0]["key"]) != place:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def _applying(group: list[sqlite3.Row], environment: str) -> sqlite3.Row | None:
    """Of one place's rows, the one that applies in `environment`: its own, else the general one."""
    own = next((r for r in group if r["environment"] == environment), None)
    return own if own is not None else next((r for r in group if r["environment"] is None), None)


def _merged(conn: sqlite3.Connection, environment: str) -> Iterator[sqlite3.Row]:
    """One row per stored place (scope, target, key) that has a value in `environment`."""
    for group in _places(iter(sql.places(conn, environment))):
        row = _applying(group, environment)
        if row is not None:
            yield row


def values_in(
    conn: sqlite3.Connection, environment: str, entry: Callable[[sqlite3.Row], ConfigEntry]
) -> list[ConfigEntry]:
    """The value that applies at every stored place (system, agent, tool, instance, user) while
    `environment` is active: its own value there, else the general one. Masked (built by `entry`);
    `environment` on each entry says which of the two it is. Places with values only for other
    environments are left out. A lookup through several places layers these as usual."""
    check_environment(environment)
    return [entry(row) for row in _merged(conn, environment)]


def _same(a: sqlite3.Row | None, b: sqlite3.Row | None, box: SecretBox) -> bool:
    if a is None or b is None:
        return a is b
    if a["type"] != b["type"]:
        return False
    if a["value"] == b["value"]:
        return True
    if not (a["is_sensitive"] or b["is_sensitive"]):
        return False
    try:  # two encryptions of one secret differ: compare the plaintexts
        return plaintext(a["value"], box) == plaintext(b["value"], box)
    except Conflict:
        return False


def diff(conn: sqlite3.Connection, box: SecretBox, old: str, new: str,
         entry: Callable[[sqlite3.Row], ConfigEntry], *, limit: int) -> tuple[list[EnvironmentChange], int]:
    """The stored places whose applying value differs between `old` and `new`, masked, in (scope,
    target, key) order: the first `limit` of them, and how many there are in all. Only places holding
    a value for `old` or `new` can differ; they are streamed, so memory stays bounded by `limit`."""
    changes: list[EnvironmentChange] = []
    count = 0
    for group in _places(sql.switch_places(conn, old, new)):
        was, will = _applying(group, old), _applying(group, new)
        if _same(was, will, box):
            continue
        count += 1
        if len(changes) >= limit:
            continue
        shown = [entry(r) if r is not None else None for r in (was, will)]
        known = next(e for e in shown if e is not None)
        changes.append(EnvironmentChange(
            key=known.key, scope=known.scope, target=known.target,
            before=shown[0].value if shown[0] else None, after=shown[1].value if shown[1] else None,
            sensitive=any(e.sensitive for e in shown if e is not None),
        ))
    return changes, count
