"""Trust under attack (issue 12), where a caller writes JSON Schema: a tool's config_schema.

1. A writeOnly property is a secret wherever JSON Schema puts it ($ref/$defs, items, prefixItems,
   additionalProperties, patternProperties, allOf/anyOf/oneOf, if/then/else, dependentSchemas, ...):
   encrypted at rest, masked in every output, or the schema is refused naming the place.
2. Schema validation is no oracle: what a caller sees never depends on a secret they could not set.
6. A pattern written by a caller never runs in a backtracking engine: one call cannot freeze the server.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import call, call_error, snapshot, start_http_server, stop

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller, Permissions
from sanctum_mcp.domain.tools.instance_config import InstanceConfig
from sanctum_mcp.domain.users.models import PermissionSet
from sanctum_mcp.server.app import build_server

STRING_SECRET = {"type": "string", "writeOnly": True}


def canary(name: str) -> str:
    return f"canary-{name}-5e1b9d07"


# Each case: a config_schema that marks a value writeOnly through one JSON Schema construct, a config
# holding the canary there, and where the canary sits (the path of the masked value in the result).
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], tuple[Any, ...]]] = {
    "items": (
        {"type": "object", "properties": {"accounts": {"type": "array", "items": {
            "type": "object", "properties": {"user": {"type": "string"}, "password": STRING_SECRET}}}}},
        {"accounts": [{"user": "ann", "password": "x-first-password"}, {"user": "bob", "password": canary("items")}]},
        ("accounts", 1, "password"),
    ),
    "prefixItems": (
        {"type": "object", "properties": {"login": {"type": "array", "prefixItems": [{"type": "string"}, STRING_SECRET]}}},
        {"login": ["ann", canary("prefixItems")]},
        ("login", 1),
    ),
    "ref-defs": (
        {"type": "object", "$defs": {"secret": STRING_SECRET}, "properties": {"token": {"$ref": "#/$defs/secret"}}},
        {"token": canary("ref-defs")},
        ("token",),
    ),
    "definitions-draft7": (
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
         "definitions": {"secret": STRING_SECRET}, "properties": {"token": {"$ref": "#/definitions/secret"}}},
        {"token": canary("definitions-draft7")},
        ("token",),
    ),
    "anchor": (
        {"type": "object", "$defs": {"s": {"$anchor": "secret", **STRING_SECRET}}, "properties": {"token": {"$ref": "#secret"}}},
        {"token": canary("anchor")},
        ("token",),
    ),
    "additionalProperties": (
        {"type": "object", "properties": {"keys": {"type": "object", "additionalProperties": STRING_SECRET}}},
        {"keys": {"github": canary("additionalProperties")}},
        ("keys", "github"),
    ),
    "patternProperties": (
        {"type": "object", "properties": {"env": {"type": "object", "patternProperties": {"_KEY$": STRING_SECRET}}}},
        {"env": {"API_KEY": canary("patternProperties"), "HOME": "/home/ann"}},
        ("env", "API_KEY"),
    ),
    "allOf": (
        {"type": "object", "properties": {"password": {"type": "string"}},
         "allOf": [{"properties": {"password": {"writeOnly": True}}}]},
        {"password": canary("allOf")},
        ("password",),
    ),
    "anyOf": (
        {"type": "object", "properties": {"cred": {"anyOf": [STRING_SECRET, {"type": "integer"}]}}},
        {"cred": canary("anyOf")},
        ("cred",),
    ),
    "oneOf": (
        {"type": "object", "properties": {"cred": {"oneOf": [{"type": "null"}, STRING_SECRET]}}},
        {"cred": canary("oneOf")},
        ("cred",),
    ),
    "if-then": (
        {"type": "object", "properties": {"kind": {"enum": ["smtp", "api"]}},
         "if": {"properties": {"kind": {"const": "smtp"}}},
         "then": {"properties": {"password": STRING_SECRET}},
         "else": {"properties": {"token": STRING_SECRET}}},
        {"kind": "smtp", "password": canary("if-then")},
        ("password",),
    ),
    "if-else": (
        {"type": "object", "properties": {"kind": {"enum": ["smtp", "api"]}},
         "if": {"properties": {"kind": {"const": "smtp"}}},
         "then": {"properties": {"password": STRING_SECRET}},
         "else": {"properties": {"token": STRING_SECRET}}},
        {"kind": "api", "token": canary("if-else")},
        ("token",),
    ),
    "dependentSchemas": (
        {"type": "object", "dependentSchemas": {"user": {"properties": {"password": STRING_SECRET}}}},
        {"user": "ann", "password": canary("dependentSchemas")},
        ("password",),
    ),
    "unevaluatedProperties": (
        {"type": "object", "properties": {"host": {"type": "string"}}, "unevaluatedProperties": STRING_SECRET},
        {"host": "mail.example.org", "smtp_password": canary("unevaluatedProperties")},
        ("smtp_password",),
    ),
    "contains": (
        {"type": "object", "properties": {"tokens": {"type": "array", "contains": STRING_SECRET}}},
        {"tokens": [canary("contains")]},
        ("tokens", 0),
    ),
    "dynamicRef": (
        {"type": "object", "$defs": {"s": {"$dynamicAnchor": "secret", **STRING_SECRET}},
         "properties": {"token": {"$dynamicRef": "#secret"}}},
        {"token": canary("dynamicRef")},
        ("token",),
    ),
    "nested": (
        # $ref -> allOf -> items -> additionalProperties -> oneOf -> writeOnly
        {"type": "object", "$defs": {
            "vault": {"allOf": [{"type": "array", "items": {"type": "object", "additionalProperties": {"$ref": "#/$defs/cred"}}}]},
            "cred": {"oneOf": [{"type": "integer"}, {"type": "string", "writeOnly": True}]}},
         "properties": {"vaults": {"$ref": "#/$defs/vault"}}},
        {"vaults": [{"a": 1}, {"b": canary("nested")}]},
        ("vaults", 1, "b"),
    ),
    "whole-config": (  # every top-level value is a secret
        {"type": "object", "writeOnly": True},
        {"token": canary("whole-config")},
        ("token",),
    ),
    "whole-config-allOf": (
        {"type": "object", "allOf": [{"writeOnly": True}]},
        {"token": canary("whole-config-allOf")},
        ("token",),
    ),
    "recursive-ref": (
        {"$defs": {"node": {"type": "object", "properties": {
            "secret": STRING_SECRET, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
         "$ref": "#/$defs/node"},
        {"children": [{"children": [{"children": [{"secret": canary("recursive-ref")}]}]}]},
        ("children", 0, "children", 0, "children", 0, "secret"),
    ),
}


def _at(config: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        config = config[step]
    return config


def _file_bytes(folder: Path) -> list[tuple[str, bytes]]:
    return [(str(p), p.read_bytes()) for p in folder.rglob("*") if p.is_file()]


def _leaks(secret: str, folder: Path) -> list[str]:
    return [where for where, data in _file_bytes(folder) if secret.encode() in data]


# --- 1. writeOnly wherever JSON Schema puts it --------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
async def test_writeonly_anywhere_in_the_schema_is_encrypted_and_masked(case, registry, db_path, tmp_path):
    schema, config, where = CASES[case]
    secret = _at(config, where)
    async with Client(build_server(registry)) as client:
        await call(client, "create_tool", {"name": "vault", "config_schema": schema})
        created = await call(client, "create_tool_instance", {"tool": "vault", "name": "main", "config": config})
        shown = await call(client, "get_tool_instance", {"instance": created["id"]})
        listed = await call(client, "list_tool_instances", {"tool": "vault"})
        # The masked form goes back in: it keeps the stored secret and passes validation again.
        updated = await call(client, "update_tool_instance", {"instance": created["id"], "config": shown["config"]})
        # A schema change re-validates every instance against the new schema (from the plaintext).
        relaxed = json.loads(json.dumps(schema))
        relaxed["description"] = "vault, described"
        await call(client, "update_tool", {"tool": "vault", "config_schema": relaxed})
        again = await call(client, "get_tool_instance", {"instance": created["id"]})

    outputs = {"create_tool_instance": created, "get_tool_instance": shown, "list_tool_instances": listed,
               "update_tool_instance": updated, "after the schema change": again}
    leaked = [name for name, result in outputs.items() if secret in json.dumps(result)]
    assert not leaked, f"{case}: the writeOnly value is shown in {leaked}"
    for name in ("create_tool_instance", "get_tool_instance", "update_tool_instance", "after the schema change"):
        assert _at(outputs[name]["config"], where) == "********" + secret[-4:], (case, name)
    with sqlite3.connect(db_path) as conn:
        stored = json.loads(conn.execute("SELECT config FROM tool_instances WHERE id = ?", (created["id"],)).fetchone()[0])
        audit = json.dumps(conn.execute("SELECT * FROM logs").fetchall())
    assert str(_at(stored, where)).startswith("fernet:"), f"{case}: stored as {_at(stored, where)!r}"
    assert secret not in audit, f"{case}: the writeOnly value is in an audit row"
    assert _leaks(secret, tmp_path) == [], f"{case}: plaintext in the database or WAL files"
    # Still the same secret underneath: the domain decrypts it for running the instance.
    plain = InstanceConfig(registry.secrets, (await registry.tools.get_tool("vault")).config_schema).plaintext(stored)
    assert plain == config


async def test_writeonly_decided_by_a_value_s_own_keys_is_the_same_for_the_stored_form(registry, db_path):
    """dependentSchemas applies when a key is present: if that made the value itself a secret, its
    stored form (one encrypted string, no keys) would no longer be one, and would be shown as is."""
    schema = {"type": "object", "properties": {"smtp": {"type": "object", "dependentSchemas": {"password": {"writeOnly": True}}}}}
    config = {"smtp": {"host": "mail", "password": canary("dependent-self")}}
    async with Client(build_server(registry)) as client:
        await call(client, "create_tool", {"name": "vault", "config_schema": schema})
        created = await call(client, "create_tool_instance", {"tool": "vault", "name": "main", "config": config})
        shown = await call(client, "get_tool_instance", {"instance": created["id"]})
        assert shown["config"]["smtp"].startswith("********") and "fernet" not in json.dumps(shown)
        await call(client, "update_tool_instance", {"instance": created["id"], "config": shown["config"]})
    with sqlite3.connect(db_path) as conn:
        stored = json.loads(conn.execute("SELECT config FROM tool_instances WHERE id = ?", (created["id"],)).fetchone()[0])
    assert stored["smtp"].startswith("fernet:")
    assert InstanceConfig(registry.secrets, schema).plaintext(stored) == config


async def test_writeonly_only_where_the_schema_says(registry):
    """Values next to a secret stay readable: the patternProperties key that does not match, the
    prefixItems slot before, the array items of another property."""
    async with Client(build_server(registry)) as client:
        for case in ("patternProperties", "prefixItems", "items"):
            schema, config, _ = CASES[case]
            await call(client, "create_tool", {"name": case, "config_schema": schema})
            created = await call(client, "create_tool_instance", {"tool": case, "name": "main", "config": config})
            if case == "patternProperties":
                assert created["config"]["env"]["HOME"] == "/home/ann"
            elif case == "prefixItems":
                assert created["config"]["login"][0] == "ann"
            else:
                assert created["config"]["accounts"][0]["user"] == "ann"
                assert created["config"]["accounts"][0]["password"] == "********word"


async def test_a_mask_moved_to_another_array_item_is_refused_not_stored(registry, db_path):
    """Masks are matched by place: after removing the first account, the second one's mask sits
    where the first secret was. Storing it would replace a secret with asterisks."""
    schema, config, _ = CASES["items"]
    async with Client(build_server(registry)) as client:
        await call(client, "create_tool", {"name": "vault", "config_schema": schema})
        created = await call(client, "create_tool_instance", {"tool": "vault", "name": "main", "config": config})
        shown = created["config"]
        before = snapshot(db_path)
        error = await call_error(client, "update_tool_instance", {"instance": created["id"],
                                                                  "config": {"accounts": shown["accounts"][1:]}})
        assert "$.accounts[0].password" in error and "mask" in error and "Nothing was changed" in error, error
        assert snapshot(db_path) == before
        # Sending the remaining secret itself works.
        kept = await call(client, "update_tool_instance", {"instance": created["id"], "config": {
            "accounts": [{"user": "bob", "password": canary("items")}]}})
        assert kept["config"]["accounts"][0]["password"] == "********" + canary("items")[-4:]


async def test_writeonly_secrets_stay_out_of_every_backup_type(registry, tmp_path):
    async with Client(build_server(registry)) as client:
        for index, case in enumerate(sorted(CASES)):
            schema, config, _ = CASES[case]
            await call(client, "create_tool", {"name": f"vault-{index}", "config_schema": schema})
            await call(client, "create_tool_instance", {"tool": f"vault-{index}", "name": "main", "config": config})
        made = [await call(client, "create_backup", {"type": kind, "name": f"b-{kind}"})
                for kind in ("full", "config_only", "incremental")]
    assert len(made) == 3
    backups = [p for p in tmp_path.rglob("*") if p.is_file() and "backups" in p.parts]
    assert len(backups) >= 3, backups
    leaked = {case: _leaks(_at(CASES[case][1], CASES[case][2]), tmp_path) for case in CASES}
    assert {case: where for case, where in leaked.items() if where} == {}


UNPROTECTABLE = [
    ("under not", {"type": "object", "properties": {"pin": {"not": STRING_SECRET}}}, "$.properties.pin.not"),
    ("under propertyNames", {"type": "object", "propertyNames": {"writeOnly": True}}, "$.propertyNames"),
    ("under contentSchema", {"type": "object", "properties": {"blob": {
        "type": "string", "contentMediaType": "application/json", "contentSchema": STRING_SECRET}}},
     "$.properties.blob.contentSchema"),
    ("a remote $ref", {"type": "object", "properties": {"token": {"$ref": "https://example.org/secret.json"}}},
     "$.properties.token"),
    ("a $ref to nothing", {"type": "object", "properties": {"token": {"$ref": "#/$defs/missing"}}},
     "$.properties.token"),
]


@pytest.mark.parametrize("what,schema,location", UNPROTECTABLE, ids=[u[0] for u in UNPROTECTABLE])
async def test_writeonly_that_cannot_be_protected_is_refused_naming_the_place(what, schema, location, registry, db_path):
    async with Client(build_server(registry)) as client:
        await call(client, "create_tool", {"name": "vault"})
        before = snapshot(db_path)
        error = await call_error(client, "create_tool", {"name": "vault2", "config_schema": schema})
        assert location in error, (what, error)
        error = await call_error(client, "update_tool", {"tool": "vault", "config_schema": schema})
        assert location in error, (what, error)
        assert snapshot(db_path) == before


async def test_a_ref_cycle_that_never_reaches_the_config_is_refused(registry, db_path):
    """`{"$ref": "#"}` at the top (or allOf -> $ref back to itself) would make validation recurse
    forever on one value; jsonschema blows the stack. Refused at creation, naming the place."""
    async with Client(build_server(registry)) as client:
        before = snapshot(db_path)
        for schema, location in (
            ({"type": "object", "allOf": [{"$ref": "#"}]}, "$.allOf[0]"),
            ({"type": "object", "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}},
              "properties": {"x": {"$ref": "#/$defs/a"}}}, "$.$defs"),
        ):
            error = await call_error(client, "create_tool", {"name": "loop", "config_schema": schema})
            assert "cycle" in error and location in error, error
        # Recursion through the config's own structure is fine (a tree of nodes).
        await call(client, "create_tool", {"name": "tree", "config_schema": CASES["recursive-ref"][0]})
        assert snapshot(db_path) != before


async def test_a_schema_that_multiplies_validation_work_is_refused(registry, db_path):
    """Nested allOf over one definition doubles the work per level: 2**40 checks of one value."""
    defs = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(40)}
    defs["d40"] = {"type": "string"}
    schema = {"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/d0"}}}
    async with Client(build_server(registry)) as client:
        before = snapshot(db_path)
        error = await call_error(client, "create_tool", {"name": "bomb", "config_schema": schema})
        assert "too complex" in error and "$.properties.x" in error, error
        assert snapshot(db_path) == before


def _legacy_tool(db_path: Path, name: str, schema: dict[str, Any], config: dict[str, Any] | None = None) -> None:
    """A tool (and an instance) as a version before these checks could have stored them."""
    with sqlite3.connect(db_path) as conn:
        tool_id = conn.execute("INSERT INTO tools (name, category, tool_type, config_schema) VALUES (?, 'master', "
                               "'utility', ?)", (name, json.dumps(schema))).lastrowid
        if config is not None:
            conn.execute("INSERT INTO tool_instances (tool_id, name, config) VALUES (?, 'old', ?)",
                         (tool_id, json.dumps(config)))


async def test_a_plaintext_secret_stored_before_this_fix_is_masked_and_encrypted_at_the_next_write(registry, db_path):
    schema, config, where = CASES["items"]
    secret = _at(config, where)
    _legacy_tool(db_path, "old-vault", schema, config)
    async with Client(build_server(registry)) as client:
        inst = (await call(client, "list_tool_instances", {"tool": "old-vault"}))["instances"][0]
        assert secret not in json.dumps(inst) and _at(inst["config"], where) == "********" + secret[-4:]
        await call(client, "update_tool_instance", {"instance": inst["id"], "config": inst["config"]})
    with sqlite3.connect(db_path) as conn:
        stored = json.loads(conn.execute("SELECT config FROM tool_instances WHERE id = ?", (inst["id"],)).fetchone()[0])
    assert _at(stored, where).startswith("fernet:")
    assert InstanceConfig(registry.secrets, schema).plaintext(stored) == config


async def test_a_remote_ref_is_never_fetched(registry, db_path):
    """jsonschema's default registry fetches a $ref URL (urlopen, no timeout) while validating: a
    caller could make the server call any address. Refused at creation; a schema stored before
    that is not applied, and nothing is fetched."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/internal.json"
    schema = {"type": "object", "properties": {"token": {"$ref": url}}}
    try:
        async with Client(build_server(registry)) as client:
            error = await call_error(client, "create_tool", {"name": "fetcher", "config_schema": schema})
            assert "$.properties.token" in error and "nothing is fetched" in error
            _legacy_tool(db_path, "fetcher", schema)
            before = snapshot(db_path)
            error = await call_error(client, "create_tool_instance", {"tool": "fetcher", "name": "i",
                                                                      "config": {"token": "x"}})
            assert "admin must fix" in error and "$.properties.token" in error, error
            assert snapshot(db_path) == before
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert hits == []


