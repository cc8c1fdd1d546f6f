"""JSON Schema checks with the `jsonschema` library (imported here, lazily, never at start-up).

A tool's `config_schema` must itself be a valid JSON Schema (Draft 2020-12 unless it names another
draft in `$schema`) that the registry can apply safely (`domain/schemas/graph.py`: references only
inside the schema, patterns RE2 can run, writeOnly only where a value carries it, bounded work),
and an instance's config is validated against it. Errors name the JSON path that failed
(`$.smtp.port`) and the rule it broke, but never echo the rejected value: an instance config may
hold a password. About a STORED secret (one the caller did not just send) an error says only that
it does not fit, never which rule it broke: a rule that fails is a question about the secret.

Caller-written patterns run in RE2 (`domain/schemas/patterns.py`): the keywords of jsonschema that call
Python's `re` (pattern, patternProperties, additionalProperties and unevaluatedProperties through
patternProperties, and the "regex" format) are replaced. Validators are given a registry that never
retrieves anything, so a `$ref` to a URL is never fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sanctum_mcp.domain.schemas import patterns
from sanctum_mcp.domain.schemas.graph import Path, graph_of
from sanctum_mcp.domain.shared.errors import InvalidInput

MAX_REPORTED = 8


# --- validators whose patterns run in RE2 ---------------------------------------------------------


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterable[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"does not match {pattern!r}")


def _pattern_properties(validator: Any, pattern_properties: Any, instance: Any, schema: Any) -> Iterable[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Iterable[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    extras = _additional_keys(instance, schema)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError("additional properties are not allowed")


def _unevaluated_properties(validator: Any, unevaluated: Any, instance: Any, schema: Any) -> Iterable[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    failing = [key for key in instance if key not in evaluated
               and next(validator.descend(instance[key], unevaluated, path=key, schema_path=key), None) is not None]
    if failing:
        yield ValidationError("unevaluated properties are not allowed" if unevaluated is False
                              else "unevaluated properties do not satisfy the schema")


def _additional_keys(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    regexes = list(schema.get("patternProperties", {}))
    return [key for key in instance if key not in known and not any(_matches(p, key) for p in regexes)]


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any) -> set[str]:
    """jsonschema's find_evaluated_property_keys_by_schema (2020-12), with patterns in RE2."""
    if validator.is_type(schema, "boolean"):
        return set()
    keys: set[str] = set()

    def valid(value: Any, subschema: Any) -> bool:
        return next(validator.descend(value, subschema), None) is None

    for keyword in ("$ref", "$dynamicRef", "$recursiveRef"):
        ref = schema.get(keyword)
        if ref is not None:
            resolved = validator._resolver.lookup("#" if keyword == "$recursiveRef" else ref)
            keys |= _evaluated_keys(validator.evolve(schema=resolved.contents, _resolver=resolved.resolver),
                                    instance, resolved.contents)
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (subschema := schema.get(keyword)) is not None:
            keys |= {key for key, value in instance.items() if valid(value, subschema)}
    for pattern in schema.get("patternProperties", {}):
        keys |= {key for key in instance if _matches(pattern, key)}
    for key, subschema in schema.get("dependentSchemas", {}).items():
        if key in instance:
            keys |= _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if valid(instance, subschema):
                keys |= _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if valid(instance, schema["if"]):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys |= _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys |= _evaluated_keys(validator, instance, schema["else"])
    return keys


def _matches(pattern: Any, text: str) -> bool:
    try:
        return patterns.search(pattern, text)
    except (patterns.PatternRefused, TypeError):
        # Only a schema stored before such patterns were refused gets here (see usable()).
        raise InvalidInput(f"the schema's pattern {str(pattern)[:100]!r} cannot be run; an admin must fix the "
                           "tool's config_schema with update_tool.") from None


def _is_regex(instance: object) -> bool:
    return not isinstance(instance, str) or patterns.problem(instance) is None


REPLACED = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "unevaluatedProperties": _unevaluated_properties,
}


@lru_cache(maxsize=None)
def _safe(stock: Any) -> tuple[Any, Any, Any]:
    """(validator class, format checker for configs, format checker for schemas) of one draft."""
    from jsonschema import FormatChecker
    from jsonschema.validators import extend

    replaced = {keyword: fn for keyword, fn in REPLACED.items() if keyword in stock.VALIDATORS}
    cls = extend(stock, replaced)
    checker = FormatChecker(formats=())
    checker.checkers = {**stock.FORMAT_CHECKER.checkers, "regex": (_is_regex, ())}
    # Checking a schema against its meta-schema: patterns are checked by schemas/graph.py (naming RE2).
    meta = FormatChecker(formats=())
    meta.checkers = {k: v for k, v in stock.FORMAT_CHECKER.checkers.items() if k != "regex"}
    return cls, checker, meta


def re2_validator_class(stock: Any) -> Any:
    """A jsonschema validator class (e.g. Draft202012Validator) whose patterns run in RE2."""
    return _safe(stock)[0]


