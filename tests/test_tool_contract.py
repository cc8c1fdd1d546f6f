"""Every registered tool meets the contract clients depend on (checked on the live server).

Letta's rules (../shared/notes/sanctum-ecosystem.md): names <= 48 characters; the top level is an
object; every property has a `type`; every array has typed `items`; no REQUIRED object/array
property that may be empty. Plus ours: a title, the catalogue's four hints (those equal to MCP's defaults left out), a description, an output schema.
"""

from __future__ import annotations

import json
import re

from sanctum_mcp.catalogue import all_tools

LETTA_NAME_LIMIT = 48


def _problems(schema: dict, path: str, required: bool) -> list[str]:
    problems = []
    kind = schema.get("type")
    if kind is None:
        problems.append(f"{path}: no type")
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, dict) or "type" not in items:
            problems.append(f"{path}: array without typed items")
        else:
            problems += _problems(items, f"{path}[]", False)
        if required and not schema.get("minItems"):
            problems.append(f"{path}: required array may be empty")
    if kind == "object":
        properties = schema.get("properties", {})
        if required and path != "$" and not schema.get("minProperties") and not schema.get("required"):
            problems.append(f"{path}: required object may be empty")
        needed = set(schema.get("required", []))
        for name, prop in properties.items():
            problems += _problems(prop, f"{path}.{name}", name in needed)
    return problems


async def test_every_tool_passes_letta_schema_rules(modern_client):
    tools = (await modern_client.list_tools()).tools
    assert {t.name for t in tools} == set(all_tools())
    problems = []
    for t in tools:
        schema = t.input_schema
        if schema.get("type") != "object":
            problems.append(f"{t.name}: top level is not an object")
        problems += [f"{t.name} {p}" for p in _problems(schema, "$", True)]
        if len(t.name) > LETTA_NAME_LIMIT or not re.fullmatch(r"[a-z][a-z0-9_]*", t.name):
            problems.append(f"{t.name}: name must be snake_case and at most {LETTA_NAME_LIMIT} characters")
    assert not problems, "\n".join(problems)


async def test_every_tool_has_title_hints_description_and_output_schema(modern_client):
    specs = all_tools()
    for t in (await modern_client.list_tools()).tools:
        assert t.title, t.name
        hints = t.annotations
        assert hints is not None, t.name
        # Hints equal to MCP's defaults are left out (server/app.py:published_hints): read back with
        # those defaults, every hint must be exactly the catalogue's, and a read-only tool says so.
        spec = specs[t.name]
        read_only = bool(hints.read_only_hint)
        assert read_only == spec.read_only, t.name
        assert (hints.open_world_hint is not False) == spec.open_world, t.name
        if read_only:
            assert hints.destructive_hint is None and hints.idempotent_hint is None, t.name
            assert not spec.destructive, t.name
        else:
            assert (hints.destructive_hint is not False) == spec.destructive, t.name
            assert bool(hints.idempotent_hint) == spec.idempotent, t.name
        assert len(t.description or "") >= 30, f"{t.name}: describe what it does and when to use it"
        assert t.output_schema and t.output_schema.get("type") == "object", t.name


def test_a_property_goes_undescribed_only_when_its_name_and_type_say_it():
    """A parameter's description says what its name and type do not (every client reads the listing
    in every session). It may be left out only for paging (cursor, limit); a field an update_ tool
    changes (the tool says those left out stay); a value an enum, a boolean or a default types; a
    `description`; or an optional field of the tool's own result under the same name (create_tool's
    emoji). An identifier, a filter of another kind or a rule is always described."""
    for spec in all_tools().values():
        required = spec.input_schema.get("required", [])
        shown = spec.output_schema.get("properties", {})
        for name, prop in spec.input_schema["properties"].items():
            if prop.get("description"):
                continue
            optional = name not in required
            says_it = (name in ("cursor", "limit") or (spec.name.startswith("update_") and optional)
                       or "enum" in prop or prop.get("type") == "boolean" or "default" in prop
                       or name == "description" or (name in shown and optional))
            assert says_it, f"{spec.name}.{name} has no description"


def test_the_schema_checker_can_fail():
    bad = {"type": "object", "properties": {"x": {}, "y": {"type": "array"}, "z": {"type": "array", "items": {"type": "string"}}}, "required": ["z"]}
    found = _problems(bad, "$", True)
    assert "$.x: no type" in found and "$.y: array without typed items" in found
    assert "$.z: required array may be empty" in found


