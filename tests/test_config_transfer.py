"""Config export and import: `sanctum-mcp config export|import` (real subprocesses on real database
files) and the export_config / import_config tools (the SDK's client): round trips, one transaction
with check-and-set, dry runs, shell-safe env lines, secrets masked and revealed only by admins, and
bad documents refused with nothing changed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml
from mcp import Client
from support import call, call_error, cli, snapshot

from sanctum_mcp.domain.shared.identity import Caller, Permissions
from sanctum_mcp.domain.users.models import PermissionSet
from sanctum_mcp.server.app import build_server


def ok(db_path: Path, *args: str, stdin: str | None = None) -> str:
    done = cli(db_path, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(db_path: Path, *args: str, stdin: str | None = None) -> str:
    done = cli(db_path, *args, stdin=stdin)
    assert done.returncode == 1, f"{args} should have failed: {done.stdout}"
    assert done.stderr.startswith("sanctum-mcp: "), done.stderr
    return done.stderr


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """init --example, plus an override for Athena and a secret (set by the local admin)."""
    db_path = tmp_path / "registry.db"
    ok(db_path, "init", "--example")
    ok(db_path, "config", "set", "smcp_port", "9100", "--scope", "agent", "--target", "Athena")
    ok(db_path, "config", "set", "openai_api_key", "sk-test-1234567890abcd")
    return db_path


def entries_by_place(document: dict) -> dict[tuple[str, str, str], dict]:
    return {(e["scope"], e["target"], e["key"]): e for e in document["entries"]}


# --- round trips ---------------------------------------------------------------------------------------


def test_export_edit_import_round_trip_equal(example, tmp_path):
    exported = json.loads(ok(example, "config", "export"))
    places = entries_by_place(exported)
    assert places[("agent", "Athena", "smcp_port")]["value"] == "9100"
    assert places[("system", "", "openai_api_key")]["value"] == "********abcd"  # masked, not the secret
    assert "sk-test" not in json.dumps(exported)

    edited = json.loads(json.dumps(exported))
    for entry in edited["entries"]:
        if (entry["scope"], entry["target"], entry["key"]) == ("agent", "Athena", "smcp_port"):
            entry["value"] = "9200"
        if (entry["scope"], entry["key"]) == ("system", "flask_port"):
            entry["value"] = "5050"
    edited["entries"].append({"key": "bootstrap_mode", "scope": "system", "target": "", "value": "full"})
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))

    before = snapshot(example)
    dry = ok(example, "config", "import", str(path), "--dry-run")
    assert snapshot(example) == before, "a dry run changed the database"
    assert "smcp_port at agent Athena: 9100 -> 9200" in dry
    assert "flask_port at system" in dry and "-> 5050" in dry
    assert "+ bootstrap_mode at system: full" in dry
    assert "3 setting(s) would change" in dry

    applied = ok(example, "config", "import", str(path))
    assert "3 setting(s) changed" in applied
    again = json.loads(ok(example, "config", "export"))
    # Equal to the edited document, but for the versions the changes took.
    strip = lambda doc: {p: {k: v for k, v in e.items() if k != "version"} for p, e in entries_by_place(doc).items()}  # noqa: E731
    wanted = strip(edited)
    wanted[("system", "", "bootstrap_mode")] |= {"type": "string", "sensitive": False, "category": "general",
                                                 "description": None, "environment": None}
    assert strip(again) == wanted
    assert entries_by_place(again)[("agent", "Athena", "smcp_port")]["version"] == \
        places[("agent", "Athena", "smcp_port")]["version"] + 1
    # The secret was kept (its mask came back as exported), not replaced by asterisks.
    assert json.loads(ok(example, "config", "get", "openai_api_key", "--reveal", "--json"))["revealed_value"] == \
        "sk-test-1234567890abcd"


def test_yaml_export_imports_back_unchanged(example, tmp_path):
    text = ok(example, "config", "export", "--format", "yaml")
    document = yaml.safe_load(text)
    assert document["sanctum_config"] == 1 and document["entries"]
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    before = snapshot(example)
    result = json.loads(ok(example, "config", "import", str(path), "--json"))
    assert result["changed"] == [] and result["unchanged"] == len(document["entries"])
    assert snapshot(example) == before
    assert yaml.safe_load(ok(example, "config", "export", "--format", "yaml")) == document


def test_import_into_another_registry_without_versions(example, tmp_path):
    other = tmp_path / "other.db"
    ok(other, "init", "--example")
    document = json.loads(ok(example, "config", "export", "--scope", "agent", "--target", "Athena"))
    for entry in document["entries"]:
        del entry["version"]
    ok(other, "config", "import", "-", stdin=json.dumps(document))
    assert json.loads(ok(other, "config", "get", "smcp_port", "--agent", "Athena", "--json"))["value"] == "9100"


def test_values_per_environment_round_trip_and_one_environment_exports_alone(example, tmp_path):
    ok(example, "config", "set", "smcp_port", "9200", "--environment", "staging")
    ok(example, "config", "set", "smcp_port", "9300", "--scope", "agent", "--target", "Athena",
       "--environment", "production")
    exported = json.loads(ok(example, "config", "export"))
    held = {(e["scope"], e["target"], e["key"], e["environment"]): e["value"]
            for e in exported["entries"] if e["environment"]}
    assert held == {("system", "", "smcp_port", "staging"): "9200", ("agent", "Athena", "smcp_port", "production"): "9300"}
    general = next(e["value"] for e in exported["entries"]
                   if (e["scope"], e["key"], e["environment"]) == ("system", "smcp_port", None))

    # One environment: the general values and that environment's own, nothing of the others.
    staging = json.loads(ok(example, "config", "export", "--environment", "staging"))
    assert {e["environment"] for e in staging["entries"]} == {None, "staging"}
    # The shell form gives the value that applies there (the active environment's by default).
    assert ok(example, "config", "export", "--format", "env", "--environment", "staging",
              "--keys", "smcp_port").strip() == "SANCTUM_SMCP_PORT=9200"
    assert ok(example, "config", "export", "--format", "env", "--keys", "smcp_port").strip() == \
        f"SANCTUM_SMCP_PORT={general}"

    # Into another registry (without versions, secrets left out): the same values per environment,
    # and the unchanged `environment` entry an export carries is no obstacle.
    other = tmp_path / "other.db"
    ok(other, "init", "--example")
    for entry in exported["entries"]:
        del entry["version"]
    exported["entries"] = [e for e in exported["entries"] if not e["sensitive"]]
    ok(other, "config", "import", "-", stdin=json.dumps(exported))
    again = json.loads(ok(other, "config", "export"))
    assert {(e["scope"], e["target"], e["key"], e["environment"]): e["value"]
            for e in again["entries"] if e["environment"]} == held
    # A second import of the same document changes nothing.
    assert "0 setting(s) changed" in ok(other, "config", "import", "-", stdin=json.dumps(exported))


# --- check-and-set: all or nothing ---------------------------------------------------------------------


def test_a_conflicting_import_is_refused_whole_and_names_the_keys(example, tmp_path):
    document = json.loads(ok(example, "config", "export"))
    for entry in document["entries"]:
        if entry["key"] in ("flask_port", "smcp_port", "environment"):
            entry["value"] = {"flask_port": "5051", "smcp_port": "9300", "environment": "staging"}[entry["key"]]
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(document))
    # Someone changes two of them after the export.
    ok(example, "config", "set", "flask_port", "5999")
    ok(example, "config", "set", "smcp_port", "9999", "--scope", "agent", "--target", "Athena")
    before = snapshot(example)
    message = refused(example, "config", "import", str(path))
    assert "flask_port at the system level" in message and "smcp_port at agent 'Athena'" in message
    assert "2 setting(s) changed since the export" in message and "Nothing was changed" in message
    assert snapshot(example) == before
    assert json.loads(ok(example, "config", "get", "environment", "--json"))["value"] != "staging"


def test_a_rule_broken_by_one_entry_refuses_the_whole_import(example, tmp_path):
    document = {"sanctum_config": 1, "entries": [
        {"key": "flask_port", "scope": "system", "value": "5052"},
        {"key": "environment", "scope": "system", "value": "moon"},  # not development/staging/production
    ]}
    before = snapshot(example)
    message = refused(example, "config", "import", "-", stdin=json.dumps(document))
    assert "entry 2 ('environment')" in message and "Nothing was changed" in message
    assert snapshot(example) == before


# --- env lines for a shell -----------------------------------------------------------------------------


def test_env_format_is_safe_to_eval(example, tmp_path):
    canary = tmp_path / "pwned"
    hostile = f"it's $(touch {canary}) `touch {canary}` \"quoted\"\nsecond line; $HOME"
    ok(example, "config", "set", "boot.greeting-text", "-", stdin=hostile + "\n")
    lines = ok(example, "config", "export", "--format", "env")
    assert "SANCTUM_FLASK_PORT=" in lines and "SANCTUM_OPENAI_API_KEY='********abcd'" in lines
    script = 'eval "$SANCTUM_LINES"; printf %s "$SANCTUM_BOOT_GREETING_TEXT"'
    done = subprocess.run(["bash", "-c", script], env={"SANCTUM_LINES": lines, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == hostile
    assert not canary.exists()


def test_env_format_refuses_names_that_collide_and_targets_it_cannot_pick(example):
    ok(example, "config", "set", "a.b", "1")
    ok(example, "config", "set", "a_b", "2", "--create")  # one slip from a.b: said to be new
    message = refused(example, "config", "export", "--format", "env")
    assert "'a.b'" in message and "'a_b'" in message and "SANCTUM_A_B" in message
    assert ok(example, "config", "export", "--format", "env", "--keys", "a.b,flask_port").splitlines()[0] == \
        "SANCTUM_A_B=1"
    message = refused(example, "config", "export", "--format", "env", "--scope", "agent")
    assert "--target" in message
    message = refused(example, "config", "export", "--format", "env", "--keys", "flask_prot")
    assert "unknown configuration key 'flask_prot'" in message and "flask_port" in message


# --- secrets -------------------------------------------------------------------------------------------


def reveal_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT count(*) FROM logs WHERE action = 'config.reveal'").fetchone()[0]


def test_reveal_is_for_admins_and_audited(example):
    before = reveal_rows(example)
    revealed = json.loads(ok(example, "config", "export", "--reveal", "--keys", "openai_api_key"))
    assert revealed["entries"][0]["value"] == "sk-test-1234567890abcd"
    assert reveal_rows(example) == before + 1
    ok(example, "users", "create", "vera", "--role", "viewer")
    message = refused(example, "config", "export", "--reveal", "--user", "vera")
    assert "admin" in message
    masked = ok(example, "config", "export", "--user", "vera")
    assert "sk-test" not in masked and "********abcd" in masked


def test_a_masked_secret_that_is_not_the_stored_ones_mask_is_refused(example):
    document = {"sanctum_config": 1, "entries": [
        {"key": "flask_port", "scope": "system", "value": "5053"},
        {"key": "openai_api_key", "scope": "system", "value": "********zzzz", "sensitive": True},
    ]}
    before = snapshot(example)
    message = refused(example, "config", "import", "-", stdin=json.dumps(document))
    assert "mask of a secret" in message and "openai_api_key" in message
    assert snapshot(example) == before


# --- bad documents -------------------------------------------------------------------------------------


BAD_DOCUMENTS = {
    "not JSON": ('{"entries": [', "not valid JSON"),
    "not YAML": ("entries: [unclosed\n  - {", "neither JSON nor valid YAML"),
    "not an export": ("[1, 2, 3]", "not a configuration export"),
    "unknown scope": (json.dumps({"entries": [{"key": "x", "scope": "galaxy", "value": "1"}]}), "scope must be one of"),
    "unknown agent": (json.dumps({"entries": [{"key": "x", "scope": "agent", "target": "Nobody", "value": "1"}]}),
                      "no agent named 'Nobody'"),
    "unknown field": (json.dumps({"entries": [{"key": "x", "value": "1", "colour": "red"}]}), "'colour'"),
    "null value": (json.dumps({"entries": [{"key": "x", "value": None}]}), "the value is null"),
    "duplicate": (json.dumps({"entries": [{"key": "x", "value": "1"}, {"key": "x", "value": "2"}]}), "both set x"),
    "alias bomb": ("a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)) + "entries: [*u]\n", "entry 1"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, ""),
    "huge number": ('{"entries": [{"key": "x", "value": ' + "9" * 5000 + "}]}", "cannot be read"),
    "10 MB": (json.dumps({"entries": [{"key": "x", "value": "v" * 10_000_000}]}), "longer than 1,000,000 characters"),
}


@pytest.mark.parametrize("name", list(BAD_DOCUMENTS))
def test_bad_documents_are_clear_errors_and_change_nothing(example, tmp_path, name):
    text, expected = BAD_DOCUMENTS[name]
    path = tmp_path / "bad.txt"
    path.write_text(text)
    before = snapshot(example)
    message = refused(example, "config", "import", str(path))
    assert expected in message and "Nothing was changed" in message, message
    assert len(message) < 1000
    assert snapshot(example) == before


def test_a_new_key_one_slip_from_another_needs_create_in_its_entry(example):
    slip = {"sanctum_config": 1, "entries": [{"key": "flask_prot", "value": "1"}]}
    before = snapshot(example)
    assert "did you mean flask_port" in refused(example, "config", "import", "-", stdin=json.dumps(slip))
    assert snapshot(example) == before
    slip["entries"][0]["create"] = True
    assert "+ flask_prot at system: 1" in ok(example, "config", "import", "-", stdin=json.dumps(slip))


def test_import_needs_a_file_that_exists(example, tmp_path):
    assert "cannot read" in refused(example, "config", "import", str(tmp_path / "missing.json"))
    assert "give the file" in refused(example, "config", "import")


# --- the tools, over MCP --------------------------------------------------------------------------------


async def test_tools_round_trip_and_keep_set_config_rules(registry):
    op = registry.operator
    await registry.agents.create(op, {"name": "Athena", "config": {}})
    await registry.agents.create(op, {"name": "Monday", "config": {}})
    await registry.config.set(op, "smcp_port", "9100", scope="agent", target="Athena")
    await registry.config.set(op, "smcp_port", "9101", scope="agent", target="Monday")
    await registry.config.set(op, "openai_api_key", "sk-test-1234567890abcd", scope="system")
    async with Client(build_server(registry)) as client:
        exported = await call(client, "export_config", {"format": "yaml"})
        document = yaml.safe_load(exported["document"])
        assert "sk-test" not in exported["document"] and "********abcd" in exported["document"]
        as_json = json.loads((await call(client, "export_config", {}))["document"])
        assert as_json == document
        text = exported["document"].replace("value: '9100'", "value: '9111'")
        preview = await call(client, "import_config", {"document": text, "dry_run": True})
        assert preview["changed"] == ["~ smcp_port at agent Athena: 9100 -> 9111 (version 2)"]
        assert "dry run" in preview["message"]
        done = await call(client, "import_config", {"document": text})
        assert done["changed"] == preview["changed"] and "dry run" not in done["message"]

    # A user (not admin) limited to Athena: the secret, a governing key and Monday's setting are refused.
    narrowed = Caller("ann", "user", 99, Permissions(agents=frozenset({"Athena"})))
    async with Client(build_server(registry, identify=lambda _ctx: narrowed)) as client:
        before = await call(client, "export_config", {})
        monday = json.dumps({"entries": [{"key": "smcp_port", "scope": "agent", "target": "Monday", "value": "1"}]})
        assert "Monday" in await call_error(client, "import_config", {"document": monday})
        secret = json.dumps({"entries": [{"key": "openai_api_key", "value": "sk-new-secret-value"}]})
        assert "admin" in await call_error(client, "import_config", {"document": secret})
        governing = json.dumps({"entries": [{"key": "log_retention_days", "value": "1"}]})
        assert "admin" in await call_error(client, "import_config", {"document": governing})
        assert "admin" in await call_error(client, "export_config", {"reveal": True})
        assert await call(client, "export_config", {}) == before


async def test_import_needs_set_config_among_the_allowed_tools(registry, db_path):
    # permissions.tools lists import_config but not set_config: import must not be a way around it.
    tools = ["import_config", "export_config"]
    tim = await registry.users.create(registry.operator, username="tim", role="admin", email=None,
                                      permissions=PermissionSet(tools=tools))
    limited = Caller("tim", "admin", tim.id, Permissions(tools=frozenset(tools)))
    before = snapshot(db_path)
    async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
        document = json.dumps({"entries": [{"key": "flask_port", "value": "5055"}]})
        text = await call_error(client, "import_config", {"document": document})
        assert "set_config is not among the tools 'tim' may call" in text
        exported = await call(client, "export_config", {"keys": ["flask_port"]})
        assert json.loads(exported["document"])["entries"][0]["value"] == "5000"
    # Nothing changed but the refusal's audit row.
    assert [line for line in snapshot(db_path) if "logs" not in line] == [line for line in before if "logs" not in line]
