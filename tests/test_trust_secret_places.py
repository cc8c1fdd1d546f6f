"""Issue 12, point 3: every place a secret is stored survives a key rotation, and a database opened
without its key masks what it cannot read instead of failing.

Secrets inside tool instance configs (writeOnly properties) live in `tool_instances.config`, a JSON
column: `rotate-key` must re-encrypt them like every other secret cell, and listing, reading,
updating and deleting an instance must keep working when a secret in it cannot be decrypted.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from mcp import Client, stdio_client
from mcp.client.session import ClientSession
from support import call, call_error, snapshot, stdio_params

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.secrets import MASK, key_file_for, mask, read_keys
from sanctum_mcp.server.app import build_server
from sanctum_mcp.storage.secrets import SECRET_CELLS
from test_secrets import cli

SECRET = "smtp-password-0123456789-WXYZ"
PIN = 4321
# A non-secret note that merely looks like a stored secret: rotation must leave it alone.
LOOKALIKE = "fernet:just-a-note-not-a-token"
VAULT_SCHEMA = {
    "type": "object",
    "properties": {
        "note": {"type": "string"},
        "smtp": {"type": "object", "properties": {"host": {"type": "string"},
                                                  "password": {"type": "string", "writeOnly": True}}},
        "pin": {"type": "integer", "writeOnly": True},
    },
}
VAULT_CONFIG = {"note": LOOKALIKE, "smtp": {"host": "mail.example.org", "password": SECRET}, "pin": PIN}


async def _vault(client: Client) -> int:
    await call(client, "create_tool", {"name": "vault", "category": "master", "config_schema": VAULT_SCHEMA})
    created = await call(client, "create_tool_instance", {"tool": "vault", "name": "main", "config": VAULT_CONFIG})
    return created["id"]


def _stored_config(db_path: Path, instance_id: int) -> dict:
    with sqlite3.connect(db_path) as conn:
        return json.loads(conn.execute("SELECT config FROM tool_instances WHERE id = ?", (instance_id,)).fetchone()[0])


async def _decrypted(db_path: Path, stored: dict) -> tuple[str, int]:
    """The instance's secrets decrypted by a fresh registry, which reads the key file as a new process would."""
    fresh = await Registry.open(db_path)
    try:
        return (json.loads(fresh.secrets.decrypt(stored["smtp"]["password"])),
                json.loads(fresh.secrets.decrypt(stored["pin"])))
    finally:
        await fresh.close()


