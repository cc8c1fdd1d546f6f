"""The inheritance walk: the effective value of a key for the targets asked for (user ->
instance -> tool -> agent -> system; at each level the active environment's value before the general
one), the levels it overrides, where it comes from in words, and the audited reveal of a secret."""

from __future__ import annotations

import sqlite3

from sanctum_mcp.domain.config.models import ConfigLayer, ResolvedConfig, plaintext, present
from sanctum_mcp.domain.config.namespace import unknown_key
from sanctum_mcp.domain.config.environments import active_environment, which_value
from sanctum_mcp.domain.config.targets import SYSTEM, Target, chain_for, label_of
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.secrets import SecretBox
from sanctum_mcp.storage import config as sql


def resolve(conn: sqlite3.Connection, box: SecretBox, caller: Caller, key: str, *, agent: str | None,
            tool: str | None, instance: str | None, user: str | None, reveal: bool) -> ResolvedConfig:
    """get_config inside its transaction. With reveal (the caller is an admin, checked before), the
    plaintext of a secret is added and the reveal is audited: run it in a write transaction then."""
    chain = chain_for(conn, agent=agent, tool=tool, instance=instance, user=user)
    environment = active_environment(conn)
    rows = sql.resolve_chain(conn, key, [(t.scope, t.id) for t in chain], environment)
    if not rows:
        raise not_set(conn, key, chain, environment)
    resolved = explain(key, rows, [*chain, SYSTEM], box, environment)
    if reveal and resolved.sensitive:
        winner = rows[0]
        resolved.revealed_value = plaintext(winner["value"], box)
        audit.record(conn, caller, action="config.reveal", source="config",
                     source_id=f"{resolved.scope}:{resolved.target_id or ''}:{key}",
                     message=f"sensitive value of {key} at {label_of(resolved)} revealed to {caller.username!r}",
                     extra={"key": key, "scope": resolved.scope, "target": resolved.target,
                            "version": resolved.version})
    elif reveal:
        resolved.revealed_value = rows[0]["value"]
    return resolved


def explain(key: str, rows: list[sqlite3.Row], chain: list[Target], box: SecretBox, environment: str) -> ResolvedConfig:
    """The effective value (rows[0], the highest-priority row that sets the key), the rows it
    overrides, and where it comes from in words; every value masked when the key is sensitive. When
    an environment's value takes part, the words say which value (environment or general) each is."""
    by_level = {(t.scope, t.id): t for t in chain}
    sensitive = any(r["is_sensitive"] for r in rows)
    levels = [by_level[(r["scope"], r["target"])] for r in rows]
    values = [present(r["value"], sensitive, box) for r in rows]
    winner, win_t = rows[0], levels[0]
    layers = [
        ConfigLayer(scope=r["scope"], target=t.name, target_id=t.target_id, value=v, version=r["version"],
                    environment=r["environment"])
        for r, t, v in zip(rows[1:], levels[1:], values[1:])
    ]
    per_environment = any(r["environment"] for r in rows)

    def source(row: sqlite3.Row, t: Target) -> str:
        return f"{t.label}'s {which_value(row['environment'])}" if per_environment else t.label

    shown = values[0] if values[0] is not None else "null"
    text = (f"{key} = {shown} ({winner['type']}{', sensitive, masked' if sensitive else ''}) comes from "
            f"{source(winner, win_t)}")
    if layers:
        text += "; it overrides " + ", ".join(
            f"{source(r, t)} ({v})" for r, t, v in zip(rows[1:], levels[1:], values[1:]))
    higher = chain[: chain.index(win_t)]  # asked-for levels above the winner: none of them sets the key
    if higher:
        text += "; " + " and ".join(t.label for t in higher) + (" do" if len(higher) > 1 else " does") + " not set it"
    text += "." + (f" Active environment: {environment}." if per_environment else "")
    return ResolvedConfig(
        key=key,
        value=values[0],
        type=winner["type"],
        sensitive=sensitive,
        has_value=bool(winner["value"]),
        scope=winner["scope"],
        target=win_t.name,
        target_id=win_t.target_id,
        version=winner["version"],
        environment=winner["environment"],
        active_environment=environment,
        overrides=layers,
        explanation=text,
        category=winner["category"],
        description=winner["description"],
    )


def not_set(conn: sqlite3.Connection, key: str, chain: list[Target], environment: str) -> NotFound:
    where = sql.where_key_is_set(conn, key, limit=5)
    if not where:
        return unknown_key(conn, key)
    places = ", ".join(
        Target(r["scope"], r["target"], r["target_name"] or f"#{r['target']}").label
        + (f" (for {r['environment']} only)" if r["environment"] else "")
        for r in where
    )
    asked = " / ".join(t.label for t in chain) or "the system level"
    return NotFound(
        f"{key} has no value for {asked} in the active environment ({environment}): it is set only at {places}, "
        "and has no general value at the system level. Set it with set_config (scope system for everyone), or ask "
        "for one of those targets."
    )