def _validator_class(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    return validator_for(schema, default=Draft202012Validator)


def _validator(schema: dict[str, Any]) -> Any:
    import referencing

    cls, checker, _ = _safe(_validator_class(schema))
    # jsonschema picks a subschema's validator class by its $schema: a $ref back to the top would
    # get the stock class (Python's re) again. The class is chosen here; $schema goes. (Nested
    # $schema is refused by schemas/graph.py.)
    if "$schema" in schema:
        schema = {key: value for key, value in schema.items() if key != "$schema"}
    # An empty registry (jsonschema adds the meta-schemas): nothing is ever retrieved.
    return cls(schema, format_checker=checker, registry=referencing.Registry())


# --- the checks -------------------------------------------------------------------------------------


def check_schema(schema: Any, *, what: str, fix: str) -> None:
    """Refuse anything that is not a valid JSON Schema describing a JSON object, or that the
    registry cannot apply safely (see domain/schemas/graph.py)."""
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise InvalidInput(f"{what} must be a JSON Schema object (a JSON object), not {type(schema).__name__}. {fix}")
    graph = graph_of(schema)
    if graph.oversized:  # before the meta-schema check, whose cost grows with them
        raise InvalidInput(f"{what} cannot be used: {_listed(graph.oversized)}. {fix}")
    stock = _validator_class(schema)
    try:
        stock.check_schema(schema, format_checker=_safe(stock)[2])
    except SchemaError as exc:
        raise InvalidInput(f"{what} is not a valid JSON Schema: at {exc.json_path}: {exc.message}. {fix}") from None
    except RecursionError:
        raise InvalidInput(f"{what} nests too deeply to be checked; flatten it (use $defs and $ref). {fix}") from None
    declared = schema.get("type")
    if declared is not None and declared != "object" and not (isinstance(declared, list) and "object" in declared):
        raise InvalidInput(
            f"{what} must describe a JSON object (its top-level type is {declared!r}); a configuration is "
            f"always an object. {fix}"
        )
    if graph.problems:
        raise InvalidInput(f"{what} cannot be used: {_listed(graph.problems)}. {fix}")


def usable(schema: dict[str, Any], *, what: str) -> None:
    """A schema stored before today's checks may not pass them: refuse to apply it, and say who can fix it."""
    problems = graph_of(schema).problems
    if problems:
        raise InvalidInput(f"{what} cannot be applied safely: {_listed(problems)}. An admin must fix the schema "
                           "with update_tool. Nothing was changed.")


def schema_problems(schema: dict[str, Any], instance: Any, *, stored_secrets: Sequence[Path] = ()) -> list[str]:
    """Every way `instance` breaks `schema`, as 'at $.path: rule' lines, sorted by path.

    `stored_secrets`: locations holding secrets the caller did not send (decrypted from storage);
    a failure at or under one of them is reported without its rule.
    """
    usable(schema, what="the tool's config_schema")
    problems: set[str] = set()
    try:
        for error in _validator(schema).iter_errors(instance):
            problems.update(_explain(error, stored_secrets))
    except RecursionError:
        # A recursive schema ($ref back up) and a config nested hundreds of levels deep.
        raise InvalidInput("the config nests too deeply to be validated against its schema; flatten it.") from None
    return sorted(problems)


def validate(schema: dict[str, Any], instance: Any, *, what: str, fix: str,
             stored_secrets: Sequence[Path] = ()) -> None:
    problems = schema_problems(schema, instance, stored_secrets=stored_secrets)
    if problems:
        raise InvalidInput(f"{what} does not match the tool's config_schema: {_listed(problems)}. {fix}")


def _listed(problems: list[str]) -> str:
    shown = problems[:MAX_REPORTED]
    more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
    return "; ".join(shown) + more


def json_path(path: Sequence[str | int]) -> str:
    out = "$"
    for step in path:
        out = _child(out, step)
    return out


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _explain(error: Any, stored_secrets: Sequence[Path] = ()) -> list[str]:
    """Describe one jsonschema error from the schema's side only (never the instance's value)."""
    path = error.json_path
    at = tuple(error.absolute_path)
    for secret in stored_secrets:
        if at[:len(secret)] == tuple(secret):
            # Which rule failed would tell something about a value nobody here may read.
            return [f"at {json_path(secret)}: the stored secret does not satisfy the new schema (which rule, is not "
                    "said about a secret); set it again with update_tool_instance, or keep a schema it satisfies"]
    rule, expected = error.validator, error.validator_value
    if rule == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        return [f"at {_child(path, name)}: required property is missing" for name in expected if name not in present]
    if rule == "additionalProperties" and isinstance(error.instance, dict) and isinstance(error.schema, dict):
        extra = _additional_keys(error.instance, error.schema)
        return [f"at {_child(path, key)}: property is not allowed by the schema" for key in extra] or [
            f"at {path}: has properties the schema does not allow"
        ]
    templates = {
        "type": "must be of type {}",
        "enum": "must be one of {}",
        "const": "must equal {}",
        "minimum": "must be >= {}",
        "maximum": "must be <= {}",
        "exclusiveMinimum": "must be > {}",
        "exclusiveMaximum": "must be < {}",
        "multipleOf": "must be a multiple of {}",
        "minLength": "must be at least {} characters long",
        "maxLength": "must be at most {} characters long",
        "pattern": "must match the pattern {}",
        "format": "must be a valid {}",
        "minItems": "must have at least {} items",
        "maxItems": "must have at most {} items",
        "uniqueItems": "must not repeat items",
        "minProperties": "must have at least {} properties",
        "maxProperties": "must have at most {} properties",
    }
    shown = expected if isinstance(expected, str) else _short(expected)
    if rule in templates:
        return [f"at {path}: " + templates[rule].format(shown)]
    return [f"at {path}: does not satisfy the schema's {rule!r} rule"]


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 120 else text[:117] + "..."
