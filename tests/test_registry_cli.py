"""The operator CLI generated from the catalogue: every tool has one command, every command runs
(real `sanctum-mcp` subprocesses on real database files), and the CLI words its messages as a
terminal does (`--yes`, `sanctum-mcp tools instances list`) while MCP keeps its own wording."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_letta import FakeLetta
from support import REPO, call, call_error, cli, snapshot
from test_roles import HARMLESS, world

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.cli import build_parser
from sanctum_mcp.commands import paths
from sanctum_mcp.domain.registry import Registry


# --- every tool has exactly one command -------------------------------------------------------------


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, tool it runs) for every command of the real parser, nouns built from the catalogue."""
    parser.format_help()  # builds a noun's verbs, as parsing or --help does
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if parser._defaults.get("cli_tool") is not None:
        yield path, parser._defaults["cli_tool"]
    for action in actions:
        for name, sub in action.choices.items():
            yield from leaf_commands(sub, (*path, name))


def test_every_tool_has_exactly_one_command_and_commands_are_unique():
    commands: dict[str, list[tuple[str, ...]]] = {}
    aliases: dict[str, list[tuple[str, ...]]] = {}
    for path, tool in leaf_commands(build_parser()):
        # A second name (paths.ALIASES: `letta use` for `letta activate`) is the same command.
        second = path[-1] in paths.ALIASES.get(tool, ())
        (aliases if second else commands).setdefault(tool, []).append(path)
    assert aliases == {tool: [(*paths.cli_path(all_tools()[tool])[:-1], name) for name in names]
                       for tool, names in paths.ALIASES.items()}
    tools = all_tools()
    without = sorted(set(tools) - set(commands))
    assert not without, f"tools without a CLI command: {without}"
    assert not set(commands) - set(tools)
    for name, found in commands.items():
        assert found == [paths.cli_path(tools[name])], f"{name} is reachable as {found}"
    all_paths = [paths.cli_path(spec) for spec in tools.values()]
    assert len(set(all_paths)) == len(all_paths)


def test_paths_read_the_way_people_think():
    tools = all_tools()
    assert paths.cli_path(tools["list_agents"]) == ("agents", "list")
    assert paths.cli_path(tools["create_tool_instance"]) == ("tools", "instances", "create")
    assert paths.cli_path(tools["sync_smcp_plugins"]) == ("plugins", "scan")
    assert paths.cli_path(tools["pause_job"]) == ("jobs", "pause")
    assert paths.cli_path(tools["letta_status"]) == ("letta", "status")


def test_readme_lists_every_command():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Operator CLI\n", 1)[1].split("\n## ", 1)[0]
    listed = {}
    for noun, verbs in re.findall(r"^\| `([a-z ]+)` \| (.+) \|$", section, flags=re.M):
        listed[noun] = re.findall(r"`([a-z-]+)`", verbs)
    generated: dict[str, list[str]] = {}
    for spec in all_tools().values():
        path = paths.cli_path(spec)
        generated.setdefault(" ".join(path[:-1]), []).append(path[-1])
    assert listed == generated


