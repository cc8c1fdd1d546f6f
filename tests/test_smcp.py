"""sanctum-mcp and SMCP: the plugin entry point, the shim, the manifest, and scanning a plugins folder.

Plugins run as SMCP runs them: a new process per call with SMCP-rendered argv, stdin closed, and
(for the shim) an interpreter where sanctum_mcp is NOT importable.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from mcp import Client
from support import REPO, call, call_error, server_env, snapshot, stdio_params

import sanctum_mcp
from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.domain.shared.errors import Conflict
from sanctum_mcp.domain.smcp.contract import describe_problems, render_argv, run_plugin
from sanctum_mcp.smcp.install import install
from sanctum_mcp.smcp.manifest import MANIFEST_NAME, manifest_text
from sanctum_mcp.smcp.plugin import describe_payload, parse_argv

CONTRACT = json.loads((Path(__file__).parent / "data" / "smcp-plugin-contract-v1.json").read_text())


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> str:
    """A Python without sanctum-mcp (a fresh venv), standing in for SMCP's own interpreter."""
    venv = tmp_path_factory.mktemp("smcp-python") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    probe = subprocess.run([python, "-c", "import sanctum_mcp"], capture_output=True, cwd=str(venv))
    assert probe.returncode != 0, "the bare interpreter must not see sanctum_mcp"
    return python