async def test_rotate_key_reencrypts_tool_instance_secrets(modern_client, db_path):
    client = modern_client
    instance_id = await _vault(client)
    before = _stored_config(db_path, instance_id)
    old_keys = read_keys(key_file_for(db_path))

    done = cli(db_path, "rotate-key")
    assert done.returncode == 0 and "re-encrypted" in done.stdout, done.stderr

    after = _stored_config(db_path, instance_id)
    assert after["smtp"]["password"] != before["smtp"]["password"] and after["pin"] != before["pin"]
    assert after["note"] == LOOKALIKE  # not a token: left as it was
    for token in (after["smtp"]["password"], after["pin"]):
        try:
            Fernet(old_keys[0]).decrypt(token[len("fernet:"):].encode())
        except InvalidToken:
            pass
        else:
            raise AssertionError("an instance secret is still encrypted under the dropped key")
    assert await _decrypted(db_path, after) == (SECRET, PIN)
    with sqlite3.connect(db_path) as conn:
        audit = json.loads(conn.execute("SELECT details FROM logs WHERE action = 'secrets.rotate_key'").fetchone()[0])
    assert audit["reencrypted"]["tool_instances.config"] == 2

    # A server started after the rotation (a new process: only the new key) serves the instance.
    async with stdio_client(stdio_params(db_path)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def run(name: str, arguments: dict) -> dict:
            result = await session.call_tool(name, arguments)
            text = result.content[0].text if result.content else ""
            assert not result.is_error, f"{name} failed: {text}"
            return result.structured_content

        listed = await run("list_tool_instances", {})
        assert [i["config"]["smtp"]["password"] for i in listed["instances"]] == [mask(SECRET)]
        got = await run("get_tool_instance", {"instance": instance_id})
        assert got["config"]["smtp"]["password"] == mask(SECRET) and got["config"]["pin"] == mask(str(PIN))
        assert (await run("update_tool_instance", {"instance": instance_id, "status": "Healthy"}))["status"] == "Healthy"
        # Sending back the masks keeps the secrets (the update decrypts the rotated values).
        await run("update_tool_instance", {"instance": instance_id, "config": got["config"]})
        assert await _decrypted(db_path, _stored_config(db_path, instance_id)) == (SECRET, PIN)
        await run("delete_tool_instance", {"instance": instance_id})
    # The server that was running during the rotation follows it too.
    assert (await call(client, "list_tool_instances", {}))["instances"] == []


async def test_instance_secrets_without_their_key_are_masked_not_fatal(modern_client, db_path, tmp_path):
    """A copy of the database without its key file (a new key is made beside it): the instance's
    secrets cannot be decrypted. Listing and reading mask them, non-secret changes and deletion
    work, sending the bare mask back is refused with a clear message (nothing changes), a new value
    replaces the secret, and rotate-key refuses naming the cell."""
    instance_id = await _vault(modern_client)
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    with sqlite3.connect(db_path) as source, sqlite3.connect(elsewhere / "registry.db") as target:
        source.backup(target)
    copy_path = elsewhere / "registry.db"
    copy = await Registry.open(copy_path)
    try:
        async with Client(build_server(copy)) as client:
            listed = await call(client, "list_tool_instances", {})
            shown = listed["instances"][0]["config"]
            assert shown == {"note": LOOKALIKE, "smtp": {"host": "mail.example.org", "password": MASK}, "pin": MASK}
            got = await call(client, "get_tool_instance", {"instance": instance_id})
            assert got["config"] == shown
            assert (await call(client, "update_tool_instance", {"instance": instance_id, "name": "renamed"}))["name"] == "renamed"
            stored = _stored_config(copy_path, instance_id)

            # Sending the masks back cannot keep secrets nobody can decrypt: refused, naming the first
            # one, and nothing changes (the ciphertext is kept, never replaced by the mask).
            before = snapshot(copy_path)
            error = await call_error(client, "update_tool_instance", {"instance": instance_id, "config": shown})
            assert "$.smtp.password" in error and "cannot be decrypted" in error and "new value" in error
            assert snapshot(copy_path) == before

            # New values replace the unreadable secrets.
            fresh_config = {**shown, "smtp": {"host": "mail.example.org", "password": "a-brand-new-password-0000"},
                            "pin": 1234}
            replaced = await call(client, "update_tool_instance", {"instance": instance_id, "config": fresh_config})
            assert replaced["config"]["smtp"]["password"] == mask("a-brand-new-password-0000")
            now = _stored_config(copy_path, instance_id)
            assert json.loads(copy.secrets.decrypt(now["smtp"]["password"])) == "a-brand-new-password-0000"
            assert json.loads(copy.secrets.decrypt(now["pin"])) == 1234
            # A secret left out of the config is removed with it: nothing to decrypt.
            without = await call(client, "update_tool_instance", {"instance": instance_id, "config": {"note": "n"}})
            assert without["config"] == {"note": "n"}
            # Back to an unreadable secret (as planted) for the rest.
            with sqlite3.connect(copy_path) as conn:
                conn.execute("UPDATE tool_instances SET config = ? WHERE id = ?", (json.dumps(stored), instance_id))

            # Rotation refuses, naming the cell, and changes nothing (the old key is not at hand).
            before = snapshot(copy_path)
            done = cli(copy_path, "rotate-key")
            assert done.returncode == 1 and "tool_instances.config" in done.stderr, done.stdout + done.stderr
            assert "Traceback" not in done.stderr and snapshot(copy_path) == before

            deleted = await call(client, "delete_tool_instance", {"instance": instance_id})
            assert deleted["deleted"]["config"]["pin"] == MASK
            error = await call_error(client, "get_tool_instance", {"instance": instance_id})
            assert "no tool instance" in error
    finally:
        await copy.close()


async def test_secret_cells_name_real_columns(registry, db_path):
    """The one list of secret places (rotation and backups read it) names columns that exist; the canary
    test (tests/test_secrets.py) fails for a column holding a token that the list lacks."""
    with sqlite3.connect(db_path) as conn:
        for cell in SECRET_CELLS:
            columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{cell.table}")')}
            assert {"id", cell.column, *([cell.flag] if cell.flag else [])} <= columns, cell
    assert len({cell.name for cell in SECRET_CELLS}) == len(SECRET_CELLS)
