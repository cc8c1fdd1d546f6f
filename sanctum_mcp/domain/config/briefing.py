"""The text of the configure_sanctum prompt: the current settings (masked) and the safe way to
change them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sanctum_mcp.domain.config.service import ConfigService


async def configuration_briefing(service: ConfigService, *, agent: str | None = None) -> str:
    """The text of the configure_sanctum prompt: current settings (masked) and the safe way to change them."""
    system, counts = await service.summary()
    environment = await service.active_environment()
    lines = [
        "You are helping a person configure Sanctum through the sanctum-mcp registry.",
        "",
        f"Active environment: {environment} (development, staging or production).",
        "",
        "## Current system settings (secrets masked)",
    ]
    for e in system:
        extra = []
        if e.sensitive:
            extra.append("sensitive" + ("" if e.has_value else ", not set"))
        if e.constraint:
            extra.append("constraint " + json.dumps(e.constraint, separators=(",", ":")))
        if e.environment:
            extra.append(f"only in {e.environment}")
        suffix = f"; {'; '.join(extra)}" if extra else ""
        lines.append(f"- {e.key} = {e.value} ({e.type}, {e.category}, version {e.version}{suffix})")
    scoped = ", ".join(f"{counts[s]} {s}-level" for s in ("agent", "tool", "instance", "user") if counts.get(s))
    lines.append("")
    lines.append(f"Overrides stored below the system level: {scoped or 'none'} (list_config shows them).")
    if agent is not None:
        entries = await service.entries_at("agent", agent)
        lines += ["", f"## Settings of agent {agent}"]
        lines += [f"- {e.key} = {e.value} ({e.type}, version {e.version}"
                  f"{f'; only in {e.environment}' if e.environment else ''})" for e in entries] or [
            "- none: it inherits everything"]
    lines += [
        "",
        "## How to change settings safely",
        "1. Read first: get_config(key, agent?, tool?, instance?) gives the effective value, the scope it comes",
        "   from, the levels it overrides and its version. Tell the person what will change and where.",
        "2. Resolution is instance -> tool -> agent -> system: set a value at the narrowest scope that should",
        "   have it (set_config with scope and target), not at system level unless everyone should get it.",
        "3. Always pass expected_version (the version you read) to set_config, delete_config, reset_config and",
        "   rollback_config. If someone changed the setting meanwhile, nothing is written and the error names",
        "   the current version: read again, confirm with the person, then retry.",
        "4. Values are checked against the key's type (string, integer, number, boolean, json) and constraint",
        "   (e.g. ports are 1-65535; URLs must parse).",
        "   A refused value changes nothing; fix the value rather than the type.",
        "5. Every change is a new version: config_history(key, scope, target) lists them, rollback_config",
        "   restores one. Seeded system defaults cannot be deleted; reset_config restores them.",
        "6. Secrets (sensitive keys such as API keys) are encrypted and always shown masked. Setting or",
        "   revealing one needs the admin role, and every reveal is audited. Never repeat a secret in the",
        "   conversation, and prefer that the person sets it with the operator CLI (`sanctum-mcp config set",
        "   KEY - --scope system`, reading the value from standard input).",
        "7. Environments: pass environment (development, staging, production) to set_config, delete_config,",
        "   reset_config, config_history or rollback_config for a value that applies only while that",
        "   environment is active; at each scope it wins over the general value (scope order stays first).",
        "   Only an admin switches the environment, with switch_environment: call it without confirm, show",
        "   the person the values that would change, then call it again with confirm=true.",
    ]
    return "\n".join(lines)