def test_help_and_serve_never_import_the_catalogue():
    # The catalogue takes most of a second to import: `serve` (stdio cold start) and `--help` must not pay it.
    probe = (
        "import sys\n"
        "from sanctum_mcp.cli import build_parser\n"
        "parser = build_parser()\n"
        "parser.format_help()\n"
        "parser.parse_args(['serve', '--transport', 'stdio'])\n"
        "print('sanctum_mcp.catalogue' in sys.modules, 'sanctum_mcp.catalogue.base' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=str(REPO), timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr


# --- every command runs: each tool of each family through its command -------------------------------


@pytest.fixture(scope="module")
def letta() -> Iterator[FakeLetta]:
    with FakeLetta() as fake:
        fake.agents = [{"id": "agent-a", "name": "Athena"}]
        yield fake


@pytest.fixture(scope="module")
def world_copy(tmp_path_factory, letta) -> Path:
    """test_roles' small world (the one its HARMLESS arguments succeed on), built once as files."""
    import anyio

    folder = tmp_path_factory.mktemp("world")

    async def build() -> None:
        registry = await Registry.open(folder / "registry.db")
        try:
            await world(registry, letta)
        finally:
            await registry.close()

    anyio.run(build)
    return folder


def argv(spec, arguments: dict[str, Any]) -> list[str]:
    """A tool's arguments as its command line: positionals in place, every other field as its flag."""
    words = [*paths.cli_path(spec)]
    positional = paths.positionals(spec)
    words += [str(arguments[name]) for name in positional if name in arguments]
    for name, value in arguments.items():
        if name in positional:
            continue
        flag = paths.flag(name)
        if value is True:
            words.append(flag)
        elif value is False:
            words.append("--no-" + flag[2:])
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        elif isinstance(value, dict):
            words += [flag, json.dumps(value)]
        else:
            words += [flag, str(value)]
    return words


def audit_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT COALESCE(MAX(id), 0) FROM logs").fetchone()[0]


@pytest.mark.parametrize("noun", sorted({paths.cli_path(s)[0] for s in all_tools().values()}))
def test_every_command_of_a_family_runs_its_tool(noun, world_copy, tmp_path):
    ran = 0
    for spec in all_tools().values():
        if paths.cli_path(spec)[0] != noun:
            continue
        here = tmp_path / spec.name
        shutil.copytree(world_copy, here)
        db_path = here / "registry.db"
        last_log = audit_rows(db_path)
        # A destructive tool's command previews unless it has --yes (catalogue/base.py CONFIRM).
        yes = ["--yes"] if "confirm" in spec.input.model_fields else []
        done = cli(db_path, *argv(spec, HARMLESS[spec.name]), *yes, "--json")
        assert done.returncode == 0, f"{' '.join(argv(spec, HARMLESS[spec.name]))}: {done.stderr}"
        result = json.loads(done.stdout)
        if isinstance(result, list):  # `config list|history --json` (from before) print every page's entries
            result = {"entries": result, "key": HARMLESS[spec.name].get("key", ""), "scope": "system", "target": ""}
        spec.output.model_validate(result)  # the tool's own result, whole
        no_op = isinstance(result, dict) and ("unchanged" in (result.get("change"), result.get("outcome"))
                                              or result.get("changed") in (False, []) or result.get("dry_run") is True)
        if spec.mutates and not no_op:  # it ran through the tool, which leaves its audit row
            assert audit_rows(db_path) > last_log, f"{spec.name}: no audit row"
        ran += 1
    assert ran >= 2


# --- what a person sees -----------------------------------------------------------------------------


def test_tables_by_default_json_on_request(db_path):
    assert cli(db_path, "init", "--example").returncode == 0
    table = cli(db_path, "tools", "instances", "list", "--agent", "Athena")
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["ID", "TOOL", "TOOL_ENABLED", "AGENT"]
    assert [r.split()[0] for r in rows] == ["2", "3"] and "athena-smcp" in rows[1]
    listed = json.loads(cli(db_path, "tools", "instances", "list", "--agent", "Athena", "--json").stdout)
    assert [i["name"] for i in listed["instances"]] == ["athena-chat", "athena-smcp"]
    one = cli(db_path, "agents", "get", "Athena")
    assert re.search(r"^description\s+Sanctum Configuration Assistant$", one.stdout, flags=re.M)
    # The main identifier goes by position or by its flag (the form messages use).
    assert cli(db_path, "agents", "get", "--agent", "athena").stdout == one.stdout


def test_an_error_is_exit_1_with_the_message_on_stderr(db_path):
    assert cli(db_path, "init").returncode == 0  # not a new database: its stderr would name it first
    done = cli(db_path, "agents", "get", "Nobody")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("sanctum-mcp: no agent named 'Nobody'")
    usage = cli(db_path, "agents", "get")
    assert usage.returncode == 2 and "AGENT" in usage.stderr


def test_bad_json_is_refused_without_echo_and_changes_nothing(db_path):
    assert cli(db_path, "init").returncode == 0
    before = snapshot(db_path)
    done = cli(db_path, "agents", "create", "Zeus", "--config", "{not-json sk-secret-123")
    assert done.returncode == 1 and "--config takes a JSON object" in done.stderr
    assert "sk-secret-123" not in done.stderr
    listed = cli(db_path, "agents", "create", "Zeus", "--config", "[1, 2]")
    assert listed.returncode == 1 and "not a list" in listed.stderr
    assert snapshot(db_path) == before


def test_secret_flags_read_stdin_and_stay_masked(db_path):
    secret = "letta-pw-from-stdin-9876"
    done = cli(db_path, "letta", "add", "letta.lan", "--port", "8283", "--password", "-", stdin=secret + "\n")
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout and "********9876" in done.stdout
    assert secret not in cli(db_path, "letta", "list", "--json").stdout
    with sqlite3.connect(db_path) as conn:
        stored = conn.execute("SELECT server_password FROM letta_server_config WHERE server_address = 'letta.lan'").fetchone()[0]
    assert stored.startswith("fernet:") and secret not in stored


def test_commands_that_existed_keep_working(db_path):
    tools = cli(db_path, "tools")  # no verb: every MCP tool with the role it needs, as before
    assert tools.returncode == 0 and re.search(r"^restore_backup\s+admin\s", tools.stdout, flags=re.M)
    assert len(tools.stdout.splitlines()) == len(all_tools())
    backups = cli(db_path, "backups")  # no verb: the list as JSON, as before
    assert backups.returncode == 0 and json.loads(backups.stdout)["backups"] == []
    assert cli(db_path, "user", "list").returncode == 0
    assert cli(db_path, "config", "get", "flask_port").stdout.startswith("flask_port = 5000")


# --- the CLI's wording ----------------------------------------------------------------------------------


def test_cli_errors_name_commands_and_flags_not_tool_arguments(db_path):
    assert cli(db_path, "init", "--example").returncode == 0
    backup = json.loads(cli(db_path, "backups", "create", "--json").stdout)
    for command in (["backups", "restore", str(backup["id"])], ["restore", str(backup["id"])]):
        done = cli(db_path, *command)
        assert done.returncode == 1 and "again with the same arguments and --yes" in done.stderr
        assert "confirm" not in done.stderr and "restore_backup" not in done.stderr
    done = cli(db_path, "tools", "instances", "get", "99")
    assert "call sanctum-mcp tools instances list to find its id" in done.stderr
    done = cli(db_path, "agents", "delete", "Athena")
    assert "call sanctum-mcp agents delete again with --cascade" in done.stderr and "cascade=true" not in done.stderr
    done = cli(db_path, "config", "set", "smcp_port", "9100", "--scope", "instance", "--target", "3",
               "--expected-version", "4")
    assert "retry with --expected-version 0" in done.stderr and "sanctum-mcp config get" in done.stderr, done.stderr
    assert cli(db_path, "user", "add", "vera", "--role", "viewer").returncode == 0
    done = cli(db_path, "--user", "vera", "users", "list")
    assert done.returncode == 1 and "sanctum-mcp users list needs the 'admin' role" in done.stderr


def test_quoted_values_are_never_reworded(db_path):
    done = cli(db_path, "agents", "get", "list_agents")
    assert "no agent named 'list_agents'; call sanctum-mcp agents list" in done.stderr


def test_validation_errors_name_positions_and_flags(db_path):
    done = cli(db_path, "agents", "create", "x" * 70)
    assert done.returncode == 1
    assert "invalid arguments for sanctum-mcp agents create: NAME: String should have at most 64" in done.stderr
    done = cli(db_path, "agents", "list", "--limit", "501")
    assert "invalid arguments for sanctum-mcp agents list: --limit: Input should be less than or equal to 500" \
        in done.stderr


async def test_mcp_keeps_its_own_wording(client):
    # The same refusals over MCP name the tools and their arguments, unchanged.
    assert "call list_tool_instances to find its id" in await call_error(client, "get_tool_instance", {"instance": 99})
    backup = await call(client, "create_backup", {})
    text = await call_error(client, "restore_backup", {"backup_id": backup["id"]})
    assert "confirm='" in text and "--yes" not in text


def test_a_busy_database_is_a_clear_error_not_a_traceback(db_path):
    assert cli(db_path, "init").returncode == 0
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go (busy_timeout is 10 s)
        done = cli(db_path, "agents", "create", "Zeus")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1 and "busy with another writer" in done.stderr and "Retry" in done.stderr, done.stderr
    assert "create_agent" not in done.stderr