async def test_a_stored_schema_with_a_pattern_re2_cannot_run_is_not_applied(registry, db_path):
    _legacy_tool(db_path, "old-regex", {"type": "object", "properties": {"x": {"type": "string", "pattern": "(a)\\1"}}})
    async with Client(build_server(registry)) as client:
        before = snapshot(db_path)
        error = await call_error(client, "create_tool_instance", {"tool": "old-regex", "name": "i", "config": {"x": "aa"}})
        assert "admin must fix" in error and "$.properties.x.pattern" in error and "RE2" in error, error
        assert snapshot(db_path) == before


async def test_a_schema_too_large_or_too_deep_to_check_is_refused_before_the_meta_schema_check(registry, db_path):
    """The meta-schema check costs ~0.5 ms per subschema and recurses a dozen frames per level (a
    schema 100 levels deep blew the stack: an internal error)."""
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(6000)}}
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(100):
        deep = {"type": "object", "properties": {"a": deep}}
    async with Client(build_server(registry)) as client:
        before = snapshot(db_path)
        error = await call_error(client, "create_tool", {"name": "wide", "config_schema": wide})
        assert "more than 5000 subschemas" in error, error
        error = await call_error(client, "create_tool", {"name": "deep", "config_schema": deep})
        assert "nest more than 32 levels" in error and "$.properties.a.properties.a" in error, error
        assert snapshot(db_path) == before