def test_output_schemas_are_lean_draft07_and_keep_every_field():
    from jsonschema import Draft7Validator

    from sanctum_mcp.catalogue.base import OUTPUT_SCHEMA_DIALECT

    for spec in all_tools().values():
        schema = spec.output_schema
        assert schema["$schema"] == OUTPUT_SCHEMA_DIALECT, spec.name
        Draft7Validator.check_schema(schema)
        full = spec.output.model_json_schema(mode="serialization")
        assert set(schema["properties"]) == set(full["properties"]), spec.name
        assert schema.get("required", []) == full.get("required", []), spec.name

        def keywords(node, inside_properties=False):
            if isinstance(node, dict):
                for key, value in node.items():
                    if not inside_properties:
                        yield key
                    yield from keywords(value, key == "properties" and not inside_properties)
            elif isinstance(node, list):
                for item in node:
                    yield from keywords(item)

        assert not set(keywords(schema)) & {"title", "default"}, spec.name


async def test_results_validate_against_the_published_output_schema(modern_client):
    from jsonschema import Draft7Validator

    tools = {t.name: t for t in (await modern_client.list_tools()).tools}
    result = await modern_client.call_tool("get_config", {"key": "smcp_port"})
    assert not result.is_error
    assert not list(Draft7Validator(tools["get_config"].output_schema).iter_errors(result.structured_content))
    wrong = dict(result.structured_content, version="one")
    assert list(Draft7Validator(tools["get_config"].output_schema).iter_errors(wrong))


async def test_text_content_is_the_structured_result_as_compact_json(modern_client):
    import json

    for name, args in (("get_config", {"key": "smcp_port"}), ("list_config", {"category": "ports"})):
        result = await modern_client.call_tool(name, args)
        assert not result.is_error and len(result.content) == 1
        text = result.content[0].text
        compact = json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)
        assert text == compact  # the same object, no indentation and no spaces after separators


async def test_tool_listing_is_cached_per_protocol_version(server):
    """tools/list is answered from a cache (server/app.py ToolListCache): both protocol eras still
    get their own, complete answer, and a second listing equals the first."""
    from mcp import Client

    listings = {}
    for mode in ("modern", "legacy", "modern"):
        async with Client(server, **({"mode": "legacy"} if mode == "legacy" else {})) as c:
            first = (await c.list_tools()).tools
            again = (await c.list_tools()).tools
            assert [t.model_dump() for t in first] == [t.model_dump() for t in again]
            listings.setdefault(mode, []).append([t.model_dump() for t in first])
    assert listings["modern"][0] == listings["modern"][1]
    names = {t["name"] for t in listings["legacy"][0]}
    assert names == set(all_tools()) == {t["name"] for t in listings["modern"][0]}
    cache = next(m for m in server._lowlevel_server.middleware if type(m).__name__ == "ToolListCache")
    assert len(cache._wire) == 2, "one cached answer per protocol version"


async def test_catalogue_is_built_on_first_use_not_for_initialize(registry):
    """`initialize` is answered without building the tool catalogue (server/app.py SanctumServer);
    the first tools/call or tools/list builds it."""
    from mcp import Client

    from sanctum_mcp.server.app import build_server

    server = build_server(registry)
    assert not server.catalogue_loaded
    async with Client(server, mode="legacy") as client:
        assert client.server_info.name == "sanctum-mcp"
    assert not server.catalogue_loaded
    await server.call_tool("get_config", {"key": "smcp_port"})
    assert server.catalogue_loaded

    listed = build_server(registry)
    async with Client(listed) as client:
        assert {t.name for t in (await client.list_tools()).tools} == set(all_tools())
    assert listed.catalogue_loaded


# --- Letta's strict-mode grading ------------------------------------------------------------------------
# Letta grades every MCP tool's input schema STRICT_COMPLIANT, NON_STRICT_ONLY or INVALID
# (letta-ai/letta 0.11.7, letta/functions/schema_validator.py, validate_complete_json_schema) and a
# non-strict tool cannot be used in strict mode. Its rules, restated (our words, not its code):
# - the top level must be an object;
# - a node with no `type` is INVALID unless it has object/array keywords or is a union;
# - every object node (the top level, nested properties, array items, union branches) must say
#   `additionalProperties: false`; leaving it out or allowing more makes it NON_STRICT_ONLY;
# - a REQUIRED property that is an object allowing {} (no required keys, additionalProperties false)
#   or an array allowing [] with no items is INVALID; `required` naming a missing property is INVALID;
# - an array needs `items` that is a schema; a type list may only name JSON types.
STRICT, NON_STRICT, INVALID = "STRICT_COMPLIANT", "NON_STRICT_ONLY", "INVALID"
_JSON_TYPES = {"string", "number", "integer", "boolean", "null", "array", "object"}


