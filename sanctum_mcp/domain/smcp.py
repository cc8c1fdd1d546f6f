"""The SMCP plugin contract, as SMCP 3.1 speaks it (see ../shared/notes/sanctum-ecosystem.md).

A plugin is a folder holding `cli.py`. `python cli.py --describe` prints contract-v1 JSON;
`python cli.py <command> --flag value ...` runs a command and prints JSON. This module renders
arguments the way SMCP does and runs plugin processes with a timeout. Used by plugin discovery
(scan) and by scheduled jobs that run plugin commands.
"""

from __future__ import annotations

import json
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
        done = subprocess.run(
            [python or sys.executable, str(cli), *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(plugin_dir),
        )
    except subprocess.TimeoutExpired as exc:
        return PluginRun(None, _text(exc.stdout), _text(exc.stderr), error=f"timed out after {timeout:g} s")
    except OSError as exc:
        return PluginRun(None, "", "", error=f"could not start {cli}: {exc.strerror}")
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


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
