"""Helpers for the jobs / logs / backups tests: a clock tests can move, and fixture rows."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sanctum_mcp.domain.registry import Registry


class FakeClock:
    """registry.clock for tests: time moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def make_instance(registry: Registry, name: str, *, agent_id: int | None = None,
                        config: dict[str, Any] | None = None, tool: str = "cron-tool") -> int:
    """A tool and an instance of it, inserted directly (the tools area owns their tools)."""

    def tx(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT id FROM tools WHERE name = ?", (tool,)).fetchone()
        tool_id = row[0] if row else conn.execute("INSERT INTO tools (name) VALUES (?)", (tool,)).lastrowid
        return conn.execute(
            "INSERT INTO tool_instances (tool_id, agent_id, name, config) VALUES (?, ?, ?, ?)",
            (tool_id, agent_id, name, json.dumps(config) if config is not None else None),
        ).lastrowid

    return await registry.db.write(tx)


async def make_smcp_plugin(registry: Registry, name: str, plugin_dir: Path, *, tool: str = "cron-tool",
                           commands: list[Any] | None = None, enabled: bool = True) -> int:
    """A plugin registered from SMCP (the plugins area's convention: type 'mcp', config {"smcp": {...}},
    status Active), linked to `tool`, inserted directly."""

    def tx(conn: sqlite3.Connection) -> int:
        names = commands if commands is not None else ["ping", "fail", "soft-fail", "sleep"]
        listed = [c if isinstance(c, dict) else {"name": c} for c in names]
        config = {"smcp": {"plugin_dir": str(plugin_dir), "commands": listed}}
        plugin_id = conn.execute(
            "INSERT INTO plugins (name, type, status, config, is_enabled) VALUES (?, 'mcp', 'Active', ?, ?)",
            (name, json.dumps(config), int(enabled)),
        ).lastrowid
        row = conn.execute("SELECT id FROM tools WHERE name = ?", (tool,)).fetchone()
        tool_id = row[0] if row else conn.execute("INSERT INTO tools (name) VALUES (?)", (tool,)).lastrowid
        conn.execute("INSERT INTO plugin_links (plugin_id, tool_id) VALUES (?, ?)", (plugin_id, tool_id))
        return plugin_id

    return await registry.db.write(tx)


PLUGIN_CLI = textwrap.dedent('''
    import json, sys, time
    args = sys.argv[1:]
    if args == ["--describe"]:
        print(json.dumps({"plugin": {"name": "pinger", "version": "1.0"}, "commands": []}))
        sys.exit(0)
    command, rest = args[0], args[1:]
    if command == "ping":
        options = dict(zip(rest[::2], rest[1::2]))
        if "--out" in options:
            with open(options["--out"], "a") as handle:
                handle.write(json.dumps(rest) + "\\n")
        print(json.dumps({"status": "success", "argv": rest}))
        sys.exit(0)
    if command == "fail":
        print(json.dumps({"status": "error", "error": "the disk is on fire", "error_type": "disk"}))
        sys.exit(1)
    if command == "soft-fail":
        print(json.dumps({"status": "error", "error": "nothing to do"}))
        sys.exit(0)
    if command == "sleep":
        time.sleep(30)
    sys.exit(3)
''')


def write_plugin(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cli.py").write_text(PLUGIN_CLI)
    return folder


def log_rows(db_path: Path, where: str = "1", params: tuple = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM logs WHERE {where} ORDER BY id", params).fetchall()
    finally:
        conn.close()


PYTHON = sys.executable