def letta_grade(schema: dict) -> tuple[str, list[str]]:
    invalid: list[str] = []
    loose: list[str] = []

    def visit(node: dict, path: str) -> None:
        kind = node.get("type")
        if not kind:
            if "properties" in node or "additionalProperties" in node:
                kind = "object"
            elif "items" in node:
                kind = "array"
            elif not any(k in node for k in ("anyOf", "oneOf", "allOf")):
                invalid.append(f"{path}: no type")
                return
        if kind == "object":
            props = node.get("properties") or {}
            if node.get("additionalProperties", True) is not False:
                loose.append(f"{path}: additionalProperties is not false")
            for key in node.get("required") or []:
                sub = props.get(key)
                if props and sub is None:
                    invalid.append(f"{path}: requires {key!r}, which is not a property")
                elif isinstance(sub, dict):
                    if sub.get("type") == "object" and not sub.get("required") and sub.get("additionalProperties", True) is False:
                        invalid.append(f"{path}.{key}: required, yet may be an empty object")
                    if sub.get("type") == "array" and not sub.get("minItems") and sub.get("items") is None:
                        invalid.append(f"{path}.{key}: required, yet may be an empty array")
            for name, sub in props.items():
                if isinstance(sub, dict):
                    visit(sub, f"{path}.{name}")
                else:
                    invalid.append(f"{path}.{name}: not a schema")
        elif kind == "array":
            items = node.get("items")
            if not isinstance(items, dict):
                invalid.append(f"{path}: array without an items schema")
            else:
                visit(items, f"{path}[]")
        elif isinstance(kind, list):
            invalid.extend(f"{path}: unknown type {t!r}" for t in kind if t not in _JSON_TYPES)
        for union in ("anyOf", "oneOf", "allOf"):
            for i, branch in enumerate(node.get(union) or []):
                if isinstance(branch, dict):
                    visit(branch, f"{path}.{union}[{i}]")
                else:
                    invalid.append(f"{path}.{union}[{i}]: not a schema")

    if schema.get("type") != "object":
        invalid.append("the top level is not an object")
    visit(schema, "$")
    return (INVALID if invalid else NON_STRICT if loose else STRICT), invalid + loose


def test_the_letta_grader_can_fail():
    free_form = {"type": "object", "properties": {"config": {"type": "object"}}, "additionalProperties": False}
    assert letta_grade(free_form) == (NON_STRICT, ["$.config: additionalProperties is not false"])
    assert letta_grade({"type": "object", "properties": {}})[0] == NON_STRICT
    empty = {"type": "object", "additionalProperties": False, "required": ["x"],
             "properties": {"x": {"type": "object", "additionalProperties": False}}}
    assert letta_grade(empty)[0] == INVALID
    assert letta_grade({"type": "object", "additionalProperties": False, "properties": {"x": {}}})[0] == INVALID
    assert letta_grade({"type": "object", "additionalProperties": False, "properties": {"x": {"type": "string"}}}) == (STRICT, [])


async def test_every_tool_is_letta_strict_compliant(modern_client):
    graded = {t.name: letta_grade(t.input_schema) for t in (await modern_client.list_tools()).tools}
    assert len(graded) == len(all_tools())
    assert {name: why for name, (grade, why) in graded.items() if grade != STRICT} == {}


# --- the lean output schemas validate exactly what pydantic's own schemas validate ---------------

_ODD_VALUES = (None, True, 7, 1.5, "x", [], {}, [None], {"x": 1}, "Active", "system")


def _shrunk(value):
    """The same document with every list cut to its first two items (bounded variants)."""
    if isinstance(value, dict):
        return {k: _shrunk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrunk(v) for v in value[:2]]
    return value


def _variants(value):
    """The document itself, then every copy with one place changed: a value replaced by an odd one,
    a key dropped or added, an item appended to a list."""
    yield value
    for odd in _ODD_VALUES:
        yield odd
    if isinstance(value, dict):
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
            for changed in _variants(value[key]):
                if changed is not value[key]:
                    yield {**value, key: changed}
        yield {**value, "unexpected_field": 1}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for changed in _variants(item):
                if changed is not item:
                    yield [*value[:i], changed, *value[i + 1:]]
        for odd in _ODD_VALUES:
            yield [*value, odd]