# --- 2. no oracle on a secret the caller could not set -------------------------------------------------

MONDAY_SCHEMA = {"type": "object", "properties": {"smtp": {"type": "object", "properties": {
    "host": {"type": "string"}, "password": {"type": "string", "writeOnly": True}}}}}


def _probe(schema_for_password: dict[str, Any]) -> dict[str, Any]:
    probe = json.loads(json.dumps(MONDAY_SCHEMA))
    probe["properties"]["smtp"]["properties"]["password"].update(schema_for_password)
    return probe


PROBES = [{"pattern": "^a"}, {"pattern": "^[^a]"}, {"pattern": "^z"}, {"maxLength": 5}, {"maxLength": 100},
          {"minLength": 20}, {"minLength": 21}, {"enum": ["x"]}, {"const": "azbycxdwevfugthsirjq"}]


async def _replay_probes(db_path: Path, secret: str) -> tuple[list[tuple[bool, str]], int]:
    """Monday's mailer holds `secret`; alice, a user limited to Athena, probes it through update_tool."""
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        for name in ("Athena", "Monday"):
            await registry.agents.create(op, {"name": name, "config": {}})
        await registry.tools.create_tool(op, {"name": "mailer", "category": "monday", "tool_type": "utility",
                                              "config_schema": MONDAY_SCHEMA})
        inst = await registry.tools.create_instance(op, tool="mailer", agent="Monday", name="m",
                                                    config={"smtp": {"host": "mail", "password": secret}})
        alice = await registry.users.create(op, username="alice", role="user", email=None,
                                            permissions=PermissionSet(agents=["Athena"]))
        limited = Caller("alice", "user", alice.id, Permissions(agents=frozenset({"Athena"})))
        answers = []
        async with Client(build_server(registry, identify=lambda _ctx: limited)) as client:
            assert "may only act on the agents Athena" in await call_error(client, "get_tool_instance", {"instance": inst.id})
            before = [line for line in snapshot(db_path) if "logs" not in line]  # refusals are audited
            for probe in PROBES:
                result = await client.call_tool("update_tool", {"tool": "mailer", "config_schema": _probe(probe)})
                answers.append((result.is_error, result.content[0].text))
            assert [line for line in snapshot(db_path) if "logs" not in line] == before
        with sqlite3.connect(db_path) as conn:
            refusals = conn.execute("SELECT count(*) FROM logs WHERE action = 'access.denied' AND user_id = ?",
                                    (alice.id,)).fetchone()[0]
        return answers, refusals
    finally:
        await registry.close()


