"""A job run of an SMCP plugin command: what it executes (the instance's command and arguments,
secrets decrypted for running only) and what its log rows keep of the plugin's output (nothing,
when the arguments hold secrets)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from sanctum_mcp.domain.shared.errors import RegistryError
from sanctum_mcp.domain.shared.secrets import SecretBox, find_tokens
from sanctum_mcp.domain.smcp.commands import command_for_instance
from sanctum_mcp.domain.smcp.contract import PluginRun, render_argv
from sanctum_mcp.storage import jobs as sql

OUTPUT_LIMIT = 2000  # characters of plugin output kept in the run's log row


@dataclass(frozen=True)
class PluginPlan:
    plugin: str
    plugin_dir: str
    command: str
    argv: list[str]  # never logged: arguments may hold decrypted secrets
    problem: str | None = None
    python: str | None = None  # the interpreter SMCP runs the plugin with, if known
    # The instance's config holds encrypted secrets, which argv carries decrypted: then nothing the
    # plugin prints is kept (see WITHHELD).
    has_secrets: bool = False


# A plugin may print an argument in any encoding (JSON escapes, repr, URL encoding, base64 at any
# alignment, hex, pieces of it), and the run's log rows are readable by viewers: masking the echoes
# one knows of would still leave the others. So for a run whose arguments hold secrets, the
# plugin's output and its error text are not stored; the exit code and the plugin's reported
# status ("success"/"error") are.
WITHHELD = ("not kept: this instance's arguments hold secrets, which a plugin may print in any encoding; "
            "run the plugin command by hand to see its output")
REPORTED_STATUSES = ("success", "error")


def plugin_plan(conn: sqlite3.Connection, instance_id: int, *, box: SecretBox) -> PluginPlan | None:
    """How to run a tool instance's SMCP plugin command, or None when it belongs to no SMCP plugin.

    The lookup (plugin linked to the instance's tool, its folder, its commands, the instance's
    "command" and "arguments" with secrets decrypted for running only) is
    domain/smcp/commands.py:command_for_instance; its refusals become the run's failure reason.
    """
    try:
        found = command_for_instance(conn, box, instance_id)
    except RegistryError as exc:
        return PluginPlan(plugin="", plugin_dir="", command="", argv=[], problem=str(exc))
    if found is None:
        return None
    plugin = found.plugin_dir.name  # SMCP: the folder's name is the plugin's name
    try:
        argv = [found.command, *render_argv(found.arguments, found.parameters)]
    except ValueError as exc:
        return PluginPlan(plugin=plugin, plugin_dir=str(found.plugin_dir), command=found.command, argv=[],
                          problem=str(exc))
    instance = sql.instance_by_id(conn, instance_id)
    stored = json.loads(instance["config"]) if instance is not None and instance["config"] else {}
    return PluginPlan(plugin=plugin, plugin_dir=str(found.plugin_dir), command=found.command, argv=argv,
                      python=found.python, has_secrets=bool(find_tokens(stored)))


def kept_output(plan: PluginPlan, run: PluginRun) -> dict[str, Any]:
    """What a run's log row keeps of the plugin's output."""
    if not plan.has_secrets:
        return {"output": _clip(run.stdout), "stderr": _clip(run.stderr, 500)}
    kept: dict[str, Any] = {"output": None, "stderr": None, "output_withheld": WITHHELD}
    status = run.result.get("status") if isinstance(run.result, dict) else None
    if status in REPORTED_STATUSES:
        kept["plugin_status"] = status
    return kept


def failure_reason(plan: PluginPlan, run: PluginRun) -> str | None:
    """Why the run failed (None if it did not), in words that never carry what the plugin printed
    when its arguments hold secrets."""
    reported = isinstance(run.result, dict) and run.result.get("status") == "error"
    if plan.has_secrets:
        if run.exit_code not in (None, 0):
            return f"exit code {run.exit_code} (the plugin's output is {WITHHELD})"
        if run.error is not None:
            return run.error  # it did not start, or timed out: no plugin output in the reason
        return f"the plugin reported an error (its message is {WITHHELD})" if reported else None
    if run.error is not None:
        return run.error
    if reported:
        message = run.result.get("error")
        return f"the plugin reported an error: {message if isinstance(message, str) else 'no message'}"
    return None


def _clip(text: str, limit: int = OUTPUT_LIMIT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"