def _disagreements(published: dict, original: dict, documents: list) -> list[str]:
    from jsonschema import Draft7Validator, Draft202012Validator

    lean, full = Draft7Validator(published), Draft202012Validator(original)
    found = []
    for document in documents:
        for variant in _variants(_shrunk(document)):
            if lean.is_valid(variant) != full.is_valid(variant):
                found.append(f"published {'accepts' if lean.is_valid(variant) else 'rejects'} {variant!r:.300}")
    return found


async def _real_results(client, db_path, tmp_path) -> dict[str, list]:
    """Each tool's successful structured results, from calls with the canary test's harmless arguments
    (tests/test_secrets.py HARMLESS) on a registry with an agent, a tool, an instance and a user."""
    from support import call, free_port
    from test_config import add_tool_and_instance, add_user
    from test_secrets import HARMLESS, _fill

    athena = await call(client, "create_agent", {"name": "Athena"})
    _, instance_id = add_tool_and_instance(db_path, athena["id"])
    add_user(db_path, "ana")
    (tmp_path / "plugins").mkdir()
    ids = {"instance": str(instance_id), "agent_id": str(athena["id"]), "closed_port": free_port(),
           "plugins_dir": str(tmp_path / "plugins")}
    results: dict[str, list] = {"create_agent": [athena]}
    extra = {"register_plugin": [{"name": "top-plugin", "type": "extension", "version": "2.0.0",
                                  "dependencies": ["canary-plugin>=1", "missing-plugin"]}],
             "get_plugin": [{"plugin": "keep-plugin"}, {"plugin": "canary-plugin"}, {"plugin": "top-plugin"}]}
    for name in all_tools():
        for args in HARMLESS[name] + extra.get(name, []):
            if name == "unregister_plugin":
                continue  # keep the dependency tree for get_plugin
            result = await client.call_tool(name, _fill(args, ids))
            if not result.is_error:
                results.setdefault(name, []).append(result.structured_content)
    return results


async def test_published_output_schemas_validate_exactly_what_the_models_schemas_validate(modern_client, db_path, tmp_path):
    """The listing publishes each output schema in a lean form (catalogue/base.py lean_schema): it
    must accept every real result and accept or reject each variant of one (a value of another type, a
    key dropped or added, an item appended) exactly as pydantic's own schema of the output model does."""
    results = await _real_results(modern_client, db_path, tmp_path)
    assert len(results) >= 50, f"too few tools answered to compare their schemas: {sorted(results)}"
    problems, rejected = [], 0
    for name, documents in results.items():
        spec = all_tools()[name]
        original = spec.output.model_json_schema(mode="serialization")
        problems += [f"{name}: {p}" for p in _disagreements(spec.output_schema, original, documents)[:3]]
        from jsonschema import Draft7Validator

        lean = Draft7Validator(spec.output_schema)
        assert all(lean.is_valid(d) for d in documents), name
        rejected += sum(not lean.is_valid(v) for d in documents for v in _variants(_shrunk(d)))
    assert rejected > 1000  # the variants do reach what the schemas refuse
    assert not problems, "\n".join(problems)


def test_the_schema_comparison_can_fail():
    spec = all_tools()["get_plugin"]
    original = spec.output.model_json_schema(mode="serialization")
    document = {"id": 1, "name": "p", "type": "mcp", "status": "Active", "is_enabled": True,
                "created_at": "t", "updated_at": "t",
                "dependency_tree": [{"name": "q", "registered": True, "satisfied": True, "dependencies": []}]}
    assert not _disagreements(spec.output_schema, original, [document])
    looser = json.loads(json.dumps(spec.output_schema).replace('"registered", ', ""))
    assert _disagreements(looser, original, [document])


async def test_string_length_limits_are_enforced_though_not_published(modern_client, db_path):
    """Length limits are left out of the listing (catalogue/base.py portable_schema) and still hold:
    an over-long value is refused, naming the field and the limit, and nothing is written."""
    from support import call_error, snapshot

    listed = {t.name: t for t in (await modern_client.list_tools()).tools}
    name = listed["create_agent"].input_schema["properties"]["name"]
    assert "maxLength" not in name and "minLength" not in name
    before = snapshot(db_path)
    error = await call_error(modern_client, "create_agent", {"name": "A" * 65})
    assert "name" in error and "at most 64 characters" in error, error
    error = await call_error(modern_client, "create_agent", {"name": ""})
    assert "name" in error and "at least 1 character" in error, error
    assert snapshot(db_path) == before
