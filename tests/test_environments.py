"""Environments (issue 14): a setting may hold a value per environment (development, staging,
production) at every scope; the active environment's value wins over the general one at the same
scope, the scope order stays primary; switching shows a diff first and applies in one audited step;
through tools, CLI, resources and the prompt; schema version 5 by migration."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from support import REPO, athena_monday_and_instances, call, call_confirmed, call_error, schema_before_environments, server_env, snapshot

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.storage.migrations import (
    NEW_LOG_RETENTION_TEXT,
    OLD_LOG_RETENTION_TEXT,
    SCHEMA_VERSION,
    run_script,
    schema_text,
    seeds_text,
)


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", *args, "--db", str(db_path)], capture_output=True,
                          text=True, env=server_env(db_path), cwd=str(REPO.parent), timeout=120,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done


async def switch(client, environment: str) -> dict:
    return await call(client, "switch_environment", {"environment": environment, "confirm": True})


async def value_of(client, key: str, **where: str) -> str | None:
    return (await call(client, "get_config", {"key": key, **where}))["value"]


# --- resolution --------------------------------------------------------------------------------------


async def test_an_environments_value_wins_at_its_own_scope_and_the_scope_order_stays_primary(modern_client, registry):
    client = modern_client
    mine, _theirs, _host = await athena_monday_and_instances(registry)
    inst = str(mine.id)
    sets = [
        ({"scope": "system"}, None, "sys"),
        ({"scope": "system"}, "production", "sys-prod"),
        ({"scope": "agent", "target": "Athena"}, "staging", "athena-staging"),
        ({"scope": "tool", "target": "notes"}, None, "notes"),
        ({"scope": "instance", "target": inst}, "production", "inst-prod"),
    ]
    for where, env, value in sets:
        args = {"key": "greeting", "value": value, **where}
        if env:
            args["environment"] = env
        await call(client, "set_config", args)

    # development: no environment value anywhere, the general ones apply.
    assert await value_of(client, "greeting") == "sys"
    assert await value_of(client, "greeting", agent="Athena") == "sys"
    assert await value_of(client, "greeting", instance=inst) == "notes"

    await switch(client, "production")
    assert await value_of(client, "greeting") == "sys-prod"  # system: production value over general
    assert await value_of(client, "greeting", agent="Athena") == "sys-prod"  # Athena's staging value sleeps
    assert await value_of(client, "greeting", instance=inst) == "inst-prod"  # instance beats tool

    await switch(client, "staging")
    assert await value_of(client, "greeting") == "sys"
    assert await value_of(client, "greeting", agent="Athena") == "athena-staging"
    # The scope order is primary: the tool's general value beats the agent's staging value.
    assert await value_of(client, "greeting", instance=inst) == "notes"
    await call(client, "set_config", {"key": "greeting", "value": "notes-staging", "scope": "tool", "target": "notes",
                                      "environment": "staging"})
    assert await value_of(client, "greeting", instance=inst) == "notes-staging"


async def test_user_preferences_hold_values_per_environment_too(modern_client, registry):
    client = modern_client
    await registry.users.create(registry.operator, username="ana", role="user", email=None, permissions=None)
    await call(client, "set_config", {"key": "theme", "value": "light", "scope": "system"})
    await call(client, "set_config", {"key": "theme", "value": "dark", "scope": "user", "target": "ana"})
    await call(client, "set_config", {"key": "theme", "value": "red", "scope": "user", "target": "ana",
                                      "environment": "production"})
    assert await value_of(client, "theme", user="ana") == "dark"
    await switch(client, "production")
    assert await value_of(client, "theme", user="ana") == "red"
    assert await value_of(client, "theme") == "light"


async def test_get_config_explains_which_environments_value_applied_and_what_it_overrides(modern_client, registry):
    client = modern_client
    await registry.agents.create(registry.operator, {"name": "Athena", "config": {}})
    await call(client, "set_config", {"key": "flask_port", "value": "5001", "scope": "system", "environment": "production"})
    await call(client, "set_config", {"key": "flask_port", "value": "5002", "scope": "agent", "target": "Athena"})
    dev = await call(client, "get_config", {"key": "flask_port"})
    assert dev["value"] == "5000" and dev["environment"] is None and dev["active_environment"] == "development"
    assert dev["explanation"] == "flask_port = 5000 (integer) comes from the system level."  # as before environments
    await switch(client, "production")
    prod = await call(client, "get_config", {"key": "flask_port"})
    assert (prod["value"], prod["environment"], prod["active_environment"]) == ("5001", "production", "production")
    assert [(o["scope"], o["environment"], o["value"]) for o in prod["overrides"]] == [("system", None, "5000")]
    assert prod["explanation"] == ("flask_port = 5001 (integer) comes from the system level's production value; it "
                                   "overrides the system level's general value (5000). Active environment: production.")
    athena = await call(client, "get_config", {"key": "flask_port", "agent": "Athena"})
    assert athena["value"] == "5002" and athena["scope"] == "agent" and athena["environment"] is None
    assert [(o["scope"], o["environment"]) for o in athena["overrides"]] == [("system", "production"), ("system", None)]


# --- changing values per environment -----------------------------------------------------------------


async def test_set_delete_history_rollback_and_reset_take_an_environment(modern_client, db_path):
    client = modern_client
    first = await call(client, "set_config", {"key": "smcp_port", "value": "9100", "environment": "staging"})
    assert (first["change"], first["version"], first["entry"]["environment"]) == ("set", 1, "staging")
    assert "staging" in first["message"]
    # The general value is untouched; its versions go on separately.
    general = await call(client, "get_config", {"key": "smcp_port"})
    assert (general["value"], general["version"]) == ("9000", 1)
    second = await call(client, "set_config", {"key": "smcp_port", "value": "9200", "environment": "staging",
                                               "expected_version": 1})
    assert second["version"] == 2
    error = await call_error(client, "set_config", {"key": "smcp_port", "value": "9300", "environment": "staging",
                                                    "expected_version": 1})
    assert "version 2" in error
    history = await call(client, "config_history", {"key": "smcp_port", "environment": "staging"})
    assert [(e["version"], e["value"]) for e in history["entries"]] == [(2, "9200"), (1, "9100")]
    assert history["environment"] == "staging"
    general_history = await call(client, "config_history", {"key": "smcp_port"})
    assert [e["value"] for e in general_history["entries"]] == ["9000"]
    back = await call_confirmed(client, "rollback_config", {"key": "smcp_port", "version": 1, "environment": "staging"})
    assert (back["change"], back["entry"]["value"], back["version"]) == ("rollback", "9100", 3)
    reset = await call(client, "reset_config", {"key": "smcp_port", "environment": "staging"})
    assert (reset["change"], reset["entry"]["value"], reset["entry"]["environment"]) == ("reset", "9000", "staging")
    # The constraint of the key binds environment values too; a refusal changes nothing.
    before = snapshot(db_path)
    error = await call_error(client, "set_config", {"key": "smcp_port", "value": "70000", "environment": "staging"})
    assert "<= 65535" in error
    assert snapshot(db_path) == before
    # A seeded key's environment value is no seeded default: it can be deleted.
    gone = await call(client, "delete_config", {"key": "smcp_port", "environment": "staging"})
    assert gone["change"] == "delete" and gone["entry"] is None
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM environment_config").fetchone()[0] == 0
        rows = conn.execute("SELECT environment, version, change FROM config_history WHERE key = 'smcp_port' "
                            "ORDER BY environment, version").fetchall()
    assert rows == [("", 1, "set"), ("staging", 1, "set"), ("staging", 2, "set"), ("staging", 3, "rollback"),
                    ("staging", 4, "reset"), ("staging", 5, "delete")]


async def test_an_unknown_environment_is_a_clear_error_that_changes_nothing(modern_client, db_path):
    before = snapshot(db_path)
    for tool, args in (("set_config", {"key": "x", "value": "1"}), ("delete_config", {"key": "flask_port"}),
                       ("switch_environment", {})):
        error = await call_error(modern_client, tool, {**args, "environment": "prod"})
        assert "development" in error and "production" in error, error
    assert snapshot(db_path) == before


async def test_per_environment_secrets_are_encrypted_and_masked(modern_client, db_path):
    client = modern_client
    plain = "sk-prod-5e3b1a9c7d"
    await call(client, "set_config", {"key": "openai_api_key", "value": plain, "environment": "production"})
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        stored = conn.execute("SELECT value, is_sensitive FROM environment_config").fetchone()
        history = conn.execute("SELECT value FROM config_history WHERE environment = 'production'").fetchone()
    assert stored[0].startswith("fernet:") and stored[1] == 1 and history[0].startswith("fernet:")
    listed = await call(client, "list_config", {"prefix": "openai"})
    prod = [e for e in listed["entries"] if e["environment"] == "production"]
    assert len(prod) == 1 and plain not in json.dumps(listed)
    preview = await call(client, "switch_environment", {"environment": "production"})
    assert plain not in json.dumps(preview)
    assert [c["key"] for c in preview["changes"]] == ["openai_api_key"]


# --- switching ---------------------------------------------------------------------------------------


async def test_switching_shows_the_diff_first_then_applies_in_one_audited_step(modern_client, registry, db_path):
    client = modern_client
    await registry.agents.create(registry.operator, {"name": "Athena", "config": {}})
    await call(client, "set_config", {"key": "flask_port", "value": "8080", "environment": "production"})
    await call(client, "set_config", {"key": "debug_mode", "value": "false", "environment": "production"})
    await call(client, "set_config", {"key": "debug_mode", "value": "false", "environment": "staging"})
    await call(client, "set_config", {"key": "model", "value": "big", "scope": "agent", "target": "Athena",
                                      "environment": "production"})
    before = snapshot(db_path)
    preview = await call(client, "switch_environment", {"environment": "production"})
    assert snapshot(db_path) == before
    assert (preview["from_environment"], preview["to_environment"], preview["applied"]) == (
        "development", "production", False)
    changes = {(c["scope"], c["target"], c["key"]): (c["before"], c["after"]) for c in preview["changes"]}
    assert changes == {("system", "", "debug_mode"): ("true", "false"), ("system", "", "flask_port"): ("5000", "8080"),
                       ("agent", "Athena", "model"): (None, "big")}
    assert "confirm" in preview["message"]

    done = await call(client, "switch_environment", {"environment": "production", "confirm": True})
    assert done["applied"] is True and done["changes"] == preview["changes"]
    assert (await call(client, "get_config", {"key": "environment"}))["value"] == "production"
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        audit = conn.execute("SELECT action, details FROM logs WHERE action LIKE 'config.%environment%'").fetchall()
        history = conn.execute("SELECT version, value FROM config_history WHERE key = 'environment' "
                               "ORDER BY version").fetchall()
    assert len(audit) == 1 and audit[0][0] == "config.switch_environment"
    assert "flask_port" in audit[0][1]
    assert history == [(1, "development"), (2, "production")]

    # staging differs from production only where their own values differ.
    to_staging = await call(client, "switch_environment", {"environment": "staging"})
    assert {(c["key"], c["before"], c["after"]) for c in to_staging["changes"]} == {
        ("flask_port", "8080", "5000"), ("model", "big", None)}
    same = await call(client, "switch_environment", {"environment": "production", "confirm": True})
    assert same["applied"] is False and same["changes"] == [] and "already" in same["message"]


async def test_the_environment_setting_changes_only_through_the_switch(modern_client, db_path):
    client = modern_client
    before = snapshot(db_path)
    for tool, args in (
        ("set_config", {"key": "environment", "value": "production"}),
        ("set_config", {"key": "environment", "value": "staging", "scope": "system", "environment": "production"}),
        ("reset_config", {"key": "environment"}),
        ("rollback_config", {"key": "environment", "version": 1}),
    ):
        error = await call_error(client, tool, args)
        assert "switch_environment" in error, (tool, error)
    assert snapshot(db_path) == before


# --- migration ---------------------------------------------------------------------------------------


async def test_a_version_2_database_migrates_to_what_a_new_one_is(tmp_path):
    index = "CREATE INDEX IF NOT EXISTS idx_logs_unattributed ON logs(created_at) WHERE user_id IS NULL;"
    v2_schema = schema_before_environments(schema_text()).replace(index, "")
    v2_schema = v2_schema[:v2_schema.index("-- [v4]")] + v2_schema[v2_schema.index("-- [/v4]") + len("-- [/v4]"):]
    v2_seeds = seeds_text().split("-- [v3]")[0].replace(NEW_LOG_RETENTION_TEXT, OLD_LOG_RETENTION_TEXT)
    old, fresh = tmp_path / "v2.db", tmp_path / "fresh.db"
    with contextlib.closing(sqlite3.connect(old, isolation_level=None)) as conn:
        run_script(conn, v2_schema)
        run_script(conn, v2_seeds)
        assert "environment" not in [r[1] for r in conn.execute("PRAGMA table_info(config_history)")]
        conn.execute("INSERT INTO configurations (scope, target, key, value) VALUES ('agent', '1', 'kept', 'yes')")
        conn.execute("PRAGMA user_version = 2")
    for path in (old, fresh):
        await (await Registry.open(path)).close()

    def state(path: Path) -> tuple:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return (conn.execute("PRAGMA user_version").fetchone()[0],
                    sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                        "WHERE name NOT LIKE 'sqlite_%'")),
                    sorted(conn.execute("SELECT config_key, config_value, config_type, description, constraint_json, "
                                        "default_value, version FROM system_config")),
                    sorted(conn.execute("SELECT scope, target, key, version, value, changed_by, environment "
                                        "FROM config_history")))

    assert state(old) == state(fresh)
    assert state(old)[0] == SCHEMA_VERSION == 6
    with contextlib.closing(sqlite3.connect(old)) as conn:
        assert conn.execute("SELECT key, value FROM configurations").fetchall() == [("kept", "yes")]
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT max(version) FROM config_history WHERE scope = 'system' "
                            "AND target = '' AND key = 'x' AND environment = 'staging'").fetchall()
    assert "idx_config_history_value" in str(plan)


# --- surfaces ----------------------------------------------------------------------------------------


async def test_resources_and_the_prompt_show_the_active_environment(modern_client):
    client = modern_client
    await call(client, "set_config", {"key": "flask_port", "value": "8080", "environment": "staging"})
    await switch(client, "staging")
    system = json.loads((await client.read_resource("sanctum://config/system")).contents[0].text)
    assert system["environment"] == "staging"
    assert [e["value"] for e in system["entries"] if e["key"] == "flask_port" and e["environment"] == "staging"] == ["8080"]
    prompt = (await client.get_prompt("configure_sanctum", {})).messages[0].content.text
    assert "Active environment: staging" in prompt and "switch_environment" in prompt


def test_the_cli_switches_after_showing_the_diff(tmp_path):
    db = tmp_path / "cli.db"
    done = cli(db, "config", "set", "flask_port", "8081", "--environment", "staging")
    assert done.returncode == 0, done.stderr
    preview = cli(db, "config", "environment", "switch", "staging")
    assert preview.returncode == 0, preview.stderr
    assert "flask_port" in preview.stdout and "8081" in preview.stdout and "--yes" in preview.stdout, preview.stdout
    assert "development" in cli(db, "config", "get", "environment").stdout
    applied = cli(db, "config", "environment", "switch", "staging", "--yes", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["applied"] is True
    got = cli(db, "config", "get", "flask_port", "--json")
    assert json.loads(got.stdout)["value"] == "8081"
    refused = cli(db, "config", "set", "environment", "production")
    assert refused.returncode == 1 and "sanctum-mcp config environment switch" in refused.stderr, refused.stderr


async def test_the_registrys_own_services_read_the_active_environments_system_values(modern_client):
    """The backup quota (read by the backup service, not through get_config) follows the environment."""
    client = modern_client
    await call(client, "set_config", {"key": "backup_max_count", "value": "1", "environment": "production"})
    await call(client, "create_backup", {"type": "config_only"})
    await call(client, "create_backup", {"type": "config_only"})  # development: no limit of 1
    await switch(client, "production")
    error = await call_error(client, "create_backup", {"type": "config_only"})
    assert "backup quota reached" in error and "backup_max_count" in error, error


async def test_list_config_pages_through_general_and_environment_values(modern_client, registry):
    client = modern_client
    await registry.agents.create(registry.operator, {"name": "Athena", "config": {}})
    for env in (None, "staging", "production"):
        extra = {"environment": env} if env else {}
        await call(client, "set_config", {"key": "paged", "value": f"s-{env}", **extra})
        await call(client, "set_config", {"key": "paged", "value": f"a-{env}", "scope": "agent", "target": "Athena",
                                          **extra})
    for where in ({}, {"scope": "agent", "target": "Athena"}, {"scope": "system"}):
        seen, cursor = [], None
        while True:
            page = await call(client, "list_config", {"prefix": "paged", "limit": 2, **where,
                                                      **({"cursor": cursor} if cursor else {})})
            seen += [(e["scope"], e["environment"], e["value"]) for e in page["entries"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        whole = (await call(client, "list_config", {"prefix": "paged", **where}))["entries"]
        assert seen == [(e["scope"], e["environment"], e["value"]) for e in whole]
        expected = {("system", None, "s-None"), ("system", "staging", "s-staging"),
                    ("system", "production", "s-production"), ("agent", None, "a-None"),
                    ("agent", "staging", "a-staging"), ("agent", "production", "a-production")}
        if where:
            expected = {e for e in expected if e[0] == where["scope"]}
        assert set(seen) == expected and len(seen) == len(expected), (where, seen)


async def test_a_switch_lists_at_most_500_changes_and_counts_the_rest(modern_client, registry):
    for i in range(502):
        await registry.config.set(registry.operator, f"bulk_{i:03d}", "p", scope="system", environment="production")
    preview = await call(modern_client, "switch_environment", {"environment": "production"})
    assert len(preview["changes"]) == 500 and preview["omitted"] == 2 and "502 stored values" in preview["message"]
    assert [c["key"] for c in preview["changes"]][:2] == ["bulk_000", "bulk_001"]


async def test_deleting_an_object_removes_its_values_for_every_environment(modern_client, registry, db_path):
    client = modern_client
    await registry.agents.create(registry.operator, {"name": "Athena", "config": {}})
    await call(client, "set_config", {"key": "model", "value": "small", "scope": "agent", "target": "Athena"})
    await call(client, "set_config", {"key": "model", "value": "big", "scope": "agent", "target": "Athena",
                                      "environment": "production"})
    deleted = await call(client, "delete_agent", {"agent": "Athena"})
    assert sorted(deleted["removed_configurations"]) == ["agent:1:model", "agent:1:model@production"]
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM environment_config").fetchone()[0] == 0
        assert conn.execute("SELECT environment, change FROM config_history WHERE key = 'model' AND change = 'delete' "
                            "ORDER BY environment").fetchall() == [("", "delete"), ("production", "delete")]


async def test_values_in_an_environment_gives_the_value_at_every_stored_place(registry):
    """ConfigService.values_in(E): the one function for "the values of environment E" (export, console)."""
    op = registry.operator
    await registry.agents.create(op, {"name": "Athena", "config": {}})
    await registry.config.set(op, "flask_port", "8080", scope="system", environment="production")
    await registry.config.set(op, "model", "small", scope="agent", target="Athena")
    await registry.config.set(op, "model", "big", scope="agent", target="Athena", environment="production")
    await registry.config.set(op, "only_staging", "s", scope="agent", target="Athena", environment="staging")
    await registry.config.set(op, "openai_api_key", "sk-production-0123456789", scope="system",
                              environment="production")

    def by_place(entries):
        return {(e.scope, e.target, e.key): (e.value, e.environment) for e in entries}

    production = by_place(await registry.config.values_in("production"))
    development = by_place(await registry.config.values_in("development"))
    assert production[("system", "", "flask_port")] == ("8080", "production")
    assert development[("system", "", "flask_port")] == ("5000", None)
    assert production[("agent", "Athena", "model")] == ("big", "production")
    assert development[("agent", "Athena", "model")] == ("small", None)
    assert ("agent", "Athena", "only_staging") not in production
    assert production[("system", "", "openai_api_key")][0] == "********6789"  # masked
    assert set(production) == set(development)  # the same places; only_staging is in neither