async def test_schema_probe_of_a_secret_gets_the_same_answer_whatever_the_secret(tmp_path):
    one, refused_one = await _replay_probes(tmp_path / "one.db", "azbycxdwevfugthsirjq")  # 20 characters
    other, refused_other = await _replay_probes(tmp_path / "other.db", "Q" * 31)
    assert one == other, "what alice sees depends on the content of a secret she cannot set"
    assert all(is_error for is_error, _ in one)
    assert all("admin" in text and "pattern" not in text and "characters" not in text for _, text in one), one[0]
    # Every refused probe is audited (and the get_tool_instance she tried first).
    assert refused_one == refused_other == len(PROBES) + 1


async def test_a_stored_secret_that_fails_a_new_schema_is_not_described(registry, db_path):
    """Even for an admin (who may reveal it, audited), the error about a stored secret never says
    which rule it broke: an error message is not an audited reveal."""
    async with Client(build_server(registry)) as client:
        await call(client, "create_tool", {"name": "mailer", "config_schema": MONDAY_SCHEMA})
        inst = await call(client, "create_tool_instance", {"tool": "mailer", "name": "main",
                                                           "config": {"smtp": {"host": "mail", "password": "hunter2-hunter2"}}})
        before = snapshot(db_path)
        error = await call_error(client, "update_tool", {"tool": "mailer", "config_schema": _probe({"pattern": "^x"})})
        assert "$.smtp.password" in error and f"id {inst['id']}" in error and "update_tool_instance" in error
        assert "^x" not in error and "pattern" not in error
        error = await call_error(client, "update_tool", {"tool": "mailer", "config_schema": _probe({"maxLength": 3})})
        assert "$.smtp.password" in error and "3" not in error.replace(str(inst["id"]), "") and "characters" not in error
        assert snapshot(db_path) == before


