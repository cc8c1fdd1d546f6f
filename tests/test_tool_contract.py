"""Every registered tool meets the contract clients depend on (checked on the live server).

Letta's rules (../shared/notes/sanctum-ecosystem.md): names <= 48 characters; the top level is an
object; every property has a `type`; every array has typed `items`; no REQUIRED object/array
property that may be empty. Plus ours: a title, all four hints, a description, an output schema.
"""

from __future__ import annotations

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
    for t in (await modern_client.list_tools()).tools:
        assert t.title, t.name
        hints = t.annotations
        assert hints is not None, t.name
        for hint in ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"):
            assert getattr(hints, hint) is not None, f"{t.name} leaves {hint} to the pessimistic default"
        assert not (hints.read_only_hint and hints.destructive_hint), t.name
        assert len(t.description or "") >= 30, f"{t.name}: describe what it does and when to use it"
        assert t.output_schema and t.output_schema.get("type") == "object", t.name


def test_every_property_is_described():
    for spec in all_tools().values():
        for name, prop in spec.input_schema["properties"].items():
            assert prop.get("description"), f"{spec.name}.{name} has no description"


def test_the_schema_checker_can_fail():
    bad = {"type": "object", "properties": {"x": {}, "y": {"type": "array"}, "z": {"type": "array", "items": {"type": "string"}}}, "required": ["z"]}
    found = _problems(bad, "$", True)
    assert "$.x: no type" in found and "$.y: array without typed items" in found
    assert "$.z: required array may be empty" in found
