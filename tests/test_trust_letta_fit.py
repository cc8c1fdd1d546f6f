"""The agent surface as Letta and SMCP see it (issue 16): strict-mode schemas, what SMCP drops, nulls.

SMCP 3.1.0 (sanctumos/smcp, smcp.py parameter_spec_to_json_schema and execute_plugin_tool) turns a
describe parameter into a property with only `type`, `description` and `default` (arrays get string
items, the top level `additionalProperties: false`): `enum` and limits are dropped. A plugin failure
reaches the client as the `error` string alone, wrapped with SMCP's own code `plugin_error`: the
plugin's `error_type` is lost unless the string carries it.
"""

from __future__ import annotations

import json

import pytest
from support import call, call_error, snapshot
from test_smcp import bare_python, plugins_dir, run_shim, smcp_env  # noqa: F401  (fixtures)
from test_tool_contract import STRICT, letta_grade

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.domain.smcp.contract import run_plugin
from sanctum_mcp.smcp.install import install

SMCP_TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def as_smcp_publishes(command: dict) -> dict:
    """The MCP input schema SMCP 3.1.0 builds from one described command (restated, not copied)."""
    properties, required = {}, []
    for param in command["parameters"]:
        kind = param.get("type", "string") if param.get("type", "string") in SMCP_TYPES else "string"
        prop: dict = {"type": kind}
        if param.get("description"):
            prop["description"] = param["description"]
        if param.get("default") is not None:
            prop["default"] = param["default"]
        if kind == "array":
            prop["items"] = {"type": "string"}
        properties[param["name"]] = prop
        if param.get("required"):
            required.append(param["name"])
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def describe(plugins_dir, python) -> dict:  # noqa: F811
    install(plugins_dir, user="operator", allow_secrets=True)
    run = run_plugin(plugins_dir / "sanctum", ["--describe"], timeout=60, python=python)
    assert run.exit_code == 0, run.error
    return json.loads(run.stdout)


def test_every_smcp_command_is_letta_strict_compliant(plugins_dir, bare_python, smcp_env):  # noqa: F811
    commands = describe(plugins_dir, bare_python)["commands"]
    graded = {c["name"]: letta_grade(as_smcp_publishes(c)) for c in commands}
    assert {name: why for name, (grade, why) in graded.items() if grade != STRICT} == {}


def test_enum_values_survive_smcp_in_the_description(plugins_dir, bare_python, smcp_env):  # noqa: F811
    tools = all_tools()
    missing = []
    for command in describe(plugins_dir, bare_python)["commands"]:
        published = as_smcp_publishes(command)["properties"]
        for name, prop in tools[command["name"]].input_schema["properties"].items():
            allowed = prop.get("enum") or (prop.get("items") or {}).get("enum")
            listing = "Allowed values: " + ", ".join(str(v) for v in allowed or ()) + "."
            said = published[name].get("description", "")
            if allowed and listing not in said:
                missing.append(f"{command['name']}.{name}: the description does not say {listing!r}")
            if said != said.strip():
                missing.append(f"{command['name']}.{name}: stray spaces around {said!r}")
    assert not missing, "\n".join(missing)


async def test_smcp_errors_keep_their_kind_in_the_message(registry, plugins_dir, bare_python, smcp_env, db_path):  # noqa: F811
    # What an SMCP client sees of a failure is the `error` string (under SMCP's code plugin_error).
    install(plugins_dir, user="operator")
    before = snapshot(db_path)
    for command, arguments, kind in [
        ("get_agent", {"agent": "Nobody"}, "not_found"),
        ("create_agent", {"name": "X", "status": "Asleep"}, "invalid_input"),
        ("no_such_command", {}, "invalid_input"),
    ]:
        code, error = run_shim(plugins_dir, bare_python, command, arguments)
        assert code == 1 and error["error_type"] == kind, (command, error)
        assert error["error"].startswith(f"{kind}: "), (command, error)
    assert snapshot(db_path) == before


# --- set_config and friends over MCP -----------------------------------------------------------------


async def test_config_scope_defaults_to_system_as_on_the_cli(modern_client):
    # The CLI's `config set|history|delete|rollback` default --scope to system; MCP agrees.
    from sanctum_mcp.cli import build_parser

    cli = build_parser().parse_args(["config", "set", "greeting", "hello"])
    assert cli.scope == "system"
    change = await call(modern_client, "set_config", {"key": "greeting", "value": "hello"})
    assert (change["scope"], change["change"]) == ("system", "set"), change
    history = await call(modern_client, "config_history", {"key": "greeting"})
    assert history["scope"] == "system" and len(history["entries"]) == 1, history
    await call(modern_client, "delete_config", {"key": "greeting"})


@pytest.mark.parametrize("tool,arguments", [
    ("set_config", {"key": "greeting", "value": "bye", "scope": "system"}),
    ("delete_config", {"key": "greeting", "scope": "system"}),
    ("rollback_config", {"key": "greeting", "scope": "system", "version": 1}),
])
async def test_null_expected_version_is_refused_not_read_as_no_check(modern_client, db_path, tool, arguments):
    await call(modern_client, "set_config", {"key": "greeting", "value": "hello", "scope": "system"})
    await call(modern_client, "set_config", {"key": "greeting", "value": "hi", "scope": "system"})
    before = snapshot(db_path)
    error = await call_error(modern_client, tool, {**arguments, "expected_version": None})
    assert "expected_version" in error and "null" in error, error
    assert "leave it out" in error, error
    assert snapshot(db_path) == before