async def test_a_user_still_changes_the_schema_of_a_tool_without_stored_secrets(registry):
    op = registry.operator
    await registry.tools.create_tool(op, {"name": "mailer", "category": "master", "tool_type": "utility",
                                          "config_schema": MONDAY_SCHEMA})
    await registry.tools.create_instance(op, tool="mailer", agent=None, name="m", config={"smtp": {"host": "mail"}})
    user = Caller("bob", "user", None, None)
    async with Client(build_server(registry, identify=lambda _ctx: user)) as client:
        changed = await call(client, "update_tool", {"tool": "mailer", "config_schema": _probe({"minLength": 8})})
        assert changed["config_schema"]["properties"]["smtp"]["properties"]["password"]["minLength"] == 8


async def test_rollback_to_a_secret_that_breaks_a_constraint_does_not_describe_the_rule(registry, db_path):
    """Configuration keys: a constraint (set by a migration or seed, never by a caller) checked
    against a stored secret on rollback says that it fails, not which rule."""
    async with Client(build_server(registry)) as client:
        await call(client, "set_config", {"key": "openai_api_key", "value": "old-key-0123456789", "scope": "system"})
        await call(client, "set_config", {"key": "openai_api_key", "value": "sk-new-0123456789", "scope": "system"})
        with sqlite3.connect(db_path) as conn:
            conn.execute("UPDATE system_config SET constraint_json = ? WHERE config_key = 'openai_api_key'",
                         (json.dumps({"type": "string", "pattern": "^sk-", "minLength": 12}),))
        history = await call(client, "config_history", {"key": "openai_api_key", "scope": "system"})
        old = next(e["version"] for e in history["entries"] if e["value"].endswith("6789") and e["version"] > 1
                   and e is not history["entries"][0])
        before = snapshot(db_path)
        error = await call_error(client, "rollback_config", {"key": "openai_api_key", "scope": "system", "version": old})
        assert "constraint" in error and "set_config" in error
        assert "^sk-" not in error and "pattern" not in error and "old-key" not in error
        assert snapshot(db_path) == before
        # The caller's own new value is described as before: they just wrote it.
        error = await call_error(client, "set_config", {"key": "openai_api_key", "value": "nope-0123456789", "scope": "system"})
        assert "pattern ^sk-" in error and "nope" not in error