@pytest.fixture
def plugins_dir(tmp_path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    return folder


@pytest.fixture
def smcp_env(db_path, monkeypatch):
    """SMCP passes its environment to plugins; ours names the test database."""
    for key in [k for k in os.environ if k.startswith("SANCTUM_MCP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SANCTUM_MCP_DB", str(db_path))


def run_shim(plugins_dir: Path, python: str, command: str, arguments: dict, timeout: float = 60) -> tuple[int, dict]:
    """Run one sanctum command exactly as SMCP would: rendered argv, new process, SMCP's Python."""
    run = run_plugin(plugins_dir / "sanctum", [command, *render_argv(arguments)], timeout=timeout, python=python)
    assert run.exit_code is not None, run.error
    return run.exit_code, json.loads(run.stdout)


# --- --describe -------------------------------------------------------------------------------------


@pytest.mark.parametrize("allow_secrets", [True, False])
def test_describe_follows_the_contract_and_mirrors_the_catalogue(allow_secrets):
    # With --allow-secrets the whole catalogue; without (the default), what carries no secret.
    payload = describe_payload(allow_secrets=allow_secrets)
    Draft202012Validator(CONTRACT).validate(payload)
    assert payload["plugin"] == {"name": "sanctum", "version": sanctum_mcp.__version__,
                                 "description": payload["plugin"]["description"]}
    tools = all_tools()
    assert [c["name"] for c in payload["commands"]] == [n for n, s in tools.items() if allow_secrets or s.secrets is not True]
    assert allow_secrets == ("create_api_token" in [c["name"] for c in payload["commands"]])
    for command in payload["commands"]:
        schema = tools[command["name"]].input_schema
        hidden = set() if allow_secrets else set(tools[command["name"]].secrets)
        assert command["description"].startswith(tools[command["name"]].description)
        assert (command["description"] == tools[command["name"]].description) == (not hidden)
        assert [p["name"] for p in command["parameters"]] == [n for n in schema["properties"] if n not in hidden]
        for param in command["parameters"]:
            prop = schema["properties"][param["name"]]
            # SMCP keeps no object's properties: a structured object goes as JSON text (Letta strict mode).
            assert param["type"] == ("string" if prop["type"] == "object" else prop["type"])
            assert param["required"] == (param["name"] in schema.get("required", []))
            assert param.get("default") == prop.get("default")
            if param["type"] == "array":
                assert param["items"] == prop["items"] and "type" in param["items"]
            assert len(f"sanctum__{command['name']}") <= 64


def test_describe_runs_through_the_shim_with_another_python(plugins_dir, bare_python, smcp_env):
    install(plugins_dir, user="operator")
    run = run_plugin(plugins_dir / "sanctum", ["--describe"], timeout=30, python=bare_python)
    assert run.ok, run.error
    Draft202012Validator(CONTRACT).validate(run.result)
    assert run.result == json.loads(json.dumps(describe_payload()))


def test_our_contract_check_agrees_with_the_published_schema():
    reference = Draft202012Validator(CONTRACT)
    good_command = {"name": "ok_cmd-1", "parameters": [{"name": "x", "type": "array", "items": {"type": "string"}}]}
    payloads = [
        {"commands": []},
        {"commands": [good_command], "contract_version": "1.2", "plugin": {"name": "p"}},
        {"commands": [{"name": "bad name"}]},
        {"commands": [{"name": ""}]},
        {"commands": [{"name": "c", "parameters": [{"name": "x", "type": "float"}]}]},
        {"commands": [{"name": "c", "parameters": [{"type": "string"}]}]},
        {"commands": [{"name": "c", "parameters": [{"name": "x", "required": "yes"}]}]},
        {"commands": [{"name": "c", "parameters": [{"name": "x", "items": ["string"]}]}]},
        {"commands": [good_command], "contract_version": "2.0"},
        {"commands": [good_command], "plugin": {"name": ""}},
        {"plugin": {"name": "p"}},
        {"commands": "none"},
        ["not", "an", "object"],
    ]
    for payload in payloads:
        assert (not describe_problems(payload)) == reference.is_valid(payload), payload


# --- commands, as SMCP runs them ------------------------------------------------------------------------


def test_argv_round_trips_through_smcp_rendering():
    tools = all_tools()
    cases = [
        ("create_agent", {"name": "Athena", "active": False, "config": {"tempo": 120, "tags": ["a"]}, "description": "--odd"}),
        ("register_plugin", {"name": "p", "type": "mcp", "version": "1.0.0", "dependencies": ["core>=1", "ui"],
                             "enabled": True}),
        ("list_tools", {"limit": 7, "enabled": True, "category": "smcp"}),
        ("sync_smcp_plugins", {"timeout_seconds": 2.5}),
    ]
    for name, arguments in cases:
        assert parse_argv(tools[name], render_argv(arguments)) == arguments


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3), max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(
    name=_text.filter(bool), description=_text, active=st.booleans(),
    config=st.dictionaries(_text, _json, max_size=4),
    dependencies=st.lists(_text, max_size=4), limit=st.integers(1, 500),
)
def test_any_arguments_survive_smcp_rendering(name, description, active, config, dependencies, limit):
    tools = all_tools()
    agent = {"name": name, "description": description, "active": active, "config": config}
    assert parse_argv(tools["create_agent"], render_argv(agent)) == agent
    plugin = {"name": name, "type": "mcp", "version": "1.0.0", "dependencies": dependencies}
    parsed = parse_argv(tools["register_plugin"], render_argv(plugin))
    assert parsed == (plugin if dependencies else {k: v for k, v in plugin.items() if k != "dependencies"})
    assert parse_argv(tools["list_tools"], render_argv({"limit": limit, "enabled": active})) == {
        "limit": limit, "enabled": active}


def test_argv_mistakes_are_named():
    spec = all_tools()["create_agent"]
    for argv, message in [
        (["--colour", "red"], "no argument --colour"),
        (["--active", "yes"], "true or false"),
        (["--config", "[1]"], "JSON object"),
        (["--config", "{oops"], "JSON object"),
        (["--name"], "needs a value"),
        (["--name", "a", "--name", "b"], "given twice"),
        (["Athena"], "--flag value pairs"),
    ]:
        with pytest.raises(Exception) as refused:
            parse_argv(spec, argv)
        assert message in str(refused.value), argv


async def test_commands_run_as_smcp_runs_them(registry, plugins_dir, bare_python, smcp_env, db_path):
    install(plugins_dir, user="operator")
    # A boolean and an object.
    code, agent = run_shim(plugins_dir, bare_python, "create_agent",
                           {"name": "Athena", "active": False, "config": {"tempo": 120, "voice": {"pitch": "low"}}})
    assert code == 0 and agent["name"] == "Athena" and agent["is_active"] is False
    assert agent["config"] == {"tempo": 120, "voice": {"pitch": "low"}}
    # Arrays, as repeated flags.
    code, _ = run_shim(plugins_dir, bare_python, "register_plugin", {"name": "core", "type": "mcp", "version": "1.2.0"})
    assert code == 0
    code, result = run_shim(plugins_dir, bare_python, "register_plugin", {
        "name": "app", "type": "extension", "version": "0.1.0", "dependencies": ["core>=1.0,<2"], "agents": ["Athena"]})
    assert code == 0 and result["outcome"] == "registered"
    assert result["plugin"]["dependencies"] == [{"name": "core", "version_spec": "<2,>=1.0"}]
    assert result["plugin"]["agents"] == ["Athena"]
    code, page = run_shim(plugins_dir, bare_python, "list_plugins", {"enabled": True, "limit": 10})
    assert code == 0 and [p["name"] for p in page["plugins"]] == ["app", "core"]
    # Failures: exit 1 and a JSON object whose error is a string.
    before = snapshot(db_path)
    for command, arguments, kind in [
        ("get_agent", {"agent": "Nobody"}, "not_found"),
        ("create_agent", {"name": "athena"}, "conflict"),
        ("create_agent", {"name": "X", "status": "Asleep"}, "invalid_input"),
        ("no_such_command", {}, "invalid_input"),
        ("disable_plugin", {"plugin": "core"}, "conflict"),
    ]:
        code, error = run_shim(plugins_dir, bare_python, command, arguments)
        assert code == 1 and isinstance(error["error"], str) and error["error"], (command, error)
        assert error == {"status": "error", "error": error["error"], "error_type": kind}
    assert snapshot(db_path) == before


def test_install_cli_pins_the_database_and_guards_foreign_files(tmp_path, plugins_dir, bare_python):
    pinned = tmp_path / "pinned.db"
    env = server_env(tmp_path / "elsewhere.db")
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", "--db", str(pinned), "smcp", "install",
                           "--plugins-dir", str(plugins_dir)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    cli = plugins_dir / "sanctum" / "cli.py"
    assert str(pinned) in cli.read_text() and os.access(cli, os.X_OK)
    run = subprocess.run([bare_python, str(cli), *(["create_agent"] + render_argv({"name": "Monday"}))],
                         env=env, capture_output=True, text=True, cwd=str(tmp_path), stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    with sqlite3.connect(pinned) as conn:
        assert conn.execute("SELECT name FROM agents").fetchall() == [("Monday",)]
    assert not (tmp_path / "elsewhere.db").exists()
    # Someone else's cli.py is not overwritten without --force; our own shim is.
    cli.write_text("print('not ours')\n")
    refused = subprocess.run([sys.executable, "-m", "sanctum_mcp", "smcp", "install", "--plugins-dir", str(plugins_dir)],
                             env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "--force" in refused.stderr
    forced = subprocess.run([sys.executable, "-m", "sanctum_mcp", "smcp", "install", "--plugins-dir", str(plugins_dir),
                             "--force"], env=env, capture_output=True, text=True)
    assert forced.returncode == 0 and "sanctum-mcp SMCP shim" in cli.read_text()
    assert "SANCTUM_MCP_DB\"] = DATABASE" in cli.read_text() and "DATABASE = None" in cli.read_text()


def test_the_plugin_process_does_not_import_mcp(tmp_path):
    code = textwrap.dedent("""
        import asyncio, sys
        from sanctum_mcp.domain.registry import Registry
        from sanctum_mcp.smcp.plugin import main
        async def first_user():  # a database with its first user, the admin 'operator'
            await (await Registry.open(sys.argv[1])).close()
        asyncio.run(first_user())
        assert main(["--user", "operator", "--", "create_agent", "--name", "Timbre"]) == 0
        assert main(["--describe"]) == 0
        loaded = sorted(m for m in sys.modules if m == "mcp" or m.startswith(("mcp.", "mcp_types")))
        print(loaded, file=sys.stderr)
        sys.exit(1 if loaded else 0)
    """)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.db")], env=server_env(tmp_path / "r.db"),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- smcp_manifest.json ---------------------------------------------------------------------------------


def test_committed_manifest_is_the_generated_one():
    committed = (REPO / MANIFEST_NAME).read_text(encoding="utf-8")
    assert committed == manifest_text(), "smcp_manifest.json is stale: run `sanctum-mcp smcp manifest --output smcp_manifest.json`"


async def test_manifest_agrees_with_the_running_server(db_path):
    manifest = json.loads((REPO / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["version"] == sanctum_mcp.__version__
    assert manifest["endpoints"]["default_port"] == 9000
    assert (manifest["endpoints"]["streamable_http"], manifest["endpoints"]["sse"], manifest["endpoints"]["sse_messages"]) == (
        "/mcp", "/sse", "/messages/")
    async with Client(stdio_params(db_path), mode="legacy") as client:
        assert client.server_info.version == manifest["version"]
        listed = await client.list_tools()
        names = [t.name for t in listed.tools]
        while listed.next_cursor:
            listed = await client.list_tools(cursor=listed.next_cursor)
            names += [t.name for t in listed.tools]
    assert names == manifest["commands"]
    assert manifest["tool_prefix"] == "sanctum__" and manifest["contract_version"] == describe_payload()["contract_version"]
    env_names = {e["name"] for e in manifest["config"]["env"]}
    assert {"SANCTUM_MCP_DB", "SANCTUM_MCP_SECRET_KEY"} <= env_names
    assert any(d.startswith("mcp") for d in manifest["dependencies"])


# --- scanning a plugins folder ---------------------------------------------------------------------------


GOOD = """
import json, sys
DESCRIBE = {
    "contract_version": "1.0",
    "plugin": {"name": "good", "version": "1.2.0", "description": "A well-behaved plugin"},
    "commands": [{"name": "echo", "description": "Echo the arguments", "parameters": [
        {"name": "text", "type": "string", "required": True, "description": "What to echo"},
        {"name": "loud", "type": "boolean"},
        {"name": "tags", "type": "array", "items": {"type": "string"}},
        {"name": "meta", "type": "object"}]}],
}
argv = sys.argv[1:]
if argv == ["--describe"]:
    print(json.dumps(DESCRIBE))
    sys.exit(0)
if argv[:1] == ["echo"]:
    args, i = {}, 1
    while i < len(argv):
        key, value = argv[i][2:].replace("-", "_"), argv[i + 1]
        i += 2
        if key == "tags":
            args.setdefault(key, []).append(value)
        else:
            args[key] = json.loads(value) if key == "meta" else value
    print(json.dumps({"status": "success", "echo": args}))
    sys.exit(0)
print(json.dumps({"status": "error", "error": "unknown command"}))
sys.exit(2)
"""
BROKEN_EXIT = """
import json, sys
print(json.dumps({"status": "error", "error": "cannot reach the weather service"}))
sys.exit(1)
"""
BROKEN_JSON = """
print("Weather plugin v2 ready!")
"""
BROKEN_CONTRACT = """
import json
import os
import re

print(json.dumps({"commands": [{"name": "bad name!", "parameters": [{"name": "x", "type": "float"}]}]}))
"""
HANGING = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a child holding stdout open
time.sleep(120)
"""


def write_plugin(plugins_dir: Path, name: str, source: str | None, manifest: dict | None = None) -> Path:
    folder = plugins_dir / name
    folder.mkdir()
    if source is not None:
        (folder / "cli.py").write_text(textwrap.dedent(source))
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def entries(report: dict) -> dict[str, dict]:
    return {e["name"]: e for e in report["entries"]}


async def test_scan_good_broken_and_hanging_plugins(modern_client, plugins_dir, db_path):
    write_plugin(plugins_dir, "good", GOOD)
    write_plugin(plugins_dir, "broken-exit", BROKEN_EXIT)
    write_plugin(plugins_dir, "broken-json", BROKEN_JSON)
    write_plugin(plugins_dir, "broken-contract", BROKEN_CONTRACT)
    write_plugin(plugins_dir, "hanging", HANGING)
    write_plugin(plugins_dir, "notes", None, {"name": "notes", "type": "extension", "version": "0.2.0",
                                             "module_scope": "agent", "dependencies": ["good>=1.0"],
                                             "entry_point": "notes.py", "description": "Agent notes"})
    write_plugin(plugins_dir, "needs-new-good", None, {"name": "needs-new-good", "type": "integration",
                                                      "version": "1.0.0", "dependencies": {"good": ">=2"}})
    (plugins_dir / "docs").mkdir()
    report = await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "timeout_seconds": 2})
    found = entries(report)

    good = found["good"]
    assert (good["outcome"], good["status"], good["version"], good["commands"]) == ("registered", "Active", "1.2.0", ["echo"])
    assert "exit code 1: cannot reach the weather service" in found["broken-exit"]["error"]
    assert "did not print valid JSON" in found["broken-json"]["error"]
    assert "breaks the SMCP describe contract" in found["broken-contract"]["error"]
    assert "$.commands[0].name" in found["broken-contract"]["error"]
    assert "timed out after 2 s" in found["hanging"]["error"]
    for name in ("broken-exit", "broken-json", "broken-contract", "hanging"):
        assert (found[name]["outcome"], found[name]["status"]) == ("error", "Error")
    assert (found["notes"]["outcome"], found["notes"]["status"], found["notes"]["version"]) == ("registered", "Active", "0.2.0")
    assert found["needs-new-good"]["status"] == "Error"
    assert "needs 'good' >=2, but 'good' is at version 1.2.0" in found["needs-new-good"]["error"]
    assert found["docs"]["outcome"] == "skipped"

    plugin = await call(modern_client, "get_plugin", {"plugin": "good"})
    assert plugin["type"] == "mcp" and plugin["tools"] == ["smcp:good"]
    smcp = plugin["config"]["smcp"]
    assert smcp["plugin_dir"] == str((plugins_dir / "good").resolve())
    assert smcp["commands"][0]["name"] == "echo" and len(smcp["commands"][0]["parameters"]) == 4
    assert smcp["described_at"].endswith("Z")
    hanging = await call(modern_client, "get_plugin", {"plugin": "hanging"})
    assert hanging["status"] == "Error" and "timed out" in hanging["error"]
    notes = await call(modern_client, "get_plugin", {"plugin": "notes"})
    assert notes["type"] == "extension" and notes["config"]["manifest"]["module_scope"] == "agent"
    assert notes["dependency_tree"][0]["name"] == "good" and notes["dependency_tree"][0]["satisfied"] is True
    tool = await call(modern_client, "get_tool", {"tool": "smcp:good"})
    assert (tool["category"], tool["tool_type"]) == ("smcp", "plugin")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM logs WHERE action = 'plugin.sync'").fetchone()[0] == 1

    # Scan again after changes: fixed, vanished, unchanged.
    (plugins_dir / "broken-json" / "cli.py").write_text(textwrap.dedent(GOOD).replace('"good"', '"fixed"'))
    for path in (plugins_dir / "good").iterdir():
        path.unlink()
    (plugins_dir / "good").rmdir()
    (plugins_dir / "hanging" / "cli.py").write_text(BROKEN_EXIT)
    again = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir)}))
    assert (again["broken-json"]["outcome"], again["broken-json"]["status"], again["broken-json"]["error"]) == (
        "updated", "Active", None)
    assert (again["good"]["outcome"], again["good"]["status"]) == ("vanished", "Inactive")
    assert again["broken-exit"]["outcome"] == "error" and again["hanging"]["outcome"] == "error"
    # 'notes' needs good>=1.0: still registered (Inactive) at 1.2.0, so nothing changed for it.
    assert (again["notes"]["outcome"], again["notes"]["status"]) == ("unchanged", "Active")
    assert (again["needs-new-good"]["outcome"], again["needs-new-good"]["status"]) == ("error", "Error")
    vanished = await call(modern_client, "get_plugin", {"plugin": "good"})
    assert vanished["status"] == "Inactive" and "vanished_at" in vanished["config"]["smcp"]


async def test_scan_runs_describes_concurrently(modern_client, plugins_dir):
    # Each plugin waits for the other to have started before answering. Run one after the other,
    # the first would give up (exit 1); run together, both answer.
    peer = """
        import json, pathlib, sys, time
        here = pathlib.Path(__file__).parent
        (here / "started").write_text("yes")
        other = here.parent / "{other}" / "started"
        deadline = time.monotonic() + 20
        while not other.exists():
            if time.monotonic() > deadline:
                print(json.dumps({{"error": "peer never started"}}))
                sys.exit(1)
            time.sleep(0.02)
        print(json.dumps({{"commands": [{{"name": "ping"}}]}}))
    """
    write_plugin(plugins_dir, "left", peer.format(other="right"))
    write_plugin(plugins_dir, "right", peer.format(other="left"))
    found = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "timeout_seconds": 60}))
    assert (found["left"]["status"], found["right"]["status"]) == ("Active", "Active"), found


async def test_scan_leaves_manually_registered_plugins_alone(modern_client, plugins_dir, db_path):
    await call(modern_client, "register_plugin", {"name": "good", "type": "integration", "version": "3.0.0"})
    write_plugin(plugins_dir, "good", GOOD)
    found = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir)}))
    assert found["good"]["outcome"] == "skipped" and "register_plugin" in found["good"]["error"]
    assert (await call(modern_client, "get_plugin", {"plugin": "good"}))["version"] == "3.0.0"
    # ...and a scanned plugin cannot be re-registered by hand.
    write_plugin(plugins_dir, "other", GOOD)
    await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir)})
    error = await call_error(modern_client, "register_plugin", {"name": "other", "type": "mcp", "version": "9.0.0"})
    assert "sync_smcp_plugins" in error
    error = await call_error(modern_client, "sync_smcp_plugins", {"plugins_dir": "relative/path"})
    assert "absolute" in error
    error = await call_error(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir / "missing")})
    assert "does not exist" in error


async def test_scan_registers_sanctum_itself(modern_client, plugins_dir, smcp_env):
    install(plugins_dir, user="operator")
    found = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir)}))
    offered = [name for name, spec in all_tools().items() if spec.secrets is not True]  # no --allow-secrets
    assert found["sanctum"]["status"] == "Active" and found["sanctum"]["commands"] == offered
    plugin = await call(modern_client, "get_plugin", {"plugin": "sanctum"})
    assert plugin["version"] == sanctum_mcp.__version__
    assert plugin["config"]["smcp"]["commands"] == json.loads(json.dumps(describe_payload()))["commands"]


async def test_instances_of_smcp_tools_run_their_command(modern_client, registry, plugins_dir, db_path, bare_python):
    write_plugin(plugins_dir, "good", GOOD)
    error = await call_error(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "python": "python3"})
    assert "absolute path of an interpreter" in error
    # The scan runs plugins with SMCP's interpreter when told which one it is, and records it.
    await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "python": bare_python})
    before = snapshot(db_path)
    error = await call_error(modern_client, "create_tool_instance", {
        "tool": "smcp:good", "name": "bad", "config": {"command": "shout"}})
    assert "$.command: must be one of" in error
    error = await call_error(modern_client, "create_tool_instance", {
        "tool": "smcp:good", "name": "bad", "config": {"command": "echo", "arguments": {"loud": "yes", "x": 1}}})
    assert "$.arguments.text: required property is missing" in error
    assert "$.arguments.loud: must be of type boolean" in error and "$.arguments.x: property is not allowed" in error
    assert snapshot(db_path) == before
    arguments = {"text": "hello", "loud": True, "tags": ["a", "b"], "meta": {"k": 1}}
    inst = await call(modern_client, "create_tool_instance", {
        "tool": "smcp:good", "name": "hello", "config": {"command": "echo", "arguments": arguments}})
    plain = await call(modern_client, "create_tool", {"name": "plain"})
    other = await call(modern_client, "create_tool_instance", {"tool": plain["name"], "name": "x"})

    command = await registry.db.read(lambda conn: registry.plugins.smcp_command_for_instance(conn, inst["id"]))
    plugin_dir, name, args, parameters = command
    assert (plugin_dir, name, args) == ((plugins_dir / "good").resolve(), "echo", arguments)
    assert [p["name"] for p in parameters] == ["text", "loud", "tags", "meta"]
    assert command.python == bare_python
    run = run_plugin(plugin_dir, [name, *render_argv(args, parameters)], timeout=30, python=command.python)
    assert run.ok and run.result == {"status": "success", "echo": {
        "text": "hello", "loud": "true", "tags": ["a", "b"], "meta": {"k": 1}}}
    assert await registry.db.read(lambda conn: registry.plugins.smcp_command_for_instance(conn, other["id"])) is None

    await call(modern_client, "disable_plugin", {"plugin": "good"})
    with pytest.raises(Conflict) as refused:
        await registry.db.read(lambda conn: registry.plugins.smcp_command_for_instance(conn, inst["id"]))
    assert "disabled" in str(refused.value) and "enable_plugin" in str(refused.value)


def test_scan_command_line(tmp_path, plugins_dir):
    write_plugin(plugins_dir, "good", GOOD)
    write_plugin(plugins_dir, "broken-exit", BROKEN_EXIT)
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", "--db", str(tmp_path / "r.db"), "smcp", "scan",
                           "--plugins-dir", str(plugins_dir), "--timeout", "20"],
                          env=server_env(tmp_path / "unused.db"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:3] == ["good", "registered", "Active"] for line in lines), done.stdout
    assert any(line.split()[:3] == ["broken-exit", "error", "Error"] for line in lines), done.stdout


# --- trust: what the scan runs plugins with ----------------------------------------------------------


SHELL_CLI = "touch {marker}\n"  # not Python: only a shell would run it


def fake_python(folder: Path, marker: Path) -> str:
    """A shell script named python3: its name is right, but it runs whatever it is given."""
    folder.mkdir()
    script = folder / "python3"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    return str(script)


async def test_scan_runs_plugins_only_with_a_python_interpreter(modern_client, plugins_dir, tmp_path, db_path, bare_python):
    ran = tmp_path / "ran"
    write_plugin(plugins_dir, "shell", SHELL_CLI.format(marker=ran))
    sh_copy = tmp_path / "copy" / "python3"  # an ELF program that is not Python, named python3
    sh_copy.parent.mkdir()
    sh_copy.write_bytes(Path("/bin/sh").resolve().read_bytes())
    sh_copy.chmod(0o755)
    linked = tmp_path / "link"
    linked.mkdir()
    (linked / "python3").symlink_to("/bin/sh")
    before = snapshot(db_path)
    for python, reason in [
        ("/bin/sh", "only python3, python3.N, pypy or pypy3"),
        (fake_python(tmp_path / "fake", ran), "a script or data"),
        (str(sh_copy), "no Python entry point"),
        (str(linked / "python3"), "only python3, python3.N, pypy or pypy3"),
        (str(tmp_path / "missing" / "python3"), "does not exist"),
        (str(plugins_dir), "not an executable file"),
    ]:
        error = await call_error(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "python": python})
        assert "is not a Python interpreter" in error or "does not exist" in error, (python, error)
        assert reason in error, (python, error)
    assert not ran.exists(), "a program that is not Python was run"
    assert snapshot(db_path) == before
    # Real interpreters pass: sanctum-mcp's own, and another venv's python (a symlink to a CPython).
    for python in (sys.executable, bare_python):
        found = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "python": python}))
        assert found["shell"]["status"] == "Error" and not ran.exists()


async def test_a_stored_interpreter_that_is_not_python_is_never_run(modern_client, registry, plugins_dir, db_path):
    # A database written before the check (or edited by hand) may name /bin/sh as SMCP's Python.
    write_plugin(plugins_dir, "good", GOOD)
    await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "python": sys.executable})
    inst = await call(modern_client, "create_tool_instance", {
        "tool": "smcp:good", "name": "hello", "config": {"command": "echo", "arguments": {"text": "hi"}}})
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE plugins SET config = json_set(config, '$.smcp.python', '/bin/sh') WHERE name = 'good'")
    with pytest.raises(Conflict) as refused:
        await registry.db.read(lambda conn: registry.plugins.smcp_command_for_instance(conn, inst["id"]))
    assert "is not a Python interpreter" in str(refused.value) and "sync_smcp_plugins" in str(refused.value)


# --- trust: who SMCP acts as, and what passes through it ----------------------------------------------
#
# SMCP runs `cli.py` for any client of its own (it needs no credentials on loopback) and logs every
# argument and result at INFO. The plugin must act as a user chosen at install, and by default no
# secret or token may pass through it at all.


def sanctum_cli(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sanctum_mcp", "--db", str(db_path), *args],
                          env=server_env(db_path), capture_output=True, text=True, stdin=subprocess.DEVNULL)


def shim_describe(plugins_dir: Path, python: str) -> dict[str, dict]:
    run = run_plugin(plugins_dir / "sanctum", ["--describe"], timeout=30, python=python)
    assert run.ok, run.error
    Draft202012Validator(CONTRACT).validate(run.result)
    return {c["name"]: c for c in run.result["commands"]}


def without_logs(db_path: Path) -> list[str]:
    """The database but the logs table (a refusal is audited there, and nothing else changes)."""
    return [line for line in snapshot(db_path) if '"logs"' not in line and "VALUES('logs'" not in line]


async def test_smcp_plugin_acts_as_the_user_chosen_at_install(registry, plugins_dir, bare_python, smcp_env, db_path):
    await registry.users.create(registry.operator, username="smcp-viewer", role="viewer", email=None, permissions=None)
    done = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir), "--user", "smcp-viewer")
    assert done.returncode == 0, done.stderr
    assert "'smcp-viewer'" in done.stdout and "viewer" in done.stdout
    before = without_logs(db_path)
    code, error = run_shim(plugins_dir, bare_python, "create_agent", {"name": "Zeus"})
    assert (code, error["error_type"]) == (1, "forbidden"), error
    assert "'smcp-viewer' has 'viewer'" in error["error"]
    assert without_logs(db_path) == before
    code, page = run_shim(plugins_dir, bare_python, "list_agents", {})
    assert code == 0 and page["agents"] == []
    # SMCP's argv comes after the shim's `--`: a client cannot choose another user.
    run = run_plugin(plugins_dir / "sanctum", ["--user", "operator", "create_agent", "--name", "Zeus"], timeout=60,
                     python=bare_python)
    assert run.exit_code == 1 and json.loads(run.stdout)["error_type"] == "invalid_input" and "usage" in run.stdout
    assert without_logs(db_path) == before
    # A deactivated user stops the plugin, with what to do.
    await registry.users.deactivate(registry.operator, "smcp-viewer")
    code, error = run_shim(plugins_dir, bare_python, "list_agents", {})
    assert code == 1 and "deactivated" in error["error"] and "smcp install" in error["error"]


async def test_smcp_install_refuses_a_user_it_cannot_act_as(registry, plugins_dir, db_path):
    await registry.users.create(registry.operator, username="gone", role="user", email=None, permissions=None)
    await registry.users.deactivate(registry.operator, "gone")
    for name, reason in (("ghost", "no user named 'ghost'"), ("gone", "deactivated")):
        done = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir), "--user", name)
        assert done.returncode != 0 and reason in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert list(plugins_dir.iterdir()) == []
    users = await registry.users.list()
    assert sorted(u.username for u in users.users) == ["gone", "operator"]


async def test_smcp_install_without_user_acts_as_a_dedicated_non_admin(registry, plugins_dir, bare_python, smcp_env, db_path):
    done = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir))
    assert done.returncode == 0, done.stderr
    assert "'smcp'" in done.stdout and "role user" in done.stdout and "created" in done.stdout, done.stdout
    smcp_user = await registry.users.get("smcp")
    assert (smcp_user.role, smcp_user.is_active) == ("user", True)
    code, error = run_shim(plugins_dir, bare_python, "create_user", {"username": "mallory", "role": "admin"})
    assert (code, error["error_type"]) == (1, "forbidden") and "'admin' role" in error["error"]
    code, agent = run_shim(plugins_dir, bare_python, "create_agent", {"name": "Monday"})
    assert code == 0 and agent["name"] == "Monday"
    # Installing again keeps the same user (and says so), rather than creating another.
    again = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir))
    assert again.returncode == 0 and "'smcp'" in again.stdout and "created" not in again.stdout


def test_a_shim_without_a_chosen_user_is_refused(plugins_dir, bare_python, smcp_env, db_path, tmp_path):
    # A shim written before the user was pinned runs `python -m sanctum_mcp.smcp <args>` as is.
    folder = plugins_dir / "sanctum"
    folder.mkdir()
    (folder / "cli.py").write_text(textwrap.dedent(f"""
        import os, sys
        os.execv({sys.executable!r}, [{sys.executable!r}, "-P", "-m", "sanctum_mcp.smcp"] + sys.argv[1:])
    """))
    code, error = run_shim(plugins_dir, bare_python, "create_agent", {"name": "Zeus"})
    assert code == 1 and "sanctum-mcp smcp install" in error["error"] and "--user" in error["error"], error
    assert not db_path.exists() or "Zeus" not in "".join(snapshot(db_path))
    # --describe needs no user: it reads no data.
    assert run_plugin(folder, ["--describe"], timeout=30, python=bare_python).ok


async def test_no_secret_or_token_passes_through_smcp_by_default(registry, plugins_dir, bare_python, smcp_env, db_path):
    op = registry.operator
    await registry.config.set(op, "openai_api_key", "sk-smcp-canary-5150", scope="system")
    await registry.tools.create_tool(op, {"name": "vault", "category": "master", "tool_type": "utility", "config_schema": {
        "type": "object", "properties": {"password": {"type": "string", "writeOnly": True}, "host": {"type": "string"}}}})
    kept = await registry.tools.create_instance(op, tool="vault", agent=None, name="kept",
                                                config={"password": "hunter2-canary", "host": "a"})
    # Acting as an admin is allowed when chosen, and said loudly.
    done = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir), "--user", "operator")
    assert done.returncode == 0, done.stderr
    assert "admin" in done.stderr and "warning" in done.stderr.lower()

    commands = shim_describe(plugins_dir, bare_python)
    assert "create_api_token" not in commands
    params = {name: [p["name"] for p in c["parameters"]] for name, c in commands.items()}
    assert "reveal" not in params["get_config"] and "key" in params["get_config"]
    assert "sensitive" not in params["set_config"] and "value" in params["set_config"]
    for name in ("add_letta_server", "update_letta_server"):
        assert not {"password", "token"} & set(params[name]), name

    before = without_logs(db_path)
    for command, arguments in [
        ("create_api_token", {"user": "operator"}),
        ("get_config", {"key": "openai_api_key", "reveal": True}),
        ("set_config", {"key": "openai_api_key", "value": "sk-new-secret-0001", "scope": "system"}),
        ("set_config", {"key": "my_token", "value": "tok-0002", "scope": "system", "sensitive": True}),
        ("add_letta_server", {"address": "localhost", "port": 8283, "password": "pw-0003"}),
        ("update_tool_instance", {"instance": kept.id, "config": {"password": "pw-0004", "host": "a"}}),
        # Not even the stored secret itself: accepting it would confirm a guess.
        ("update_tool_instance", {"instance": kept.id, "config": {"password": "hunter2-canary", "host": "a"}}),
        ("create_tool_instance", {"tool": "vault", "name": "new", "config": {"password": "pw-0005"}}),
    ]:
        run = run_plugin(plugins_dir / "sanctum", [command, *render_argv(arguments)], timeout=60, python=bare_python)
        error = json.loads(run.stdout)
        assert run.exit_code == 1 and error["error_type"] == "forbidden", (command, run.stdout)
        assert "SMCP" in error["error"] and "--allow-secrets" in error["error"], (command, error)
        for secret in ("sanctum_", "sk-smcp-canary-5150", "hunter2-canary", "sk-new-secret", "tok-0002", "pw-000"):
            assert secret not in run.stdout + run.stderr, (command, secret)
    assert without_logs(db_path) == before
    # What carries no secret still works, masks included: sending back the mask keeps the secret.
    code, shown = run_shim(plugins_dir, bare_python, "get_tool_instance", {"instance": kept.id})
    assert code == 0 and shown["config"]["password"] != "hunter2-canary"
    code, updated = run_shim(plugins_dir, bare_python, "update_tool_instance", {
        "instance": kept.id, "config": {"password": shown["config"]["password"], "host": "b"}})
    assert code == 0 and updated["config"]["host"] == "b"
    code, got = run_shim(plugins_dir, bare_python, "get_config", {"key": "openai_api_key"})
    assert code == 0 and got["value"].endswith("5150") and "canary" not in json.dumps(got)

    # The operator may opt in at install, and is warned again.
    done = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir), "--user", "operator",
                       "--allow-secrets")
    assert done.returncode == 0 and "secret" in done.stderr.lower(), done.stderr
    assert "create_api_token" in shim_describe(plugins_dir, bare_python)
    code, token = run_shim(plugins_dir, bare_python, "create_api_token", {"user": "operator"})
    assert code == 0 and token["token"].startswith("sanctum_")
    code, got = run_shim(plugins_dir, bare_python, "get_config", {"key": "openai_api_key", "reveal": True})
    assert code == 0 and got["revealed_value"] == "sk-smcp-canary-5150"


SECRET_INPUT = re.compile(r"pass(word|phrase)?|token|secret|api_?key|credential|private_key|reveal|sensitive", re.I)
SECRET_OUTPUT = re.compile(r"pass(word|phrase)?|token|secret|api_?key|credential|private_key|revealed|plaintext", re.I)


def _properties(schema: Any, path: str = "$"):
    """(path, name, property) of every property at any depth of a JSON schema."""
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            yield path, name, prop
            yield from _properties(prop, f"{path}.{name}")
        for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            sub = schema.get(key)
            for part in sub if isinstance(sub, list) else [sub]:
                yield from _properties(part, path)


def test_every_tool_that_carries_a_secret_declares_it():
    """`secrets=` is what keeps secrets out of SMCP: a new tool must declare it. An input field named
    like a secret must be declared (ids and clear_* switches name no secret); an output string named
    like one must be masked (its description says so) or the tool must declare what returns it."""
    missing = []
    for name, spec in all_tools().items():
        declared = set(spec.input.model_fields) if spec.secrets is True else set(spec.secrets)
        for _path, field, _prop in _properties(spec.input_schema):
            if SECRET_INPUT.search(field) and not field.endswith("_id") and not field.startswith("clear_"):
                if field not in declared:
                    missing.append(f"{name}: input {field}")
        for path, field, prop in _properties(spec.output_schema):
            types = prop.get("type") if isinstance(prop, dict) else None
            is_text = types == "string" or (isinstance(types, list) and "string" in types)
            if is_text and SECRET_OUTPUT.search(field) and "masked" not in prop.get("description", "").lower():
                if not spec.secrets:
                    missing.append(f"{name}: output {path}.{field}")
    assert not missing, f"declare secrets= on these tools (catalogue/base.py ToolSpec.secrets): {missing}"
    # The check sees what it must: these carry secrets and are declared.
    assert all_tools()["create_api_token"].secrets is True
    assert set(all_tools()["add_letta_server"].secrets) == {"password", "token"}
    assert all_tools()["get_config"].secrets == ("reveal",)


async def test_smcp_install_toolsets_publish_and_serve_only_those(registry, plugins_dir, bare_python, smcp_env, db_path):
    """`smcp install --toolsets` pins the selection in the shim: --describe lists only those tools,
    and any other command (existing or not) gets the same refusal."""
    done = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir), "--toolsets", "logs,jobs")
    assert done.returncode == 0, done.stderr
    from sanctum_mcp.catalogue import all_tools

    expected = {n for n, s in all_tools().items() if s.group in ("Logs", "Jobs")}
    assert set(shim_describe(plugins_dir, bare_python)) == expected
    before = without_logs(db_path)
    code, outside = run_shim(plugins_dir, bare_python, "create_agent", {"name": "Zeus"})
    code2, missing = run_shim(plugins_dir, bare_python, "no_such_command", {"name": "Zeus"})
    assert (code, code2) == (1, 1)
    assert outside["error"].replace("create_agent", "X") == missing["error"].replace("no_such_command", "X")
    assert without_logs(db_path) == before
    code, page = run_shim(plugins_dir, bare_python, "list_jobs", {})
    assert code == 0 and page["jobs"] == []
    # An unknown name is refused at install, naming the valid ones; nothing is written or created.
    shim, before = (plugins_dir / "sanctum" / "cli.py").read_text(), snapshot(db_path)
    bad = sanctum_cli(db_path, "smcp", "install", "--plugins-dir", str(plugins_dir), "--toolsets", "athena",
                      "--user", "newbie")
    assert bad.returncode != 0 and "assistant" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert (plugins_dir / "sanctum" / "cli.py").read_text() == shim and snapshot(db_path) == before


# --- polish: what SMCP itself sees -------------------------------------------------------------------

# An older SMCP plugin (like botfather and devops before SMCP 3.1): argparse, no --describe (exit 2),
# its commands listed under "Available commands:" in --help, which SMCP scrapes.
HELP_ONLY = '''
import argparse, json, sys
parser = argparse.ArgumentParser(description="BotFather automation", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="""
Available commands:
  click-button    Click a button in a BotFather message
  send-message    Send a message to BotFather

Examples:
  python cli.py send-message --message "/newbot"
""")
commands = parser.add_subparsers(dest="command", help="Available commands")
commands.add_parser("click-button").add_argument("--button-text")
commands.add_parser("send-message").add_argument("--message")
args = parser.parse_args()
print(json.dumps({"result": args.command}))
'''
# --describe answers JSON without a command list: SMCP falls back to --help too.
HALF_DESCRIBE = '''
import json, sys
if sys.argv[1:] == ["--help"]:
    print("usage: cli.py COMMAND\\n\\nAvailable commands:\\n  status   Show the status\\n")
else:
    print(json.dumps({"plugin": {"name": "half", "version": "0.3.0"}}))
'''
# Neither: SMCP serves nothing of it.
HELP_WITHOUT_COMMANDS = '''
import sys
print("usage: cli.py [--verbose]")
sys.exit(0 if "--help" in sys.argv else 2)
'''


async def test_a_plugin_smcp_serves_through_help_is_registered_as_smcp_sees_it(modern_client, plugins_dir, db_path):
    write_plugin(plugins_dir, "botfather", HELP_ONLY)
    write_plugin(plugins_dir, "half", HALF_DESCRIBE)
    write_plugin(plugins_dir, "mute", HELP_WITHOUT_COMMANDS)
    found = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir), "timeout_seconds": 20}))
    bot = found["botfather"]
    assert (bot["outcome"], bot["status"], bot["error"]) == ("registered", "Active", None), bot
    assert bot["commands"] == ["click-button", "send-message"]
    assert any("--help" in w and "without parameters" in w for w in bot["warnings"]), bot["warnings"]
    assert (found["half"]["status"], found["half"]["commands"]) == ("Active", ["status"])
    mute = found["mute"]
    assert mute["status"] == "Error" and "exit code 2" in mute["error"] and "--help lists no commands" in mute["error"]

    plugin = await call(modern_client, "get_plugin", {"plugin": "botfather"})
    smcp = plugin["config"]["smcp"]
    assert smcp["discovery"] == "help"
    assert smcp["commands"][1] == {"name": "send-message", "description": "Send a message to BotFather", "parameters": []}
    assert plugin["tools"] == ["smcp:botfather"]
    # An instance runs a command as SMCP would: no arguments (SMCP passes none it does not know).
    await call(modern_client, "create_tool_instance", {"tool": "smcp:botfather", "name": "hello",
                                                       "config": {"command": "send-message"}})
    assert "property is not allowed" in await call_error(modern_client, "create_tool_instance", {
        "tool": "smcp:botfather", "name": "x", "config": {"command": "send-message", "arguments": {"message": "hi"}}})


async def test_a_plugin_removed_from_a_symlinked_folder_becomes_inactive(modern_client, plugins_dir, tmp_path):
    # Plugins kept elsewhere and linked into SMCP's folder: unlinking removes the plugin from SMCP,
    # though its code is still there.
    store = tmp_path / "store"
    store.mkdir()
    write_plugin(store, "linked", GOOD)
    write_plugin(store, "kept", GOOD)
    (plugins_dir / "linked").symlink_to(store / "linked")
    (plugins_dir / "kept").symlink_to(store / "kept")
    found = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir)}))
    assert (found["linked"]["status"], found["kept"]["status"]) == ("Active", "Active")
    (plugins_dir / "linked").unlink()
    again = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(plugins_dir)}))
    assert (again["linked"]["outcome"], again["linked"]["status"]) == ("vanished", "Inactive"), again["linked"]
    assert again["kept"]["outcome"] == "unchanged"
    assert (await call(modern_client, "get_plugin", {"plugin": "linked"}))["status"] == "Inactive"
    # The same through a plugins folder that is itself a link.
    link = tmp_path / "plugins-link"
    link.symlink_to(plugins_dir)
    (plugins_dir / "kept").unlink()
    third = entries(await call(modern_client, "sync_smcp_plugins", {"plugins_dir": str(link)}))
    assert (third["kept"]["outcome"], third["kept"]["status"]) == ("vanished", "Inactive"), third["kept"]


async def test_sync_through_smcp_defaults_to_the_shims_folder_and_smcps_python(registry, plugins_dir, bare_python,
                                                                              smcp_env, db_path, monkeypatch):
    monkeypatch.delenv("MCP_PLUGINS_DIR", raising=False)
    install(plugins_dir, user="operator")  # sync_smcp_plugins is an admin's tool
    write_plugin(plugins_dir, "good", GOOD)
    code, report = run_shim(plugins_dir, bare_python, "sync_smcp_plugins", {}, timeout=120)
    assert code == 0, report
    assert report["plugins_dir"] == str(plugins_dir)
    found = entries(report)
    assert (found["good"]["status"], found["sanctum"]["status"]) == ("Active", "Active"), found
    with sqlite3.connect(db_path) as conn:
        config = json.loads(conn.execute("SELECT config FROM plugins WHERE name = 'good'").fetchone()[0])
    assert config["smcp"]["python"] == bare_python  # SMCP's own interpreter, as SMCP runs the plugin
    # Named explicitly, the caller's choice wins.
    other = plugins_dir.parent / "other-plugins"
    other.mkdir()
    code, report = run_shim(plugins_dir, bare_python, "sync_smcp_plugins", {"plugins_dir": str(other)})
    assert code == 0 and (report["plugins_dir"], report["entries"]) == (str(other), [])
