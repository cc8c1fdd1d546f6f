"""Fuzz every tool from its own input schema (hypothesis strategies built from the schema).

For every registered tool: arguments generated from its published inputSchema, plus invalid
variants (an unknown argument, a wrong type, a missing required field). Every call must end in a
result or in an isError that names the offending field, never in an internal error, and a call
that fails must leave the database untouched (not one row changed).

CI runs FUZZ_EXAMPLES (default 25) valid cases per tool, each with its invalid variants;
`make test-long` runs 250 per tool (10,000+ cases in all).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server

INTERNAL = "failed unexpectedly"

# hypothesis-jsonschema would do this, but its 0.23 release breaks on current hypothesis; our input
# schemas use a small subset of JSON Schema (see catalogue/base.py:portable_schema), covered here.
JSON_LEAVES = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(from_schema(schema["items"]), min_size=schema.get("minItems", 0), max_size=4)
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", []))
        props = schema["properties"]
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    if kind == "object":
        return st.dictionaries(st.text(min_size=1, max_size=8), JSON_VALUES, max_size=3)
    raise AssertionError(f"no strategy for schema {schema!r}: extend from_schema")


def _examples(config: pytest.Config) -> int:
    default = 250 if config.getoption("--runslow") else 25
    return int(os.environ.get("FUZZ_EXAMPLES", default))


class Harness:
    """One registry + in-memory client per tool, driven from hypothesis's synchronous loop."""

    def __init__(self, portal, registry: Registry, client: Client) -> None:
        self.portal, self.registry, self.client = portal, registry, client

    def changes(self) -> int:
        return self.portal.call(self.registry.db.run, lambda conn: conn.total_changes)

    def call(self, name: str, arguments: dict[str, Any]):
        return self.portal.call(self.client.call_tool, name, arguments)


@pytest.fixture
def harness(tmp_path) -> Iterator[Harness]:
    with start_blocking_portal("asyncio") as portal:
        registry = portal.call(Registry.open, tmp_path / "fuzz.db")
        try:
            with portal.wrap_async_context_manager(Client(build_server(registry))) as client:
                yield Harness(portal, registry, client)
        finally:
            portal.call(registry.close)


def _text(result) -> str:
    return result.content[0].text if result.content else ""


def _check(harness: Harness, name: str, arguments: dict[str, Any], must_fail_naming: str | None) -> None:
    before = harness.changes()
    result = harness.call(name, arguments)
    text = _text(result)
    assert INTERNAL not in text and "Traceback" not in text, f"{name}({arguments!r}) -> internal error: {text}"
    if result.is_error:
        assert harness.changes() == before, f"{name}({arguments!r}) failed but changed the database: {text}"
    if must_fail_naming is not None:
        assert result.is_error, f"{name} accepted invalid arguments {arguments!r}"
        assert must_fail_naming in text, f"{name}: error does not name {must_fail_naming!r}: {text}"


WRONG_TYPE: dict[str, Any] = {
    "string": [1, 2], "integer": "not-a-number", "number": "NaN-ish", "boolean": "perhaps",
    "object": "not-an-object", "array": {"not": "an array"},
}


def _wrong_value(prop: dict[str, Any]) -> Any:
    kind = prop.get("type")
    return WRONG_TYPE.get(kind if isinstance(kind, str) else "string", [1, 2])


@pytest.mark.parametrize("tool_name", sorted(all_tools()))
def test_fuzz(tool_name, harness, request):
    spec = all_tools()[tool_name]
    schema = spec.input_schema
    properties: dict[str, Any] = schema.get("properties", {})
    required: list[str] = schema.get("required", [])
    valid = from_schema(schema)

    @settings(max_examples=_examples(request.config), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(arguments=valid, data=st.data())
    def run(arguments: dict[str, Any], data: st.DataObject) -> None:
        _check(harness, tool_name, arguments, None)
        _check(harness, tool_name, {**arguments, "zz_unknown_argument": 1}, "zz_unknown_argument")
        if properties:
            field = data.draw(st.sampled_from(sorted(properties)))
            _check(harness, tool_name, {**arguments, field: _wrong_value(properties[field])}, field)
        if required:
            field = data.draw(st.sampled_from(required))
            _check(harness, tool_name, {k: v for k, v in arguments.items() if k != field}, field)

    run()
