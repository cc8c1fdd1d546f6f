"""Secrets: encryption at rest, the mask rule, audited reveal, key rotation (including a failure
half-way) and the canary test: a planted secret must appear nowhere but in an admin's reveal."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import stdio_client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.domain.keys import rotate_key
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput
from sanctum_mcp.domain.shared.identity import LOCAL_OPERATOR
from sanctum_mcp.domain.shared.secrets import ENV_SECRET_KEY, SecretBox, key_file_for, mask, new_key, read_keys
from sanctum_mcp.storage.secrets import SECRET_CELLS
from support import REPO, HttpServer, call, free_port, server_env, snapshot, stdio_params, stop
from test_config import add_tool_and_instance, add_user


def test_mask_rule():
    assert mask(None) == mask("") == "********"
    assert mask("short-11chr") == "********"  # 11 characters: no tail
    assert mask("twelve-chars") == "********hars"  # 12: the last four
    assert mask("abcdefghijkl") == "********ijkl"
    assert mask("sk-" + "x" * 40 + "WXYZ") == "********WXYZ"


def cli(db_path: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sanctum_mcp", *args, "--db", str(db_path)],
        input=stdin, capture_output=True, text=True, env=server_env(db_path, **env), cwd=str(REPO.parent), timeout=60,
    )


# --- at rest ---------------------------------------------------------------------------------------


async def test_secret_is_encrypted_at_rest_and_useless_without_its_key(modern_client, db_path, tmp_path):
    secret = "sk-at-rest-0123456789-WXYZ"
    await call(modern_client, "set_config", {"key": "openai_api_key", "value": secret, "scope": "system"})
    with sqlite3.connect(db_path) as conn:
        stored = conn.execute("SELECT config_value FROM system_config WHERE config_key = 'openai_api_key'").fetchone()[0]
        history = [r[0] for r in conn.execute("SELECT value FROM config_history WHERE key = 'openai_api_key'")]
    assert stored.startswith("fernet:") and secret not in stored
    assert history[-1] == stored
    key_file = key_file_for(db_path)
    assert key_file.stat().st_mode & 0o777 == 0o600

    # A copy of the database without its key file: the secret cannot be read back.
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    with sqlite3.connect(db_path) as source, sqlite3.connect(elsewhere / "registry.db") as target:
        source.backup(target)
    copy = await Registry.open(elsewhere / "registry.db")
    try:
        got = await copy.config.get(LOCAL_OPERATOR, "openai_api_key")
        assert got.value == "********" and secret not in got.model_dump_json()
        with pytest.raises(Conflict) as failure:
            await copy.config.get(LOCAL_OPERATOR, "openai_api_key", reveal=True)
        assert "cannot be decrypted" in str(failure.value) and secret not in str(failure.value)
    finally:
        await copy.close()


async def test_reveal_is_admin_only_and_audited(modern_client, db_path):
    secret = "sk-reveal-me-please-0000"
    await call(modern_client, "set_config", {"key": "openai_api_key", "value": secret, "scope": "system"})
    got = await call(modern_client, "get_config", {"key": "openai_api_key", "reveal": True})
    assert got["revealed_value"] == secret and got["value"] == "********0000"
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT action, message, details FROM logs WHERE action = 'config.reveal'").fetchone()
    assert row is not None and secret not in row[1] + row[2] and "operator" in row[1]
    # A non-sensitive value is not a secret: revealing it is not an audited event.
    plain = await call(modern_client, "get_config", {"key": "flask_port", "reveal": True})
    assert plain["revealed_value"] == "5000"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM logs WHERE action = 'config.reveal'").fetchone()[0] == 1


async def test_marking_a_key_sensitive_encrypts_its_past(modern_client, db_path):
    await call(modern_client, "set_config", {"key": "letta_password", "value": "first-password-1111", "scope": "system"})
    await call(modern_client, "set_config", {"key": "letta_password", "value": "second-password-2222", "scope": "system",
                                             "sensitive": True})
    with sqlite3.connect(db_path) as conn:
        values = [r[0] for r in conn.execute("SELECT value FROM config_history WHERE key = 'letta_password'")]
    assert all(v.startswith("fernet:") for v in values)
    history = await call(modern_client, "config_history", {"key": "letta_password", "scope": "system"})
    assert [e["value"] for e in history["entries"]] == ["********2222", "********1111"]


# --- key rotation -------------------------------------------------------------------------------------


async def plant_secrets(registry: Registry, db_path: Path) -> dict[str, str]:
    """Secrets in every kind of cell rotation must cover; returns what reveal must give back."""
    await registry.agents.create(LOCAL_OPERATOR, {"name": "Athena", "config": {}})
    await registry.config.set(LOCAL_OPERATOR, "openai_api_key", "sk-first-000000000001", scope="system")
    await registry.config.set(LOCAL_OPERATOR, "openai_api_key", "sk-second-00000000002", scope="system")
    await registry.config.set(LOCAL_OPERATOR, "openai_api_key", "sk-athena-00000000003", scope="agent", target="Athena")
    token = registry.secrets.encrypt("letta-password-0004")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE letta_server_config SET server_password = ?", (token,))
    return {"system": "sk-second-00000000002", "agent": "sk-athena-00000000003", "letta": "letta-password-0004"}


async def read_back(db_path: Path) -> dict[str, str]:
    """Every planted secret, read by a fresh process-like registry that loads the key file anew."""
    registry = await Registry.open(db_path)
    try:
        system = await registry.config.get(LOCAL_OPERATOR, "openai_api_key", reveal=True)
        agent = await registry.config.get(LOCAL_OPERATOR, "openai_api_key", agent="Athena", reveal=True)
        with sqlite3.connect(db_path) as conn:
            token = conn.execute("SELECT server_password FROM letta_server_config").fetchone()[0]
            history = [r[0] for r in conn.execute("SELECT value FROM config_history WHERE sensitive = 1 AND value LIKE 'fernet:%'")]
        for stored in history:
            registry.secrets.decrypt(stored)  # raises if any historical secret became unreadable
        return {"system": system.revealed_value, "agent": agent.revealed_value, "letta": registry.secrets.decrypt(token)}
    finally:
        await registry.close()


async def test_rotate_key_reencrypts_everything(registry, db_path):
    planted = await plant_secrets(registry, db_path)
    old_keys = read_keys(key_file_for(db_path))
    result = await rotate_key(registry, LOCAL_OPERATOR)
    assert result.by_column == {"system_config.config_value": 1, "configurations.value": 1,
                                "config_history.value": 3, "letta_server_config.server_password": 1}
    keys = read_keys(key_file_for(db_path))
    assert len(keys) == 1 and keys[0] not in old_keys
    assert key_file_for(db_path).stat().st_mode & 0o777 == 0o600
    assert await read_back(db_path) == planted
    # The old key alone no longer opens anything.
    from cryptography.fernet import Fernet, InvalidToken

    with sqlite3.connect(db_path) as conn:
        token = conn.execute("SELECT config_value FROM system_config WHERE config_key = 'openai_api_key'").fetchone()[0]
        audit = conn.execute("SELECT details FROM logs WHERE action = 'secrets.rotate_key'").fetchone()
    with pytest.raises(InvalidToken):
        Fernet(old_keys[0]).decrypt(token[len("fernet:"):].encode())
    assert audit is not None and json.loads(audit[0])["reencrypted"]["config_history.value"] == 3


async def test_a_running_server_follows_a_rotation(registry, db_path):
    """The server process keeps running while `rotate-key` runs in another: it re-reads the key file."""
    planted = await plant_secrets(registry, db_path)
    done = cli(db_path, "rotate-key")
    assert done.returncode == 0 and "re-encrypted" in done.stdout, done.stderr
    got = await registry.config.get(LOCAL_OPERATOR, "openai_api_key", reveal=True)
    assert got.revealed_value == planted["system"]
    await registry.config.set(LOCAL_OPERATOR, "anthropic_api_key", "sk-ant-after-rotation-77", scope="system")
    fresh = await Registry.open(db_path)
    try:
        got = await fresh.config.get(LOCAL_OPERATOR, "anthropic_api_key", reveal=True)
        assert got.revealed_value == "sk-ant-after-rotation-77"
    finally:
        await fresh.close()


async def test_rotation_failing_half_way_on_an_unreadable_secret_keeps_everything_readable(registry, db_path):
    planted = await plant_secrets(registry, db_path)
    stranger = SecretBox([new_key()], source="elsewhere").encrypt("written-under-another-key")
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO configurations (scope, target, key, value, is_sensitive) VALUES ('agent', '1', 'zz_bad', ?, 1)",
                     (stranger,))
    before = snapshot(db_path)
    old_keys = read_keys(key_file_for(db_path))
    with pytest.raises(Conflict) as failure:
        await rotate_key(registry, LOCAL_OPERATOR)
    assert "configurations.value" in str(failure.value) and "nothing was re-encrypted" in str(failure.value)
    assert snapshot(db_path) == before
    keys = read_keys(key_file_for(db_path))
    assert len(keys) == 2 and keys[1:] == old_keys  # the new key first, the old one still there
    assert await read_back(db_path) == planted
    # Fix the cause and rotate again.
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM configurations WHERE key = 'zz_bad'")
    await rotate_key(registry, LOCAL_OPERATOR)
    assert len(read_keys(key_file_for(db_path))) == 1
    assert await read_back(db_path) == planted


async def test_rotation_failing_half_way_in_the_database_rolls_back(registry, db_path):
    """A trigger aborts the transaction on the first config_history update, after system_config and
    configurations rows were already re-encrypted inside it: all of it must roll back."""
    planted = await plant_secrets(registry, db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TRIGGER fail_half_way BEFORE UPDATE OF value ON config_history "
            "BEGIN SELECT RAISE(ABORT, 'injected failure half-way'); END"
        )
    before = snapshot(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        await rotate_key(registry, LOCAL_OPERATOR)
    assert snapshot(db_path) == before
    assert len(read_keys(key_file_for(db_path))) == 2
    assert await read_back(db_path) == planted
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TRIGGER fail_half_way")
    await rotate_key(registry, LOCAL_OPERATOR)
    assert await read_back(db_path) == planted


async def test_rotate_key_with_the_environment_variable(db_path, monkeypatch):
    only = new_key().decode()
    done = cli(db_path, "rotate-key", **{ENV_SECRET_KEY: only})
    assert done.returncode == 1 and ENV_SECRET_KEY in done.stderr and "NEW,OLD" in done.stderr
    assert not key_file_for(db_path).exists()  # the variable rules: no key file is written

    monkeypatch.setenv(ENV_SECRET_KEY, only)
    registry = await Registry.open(db_path)
    try:
        await registry.config.set(LOCAL_OPERATOR, "openai_api_key", "sk-env-key-secret-5555", scope="system")
    finally:
        await registry.close()
    newer = new_key().decode()
    done = cli(db_path, "rotate-key", **{ENV_SECRET_KEY: f"{newer},{only}"})
    assert done.returncode == 0 and "drop the others" in done.stdout, done.stderr
    monkeypatch.setenv(ENV_SECRET_KEY, newer)
    registry = await Registry.open(db_path)
    try:
        got = await registry.config.get(LOCAL_OPERATOR, "openai_api_key", reveal=True)
        assert got.revealed_value == "sk-env-key-secret-5555"
    finally:
        await registry.close()
    with pytest.raises(InvalidInput):
        monkeypatch.setenv(ENV_SECRET_KEY, newer)
        registry = await Registry.open(db_path)
        try:
            await rotate_key(registry, LOCAL_OPERATOR)
        finally:
            await registry.close()


# --- the canary -----------------------------------------------------------------------------------------

CANARY = "canary-7f3a9c2e-plaintext-b41d"
CANARY_MASK = mask(CANARY)

# Harmless arguments for EVERY registered tool, in catalogue order. A new tool without an entry here
# fails test_canary_appears_nowhere: add one (calls that are refused are fine, their errors are checked
# too). "{instance}" and "{agent_id}" are filled in with the ids of the planted objects.
HARMLESS: dict[str, list[dict[str, Any]]] = {
    "list_agents": [{}],
    "get_agent": [{"agent": "Athena"}],
    "create_agent": [{"name": "canary-scratch"}],
    "update_agent": [{"agent": "canary-scratch", "description": "scratch"}],
    "set_agent_status": [{"agent": "canary-scratch", "status": "Off"}],
    "delete_agent": [{"agent": "canary-scratch"}],
    "get_config": [
        {"key": "openai_api_key"},
        {"key": "canary_token", "agent": "Athena"},
        {"key": "canary_token", "instance": "{instance}"},
        {"key": "canary_token", "instance": "{instance}", "user": "ana"},
        {"key": "letta_password"},
        {"key": "canary_tokn"},
    ],
    "set_config": [
        {"key": "debug_mode", "value": "false", "scope": "system"},
        {"key": "scratch_key", "value": "scratch", "scope": "system"},
        {"key": "canary_token", "value": CANARY, "scope": "agent", "target": "Athena"},  # unchanged
        {"key": "pin_code", "value": CANARY, "scope": "system"},  # refused: not an integer
        {"key": "canary_token", "value": CANARY, "scope": "agent", "target": "Athena", "type": "integer"},  # refused
    ],
    "list_config": [{}, {"scope": "agent", "target": "Athena"}, {"prefix": "canary"}, {"scope": "instance"}],
    "delete_config": [
        {"key": "scratch_key", "scope": "system"},
        {"key": "canary_token", "scope": "tool", "target": "mailer"},
        {"key": "canary_token", "scope": "tool", "target": "mailer"},  # refused: already gone
    ],
    "reset_config": [{"key": "debug_mode"}, {"key": "openai_api_key"}],
    "config_history": [
        {"key": "openai_api_key", "scope": "system"},
        {"key": "canary_token", "scope": "agent", "target": "Athena"},
        {"key": "canary_token", "scope": "tool", "target": "mailer"},
        {"key": "canary_token", "scope": "user", "target": "ana"},
        {"key": "canary_token", "scope": "agent", "target": "Athena", "environment": "production"},
        {"key": "openai_api_key", "environment": "staging"},
    ],
    "rollback_config": [
        {"key": "openai_api_key", "scope": "system", "version": 2},  # brings the canary back: a planting path
        {"key": "debug_mode", "scope": "system", "version": 1},
        {"key": "canary_token", "scope": "tool", "target": "mailer", "version": 99},  # refused
        {"key": "canary_token", "scope": "agent", "target": "Athena", "version": 1, "environment": "production"},
    ],
    # Values per environment: the switch's diff shows them masked, both ways.
    "switch_environment": [
        {"environment": "production"},
        {"environment": "production", "confirm": True},
        {"environment": "staging", "confirm": True},
    ],
    "export_config": [{}, {"format": "yaml"}, {"format": "env"}, {"scope": "agent", "target": "Athena", "format": "env"}],
    "import_config": [
        # the mask sent back keeps the secret; a dry run that plants it shows only the mask
        {"document": json.dumps({"entries": [{"key": "canary_token", "scope": "agent", "target": "Athena",
                                              "value": CANARY_MASK, "sensitive": True}]})},
        {"document": json.dumps({"entries": [{"key": "canary_token", "scope": "tool", "target": "mailer",
                                              "value": CANARY}]}), "dry_run": True},
        {"document": json.dumps({"entries": [{"key": "pin_code", "value": CANARY}]})},  # refused: not an integer
    ],
    # Tools, tool instances and plugins. A tool's writeOnly config properties are secrets: the "vault"
    # instance is a planting path. Instance 1 is the planted "athena-mailer", 2 "vault-main", 3 scratch.
    "list_tools": [{}],
    "get_tool": [{"tool": "mailer"}, {"tool": "vault"}],
    "create_tool": [
        {"name": "vault", "category": "master",
         "config_schema": {"type": "object", "properties": {"password": {"type": "string", "writeOnly": True}}}},
        {"name": "canary-tool", "category": "athena"},
    ],
    "update_tool": [{"tool": "canary-tool", "description": "scratch"}],
    "delete_tool": [{"tool": "canary-tool"}],
    "list_tool_instances": [{}, {"tool": "vault"}],
    "get_tool_instance": [{"instance": 1}],
    "create_tool_instance": [
        {"tool": "vault", "name": "vault-main", "config": {"password": CANARY}},
        {"tool": "vault", "name": "scratch", "config": {"password": "scratch-password-0000"}},
        {"tool": "vault", "name": "vault-main", "config": {"password": CANARY}},  # refused: duplicate
        {"tool": "vault", "name": "typed", "config": {"password": 12345}},  # refused: not a string
    ],
    "update_tool_instance": [{"instance": 2, "config": {"password": CANARY}}, {"instance": 2, "status": "Healthy"}],
    "delete_tool_instance": [{"instance": 3}],
    "list_plugins": [{}],
    "get_plugin": [{"plugin": "keep-plugin"}],
    "register_plugin": [
        {"name": "keep-plugin", "type": "extension", "version": "1.0.0"},
        {"name": "canary-plugin", "type": "integration", "version": "1.0.0", "dependencies": ["keep-plugin>=1"]},
    ],
    "unregister_plugin": [{"plugin": "canary-plugin"}],
    "enable_plugin": [{"plugin": "keep-plugin"}],
    "disable_plugin": [{"plugin": "keep-plugin"}],
    "link_plugin": [{"plugin": "keep-plugin", "agents": ["Athena"], "tools": ["vault"]}],
    "unlink_plugin": [{"plugin": "keep-plugin", "tools": ["vault"]}],
    "sync_smcp_plugins": [{"plugins_dir": "{plugins_dir}"}],
    # Letta connections and users (from the access area; entries for tools not registered are unused).
    "list_letta_servers": [{}],
    "add_letta_server": [  # a planting path: the Letta password and token are secrets too
        {"address": "127.0.0.1", "port": "{closed_port}", "password": CANARY, "token": CANARY, "timeout": 2},
        {"address": "127.0.0.1", "port": "{closed_port}", "timeout": 2},
    ],
    "update_letta_server": [{"server": 2, "timeout": 3}],
    "remove_letta_server": [{"server": 3}],
    "activate_letta_server": [{"server": 2}],
    "letta_status": [{}],
    "sync_letta_agents": [{"dry_run": True}],
    "list_users": [{}],
    "create_user": [{"username": "canary-user"}],
    "update_user": [{"user": "canary-user", "email": "canary@example.org"}],
    "deactivate_user": [{"user": "canary-user"}],
    "create_api_token": [{"user": "operator"}],
    "revoke_api_token": [{"token_id": 1}],
    # Jobs, logs and backups (the ops area). The job runs the vault instance, whose config holds the
    # canary; the logs hold every audit row so far; backups export and restore all of it.
    "list_jobs": [{}],
    "get_job": [{"job": "canary-job"}],  # not there yet: an error text to check too
    "create_job": [{"name": "canary-job", "cron_expression": "@daily", "tool_instance": "vault-main",
                    "agent": "Athena"}],
    "update_job": [{"job": "canary-job", "description": "scratch"}],
    "pause_job": [{"job": "canary-job"}],
    "resume_job": [{"job": "canary-job"}],
    "delete_job": [{"job": "canary-job"}],
    "preview_job_runs": [{"cron_expression": "0 3 * * *", "timezone": "Europe/Paris"}],
    "query_logs": [{}, {"source": "config", "limit": 500}, {"text": "canary", "limit": 500}, {"level": "WARNING"}],
    "changes_since": [{"revision": 0}],
    "log_event": [{"message": "a canary note", "details": {"where": "test"}}],
    "create_backup": [{"type": "config_only", "name": "canary-config"}, {"type": "incremental", "name": "canary-inc"},
                      {"type": "full", "name": "canary-full"}],
    "list_backups": [{}],
    "verify_backup": [{"backup_id": 1}, {"backup_id": 3}],
    "delete_backup": [{"backup_id": 2}],
    "restore_backup": [{"backup_id": 3}],
}
# Arguments for every resource template and prompt, on the same terms.
TEMPLATE_ARGS: dict[str, list[dict[str, str]]] = {
    "sanctum://agents/{name}": [{"name": "Athena"}],
    "sanctum://config/{scope}/{target}": [
        {"scope": "agent", "target": "Athena"},
        {"scope": "tool", "target": "mailer"},
        {"scope": "instance", "target": "{instance}"},
        {"scope": "user", "target": "ana"},
    ],
}
PROMPT_ARGS: dict[str, list[dict[str, str]]] = {"configure_sanctum": [{}, {"agent": "Athena"}]}


def spawn_http_server(db_path: Path, stderr, *args: str) -> HttpServer:
    import time

    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--port", str(port), *args],
        env=server_env(db_path), stdout=subprocess.DEVNULL, stderr=stderr, cwd=str(REPO.parent),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the HTTP server exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return HttpServer(process, "127.0.0.1", port)
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(process)
    raise RuntimeError("HTTP server did not come up in time")


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return ids.get(value[1:-1], value) if value.startswith("{") and value.endswith("}") else value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _assert_clean(where: str, text: str | bytes) -> None:
    needle = CANARY.encode() if isinstance(text, bytes) else CANARY
    assert needle not in text, f"the canary secret leaked into {where}"


async def test_canary_appears_nowhere(modern_client, db_path, tmp_path):
    client = modern_client
    athena = await call(client, "create_agent", {"name": "Athena"})
    tool_id, instance_id = add_tool_and_instance(db_path, athena["id"])
    add_user(db_path, "ana")
    (tmp_path / "plugins").mkdir()
    ids = {"instance": str(instance_id), "agent_id": str(athena["id"]), "closed_port": free_port(),
           "plugins_dir": str(tmp_path / "plugins")}

    # --- plant the canary through every path that accepts a secret ---
    outputs: list[tuple[str, str]] = []

    async def run(name: str, args: dict[str, Any]) -> None:
        result = await client.call_tool(name, args)
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        outputs.append((f"{name}({args})", text + json.dumps(result.structured_content)))
        # A destructive tool's preview is an output too; then the change it previews, confirmed.
        confirmed = re.search(r"confirm='([0-9a-f]+)'", text) if result.is_error else None
        if confirmed is not None and "confirm" not in args:
            await run(name, {**args, "confirm": confirmed.group(1)})

    await run("set_config", {"key": "openai_api_key", "value": CANARY, "scope": "system"})
    await run("set_config", {"key": "letta_password", "value": CANARY, "scope": "system", "sensitive": True})
    await run("set_config", {"key": "canary_token", "value": CANARY, "scope": "agent", "target": "Athena", "sensitive": True})
    for scope, target in (("tool", "mailer"), ("instance", str(instance_id)), ("user", "ana")):
        await run("set_config", {"key": "canary_token", "value": CANARY, "scope": scope, "target": target})
    await run("set_config", {"key": "pin_code", "value": "1234", "scope": "system", "type": "integer", "sensitive": True})
    # values for one environment (a secret key at system and agent scope)
    await run("set_config", {"key": "openai_api_key", "value": CANARY, "environment": "staging"})
    await run("set_config", {"key": "canary_token", "value": CANARY, "scope": "agent", "target": "Athena",
                             "environment": "production"})
    # rollback: overwrite, then roll back to the canary's version
    await run("set_config", {"key": "canary_token", "value": "replacement-value-0000", "scope": "agent", "target": "Athena"})
    await run("rollback_config", {"key": "canary_token", "scope": "agent", "target": "Athena", "version": 1})
    # the operator CLI, value from standard input and from the command line
    cli_runs = [
        cli(db_path, "config", "set", "anthropic_api_key", "-", stdin=CANARY + "\n"),
        cli(db_path, "config", "set", "cli_secret", CANARY, "--sensitive"),
        cli(db_path, "config", "set", "cli_secret", "-", "--environment", "production", stdin=CANARY + "\n"),
        cli(db_path, "config", "get", "anthropic_api_key"),
        cli(db_path, "config", "list"),
        cli(db_path, "config", "history", "anthropic_api_key"),
        cli(db_path, "config", "export", "--format", "env"),
        cli(db_path, "config", "export", "--format", "yaml"),
        cli(db_path, "config", "set", "pin_code", CANARY),  # refused
    ]
    assert cli_runs[0].returncode == 0 and cli_runs[1].returncode == 0 and cli_runs[2].returncode == 0
    assert cli_runs[-1].returncode == 1
    for done in cli_runs:
        outputs.append((f"CLI {done.args[3:5]}", done.stdout + done.stderr))

    # The one exception: an admin's reveal. It also proves the search can find the canary.
    revealed = await call(client, "get_config", {"key": "canary_token", "agent": "Athena", "reveal": True})
    assert revealed["revealed_value"] == CANARY and revealed["value"] == CANARY_MASK

    # --- every tool, with harmless arguments ---
    missing = [name for name in all_tools() if name not in HARMLESS]
    assert not missing, f"add harmless arguments for {missing} to HARMLESS in tests/test_secrets.py"
    for name in all_tools():
        for args in HARMLESS[name]:
            await run(name, _fill(args, ids))
    with sqlite3.connect(db_path) as conn:  # the instance secret really was planted (and encrypted)
        vault = conn.execute("SELECT config FROM tool_instances WHERE name = 'vault-main'").fetchone()
    assert vault is not None and "fernet:" in vault[0]
    assert any(CANARY_MASK in text for where, text in outputs if where.startswith("create_tool_instance"))
    masked_seen = any(CANARY_MASK in text for _, text in outputs)
    assert masked_seen, "the mask of the canary should appear in outputs (the test would be blind otherwise)"

    # --- every resource, template and prompt ---
    for resource in (await client.list_resources()).resources:
        contents = await client.read_resource(str(resource.uri))
        outputs.append((str(resource.uri), "".join(getattr(c, "text", "") for c in contents.contents)))
    for template in (await client.list_resource_templates()).resource_templates:
        assert template.uri_template in TEMPLATE_ARGS, f"add arguments for {template.uri_template} to TEMPLATE_ARGS"
        for args in TEMPLATE_ARGS[template.uri_template]:
            uri = template.uri_template.format(**_fill(args, ids))
            contents = await client.read_resource(uri)
            outputs.append((uri, "".join(getattr(c, "text", "") for c in contents.contents)))
    for prompt in (await client.list_prompts()).prompts:
        assert prompt.name in PROMPT_ARGS, f"add arguments for prompt {prompt.name} to PROMPT_ARGS"
        for args in PROMPT_ARGS[prompt.name]:
            result = await client.get_prompt(prompt.name, _fill(args, ids))
            outputs.append((f"prompt {prompt.name}", json.dumps(result.model_dump(mode="json"))))

    # --- a stdio server process (legacy protocol) and an HTTP server with -v (SSE), their stderr ---
    log_dir = tmp_path / "server-logs"
    log_dir.mkdir()
    with (log_dir / "stdio.stderr").open("w") as errlog:
        async with stdio_client(stdio_params(db_path, "-v"), errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                for name, args in (
                    ("set_config", {"key": "canary_token", "value": CANARY, "scope": "user", "target": "ana"}),
                    ("set_config", {"key": "stdio_secret", "value": CANARY, "scope": "system", "sensitive": True}),
                    ("set_config", {"key": "pin_code", "value": CANARY, "scope": "system"}),
                    ("get_config", {"key": "canary_token", "agent": "Athena"}),
                    ("list_config", {"prefix": "canary"}),
                ):
                    result = await session.call_tool(name, args)
                    outputs.append((f"stdio {name}", json.dumps(result.model_dump(mode="json"))))
    # stderr goes to a file: -v output would fill an undrained pipe and stall the server.
    # Where HTTP needs a bearer token, loopback callers are trusted as the local user instead.
    trust = ["--trust-loopback"] if "--trust-loopback" in cli(db_path, "serve", "--help").stdout else []
    with (log_dir / "http.stderr").open("wb") as http_err:
        server = spawn_http_server(db_path, http_err, "-v", *trust)
        try:
            async with sse_client(f"http://127.0.0.1:{server.port}/sse") as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for name, args in (
                        ("set_config", {"key": "sse_secret", "value": CANARY, "scope": "system", "sensitive": True}),
                        ("get_config", {"key": "sse_secret"}),
                        ("set_config", {"key": "pin_code", "value": CANARY, "scope": "system"}),
                    ):
                        result = await session.call_tool(name, args)
                        outputs.append((f"sse {name}", json.dumps(result.model_dump(mode="json"))))
        finally:
            stop(server.process)
    assert (log_dir / "http.stderr").stat().st_size > 1000  # -v really logged

    for where, text in outputs:
        _assert_clean(where, text)

    # --- every log row ---
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT * FROM logs").fetchall()
        assert any(r[0] == "config.reveal" for r in conn.execute("SELECT action FROM logs"))
        history = conn.execute("SELECT count(*) FROM config_history WHERE value LIKE 'fernet:%'").fetchone()[0]
    assert history >= 8
    _assert_clean("the logs table", json.dumps(rows))

    # --- every file the server wrote: database, WAL, key file, server logs (open, then closed) ---
    def scan() -> int:
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        for path in files:
            _assert_clean(str(path), path.read_bytes())
        return len(files)

    assert scan() >= 5  # registry.db, -wal, -shm, .key, the server logs
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    scan()

    # --- every place a secret was stored is in the one list (rotation, backups read it) ---
    found = columns_holding_tokens(db_path)
    assert {("system_config", "config_value"), ("configurations", "value"), ("config_history", "value"),
            ("letta_server_config", "server_password"), ("tool_instances", "config")} <= found  # not blind
    unlisted = found - {(cell.table, cell.column) for cell in SECRET_CELLS}
    assert not unlisted, (
        f"{sorted(unlisted)} hold fernet: secrets but are not in storage/secrets.py:SECRET_CELLS, so rotate-key "
        "would leave them under a key it then drops: add them there"
    )


def columns_holding_tokens(db_path: Path) -> set[tuple[str, str]]:
    """(table, column) of every column of every table where some value contains a Fernet token
    ('fernet:gAAAA': the prefix, then the version byte 0x80 and a timestamp's high zero bytes)."""
    found = set()
    with sqlite3.connect(db_path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            for column in [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]:
                hit = conn.execute(f'SELECT 1 FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) > 0 LIMIT 1',
                                   ("fernet:gAAAA",)).fetchone()
                if hit:
                    found.add((table, column))
    return found
