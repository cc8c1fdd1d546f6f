"""The SMCP plugin contract, as SMCP 3.1 speaks it (see ../shared/notes/sanctum-ecosystem.md).

A plugin is a folder holding `cli.py`. `python cli.py --describe` prints contract-v1 JSON;
`python cli.py <command> --flag value ...` runs a command and prints JSON. This module renders
arguments the way SMCP does and runs plugin processes with a timeout. Used by plugin discovery
(scan) and by scheduled jobs that run plugin commands.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACT_VERSION = "1.0"
DESCRIBE_TIMEOUT = 10.0  # SMCP's own limit for --describe


@dataclass(frozen=True)
class PluginRun:
    """The outcome of one plugin process. `error` is set when the run failed, for any reason."""

    exit_code: int | None
    stdout: str
    stderr: str
    error: str | None = None
    result: Any = None  # stdout parsed as JSON, when it is JSON

    @property
    def ok(self) -> bool:
        return self.error is None


def render_argv(arguments: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> list[str]:
    """Render arguments as SMCP does: `agent_id` -> `--agent-id`; booleans `--x true|false`;
    objects as one JSON string; arrays of scalars as a repeated flag. None is left out.

    Arrays of objects cannot be expressed on SMCP's command line: refused here with ValueError.
    """
    argv: list[str] = []
    for name, value in arguments.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag, "true" if value else "false"]
        elif isinstance(value, dict):
            argv += [flag, json.dumps(value, separators=(",", ":"))]
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, (dict, list)):
                    raise ValueError(f"argument {name!r}: SMCP cannot pass arrays of objects on the command line")
                argv += [flag, _scalar(item)]
        else:
            argv += [flag, _scalar(value)]
    return argv


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_plugin(
    plugin_dir: Path,
    argv: list[str],
    *,
    timeout: float,
    python: str | None = None,
) -> PluginRun:
    """Run `python <plugin_dir>/cli.py <argv...>` as SMCP does: stdin closed, a hard timeout.

    Blocking: call it through anyio.to_thread.run_sync from async code.
    """
    cli = plugin_dir / "cli.py"
    if not cli.is_file():
        return PluginRun(None, "", "", error=f"{cli} does not exist")
    try:
        # A session of its own, so that a timeout kills the plugin's children too (a plugin that
        # spawned a helper holding stdout open would otherwise keep us waiting).
        process = subprocess.Popen(
            [python or sys.executable, str(cli), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(plugin_dir),
            start_new_session=True,
        )
    except OSError as exc:
        return PluginRun(None, "", "", error=f"could not start {cli}: {exc.strerror}")
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        return PluginRun(None, _text(stdout), _text(stderr), error=f"timed out after {timeout:g} s")
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    parsed: Any = None
    try:
        parsed = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        parsed = None
    if done.returncode != 0:
        reason = parsed.get("error") if isinstance(parsed, dict) and isinstance(parsed.get("error"), str) else None
        tail = (done.stderr.strip().splitlines() or [""])[-1][:300]
        message = reason or tail or "no output"
        return PluginRun(done.returncode, done.stdout, done.stderr, error=f"exit code {done.returncode}: {message}", result=parsed)
    return PluginRun(done.returncode, done.stdout, done.stderr, result=parsed)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# What SMCP accepts from `--describe` (contract version 1): an object with a `commands` array; each
# command has a `name` made of letters, digits, `_` and `-` and optional `parameters`, each with a
# `name` and optionally a JSON `type` among six, `required` (boolean) and `items` (an object).
# tests/test_smcp.py checks that this agrees with the published contract schema.
_PARAMETER = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "type": {"enum": ["string", "number", "integer", "boolean", "array", "object"]},
        "description": {"type": "string"},
        "required": {"type": "boolean"},
        "items": {"type": "object"},
    },
}
DESCRIBE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["commands"],
    "properties": {
        "contract_version": {"type": "string", "pattern": r"^1(\.[0-9]+){0,2}$"},
        "plugin": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "version": {"type": "string"},
                "description": {"type": "string"},
            },
        },
        "commands": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "pattern": "^[a-zA-Z0-9_-]+$"},
                    "description": {"type": "string"},
                    "parameters": {"type": "array", "items": _PARAMETER},
                },
            },
        },
    },
}


def describe_problems(payload: Any) -> list[str]:
    """Why a `--describe` payload breaks the contract (empty when it follows it)."""
    from sanctum_mcp.domain.schemas.validation import schema_problems

    return schema_problems(DESCRIBE_SCHEMA, payload)


# --- --help discovery: what SMCP serves of a plugin without a usable --describe ------------------------
#
# SMCP 3.1.0 (smcp.py: get_plugin_describe, parse_commands_from_help) falls back to `cli.py --help` when
# --describe does not exit 0 with a JSON object holding a `commands` list (a payload that has one but
# breaks the contract is refused, not helped). From the help text (exit 0) it takes, in each section
# opened by a line starting "Available commands:" and closed by a blank line or one starting "Examples",
# the first word of every line indented by two spaces, and serves each as a command without parameters.

HELP_SECTION = "Available commands:"
_NOT_COMMANDS = ("usage:", "options:", "Available", "Examples:")


def smcp_falls_back_to_help(run: PluginRun) -> bool:
    """Whether SMCP would try --help after this --describe run."""
    return not (run.exit_code == 0 and isinstance(run.result, dict) and isinstance(run.result.get("commands"), list))


def help_commands(text: str) -> list[dict[str, Any]]:
    """The commands SMCP scrapes from a plugin's --help, as describe command objects (no parameters;
    the rest of the line as description)."""
    commands: list[dict[str, Any]] = []
    inside = False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(HELP_SECTION):
            inside = True
            continue
        if not inside:
            continue
        if not stripped or stripped.startswith("Examples"):
            inside = False
            continue
        if line.startswith("  "):
            name, _, rest = stripped.partition(" ")
            if name not in _NOT_COMMANDS and all(c["name"] != name for c in commands):
                command: dict[str, Any] = {"name": name, "parameters": []}
                if rest.strip():
                    command["description"] = rest.strip()
                commands.append(command)
    return commands