# --- 6. a caller's pattern never backtracks ---------------------------------------------------------------

EVIL = "^(a+)+$"
EVIL_VALUE = "a" * 48 + "!"
NOT_RE2 = [
    ({"type": "object", "properties": {"x": {"type": "string", "pattern": "(a)\\1"}}}, "$.properties.x.pattern"),
    ({"type": "object", "properties": {"x": {"type": "string", "pattern": "^(?=a)"}}}, "$.properties.x.pattern"),
    ({"type": "object", "patternProperties": {"^(?!x)": {}}}, "$.patternProperties"),
]


@pytest.mark.parametrize("schema,location", NOT_RE2, ids=["backreference", "lookahead", "patternProperties-lookahead"])
async def test_a_pattern_the_linear_engine_cannot_run_is_refused(schema, location, client, db_path):
    before = snapshot(db_path)
    error = await call_error(client, "create_tool", {"name": "regex", "config_schema": schema})
    assert location in error and "RE2" in error, error
    assert snapshot(db_path) == before


async def test_patterns_keep_their_json_schema_meaning(client):
    schema = {"type": "object", "properties": {
        "word": {"type": "string", "pattern": "^\\u00e9t\\u00E9$"},
        "code": {"type": "string", "pattern": "[0-9]{3}"},
        "expr": {"type": "string", "format": "regex"}},
        "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False}
    await call(client, "create_tool", {"name": "words", "config_schema": schema})
    await call(client, "create_tool_instance", {"tool": "words", "name": "ok",
                                                "config": {"word": "été", "code": "ab123", "x-n": 1, "expr": "^a+$"}})
    error = await call_error(client, "create_tool_instance", {"tool": "words", "name": "bad", "config": {
        "word": "ete", "code": "12", "x-n": "one", "other": 1, "expr": "(a)\\1"}})
    for expected in ("$.word: must match", "$.code: must match", "$['x-n']: must be of type", "$.other: property is not allowed",
                     "$.expr: must be a valid regex"):
        assert expected in error, (expected, error)


ATTACKS = [
    # Where the caller's regex meets the caller's value, and what the answer must be.
    ({"type": "object", "properties": {"name": {"type": "string", "pattern": EVIL}}}, {"name": EVIL_VALUE},
     "$.name: must match the pattern"),
    ({"type": "object", "patternProperties": {EVIL: {"type": "string"}}}, {EVIL_VALUE: 1}, None),  # no match: fine
    ({"type": "object", "patternProperties": {EVIL: {}}, "additionalProperties": False}, {EVIL_VALUE: 1},
     "property is not allowed"),
    ({"type": "object", "patternProperties": {EVIL: {}}, "unevaluatedProperties": False}, {EVIL_VALUE: 1},
     "unevaluatedProperties"),
]


async def _healthz(base: str) -> float:
    """Seconds /healthz takes to answer; fails if it does not answer within 10 s."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        started = time.perf_counter()
        response = await http.get(f"{base}/healthz")
        assert response.status_code == 200
        return time.perf_counter() - started


async def test_a_catastrophic_pattern_from_a_user_cannot_freeze_the_server(db_path):
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        await registry.users.create(op, username="alice", role="user", email=None, permissions=None)
        token = (await registry.users.create_token(op, "alice", "test")).token
    finally:
        await registry.close()
    server = start_http_server(db_path)
    try:
        quiet = [await _healthz(server.base) for _ in range(5)]
        busy: list[float] = []
        answers: list[str] = []
        attack_done = anyio.Event()

        async def attack() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
                async with Client(streamable_http_client(server.mcp_url, http_client=http)) as client:
                    for round_ in range(3):
                        for index, (schema, config, expected) in enumerate(ATTACKS):
                            name = f"evil-{round_}-{index}"
                            await call(client, "create_tool", {"name": name, "config_schema": schema})
                            arguments = {"tool": name, "name": "boom", "config": config}
                            if expected is None:
                                await call(client, "create_tool_instance", arguments)
                            else:
                                error = await call_error(client, "create_tool_instance", arguments)
                                assert expected in error, (expected, error)
                            answers.append(name)
            attack_done.set()

        async def probe() -> None:
            while not attack_done.is_set():
                busy.append(await _healthz(server.base))
                await anyio.sleep(0.01)

        with anyio.fail_after(120):  # a hang fails here instead of stalling the suite
            async with anyio.create_task_group() as tg:
                tg.start_soon(attack)
                tg.start_soon(probe)
        assert len(answers) == 3 * len(ATTACKS)
        busy.append(await _healthz(server.base))
        print(f"\n/healthz median {statistics.median(quiet) * 1000:.1f} ms quiet, "
              f"{statistics.median(busy) * 1000:.1f} ms during the attack ({len(busy)} probes)")
        # SIGTERM is honoured (a server stuck in a regex ignored it).
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) is not None
    finally:
        stop(server.process)
        server.log.close()
