"""JSON Schema checks with the `jsonschema` library (imported here, lazily, never at start-up).

A tool's `config_schema` must itself be a valid JSON Schema (Draft 2020-12 unless it names another
draft in `$schema`), and an instance's config is validated against it. Errors name the JSON path
that failed (`$.smtp.port`) and the rule it broke, but never echo the rejected value: an instance
config may hold a password.
"""

from __future__ import annotations

from typing import Any

from sanctum_mcp.domain.errors import InvalidInput

MAX_REPORTED = 8


def _validator_class(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    return validator_for(schema, default=Draft202012Validator)


def check_schema(schema: Any, *, what: str, fix: str) -> None:
    """Refuse anything that is not a valid JSON Schema describing a JSON object."""
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise InvalidInput(f"{what} must be a JSON Schema object (a JSON object), not {type(schema).__name__}. {fix}")
    try:
        _validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(f"{what} is not a valid JSON Schema: at {exc.json_path}: {exc.message}. {fix}") from None
    declared = schema.get("type")
    if declared is not None and declared != "object" and not (isinstance(declared, list) and "object" in declared):
        raise InvalidInput(
            f"{what} must describe a JSON object (its top-level type is {declared!r}); a configuration is "
            f"always an object. {fix}"
        )


def schema_problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way `instance` breaks `schema`, as 'at $.path: rule' lines, sorted by path."""
    validator = _validator_class(schema)(schema, format_checker=_validator_class(schema).FORMAT_CHECKER)
    problems: set[str] = set()
    for error in validator.iter_errors(instance):
        problems.update(_explain(error))
    return sorted(problems)


def validate(schema: dict[str, Any], instance: Any, *, what: str, fix: str) -> None:
    problems = schema_problems(schema, instance)
    if problems:
        shown = problems[:MAX_REPORTED]
        more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        raise InvalidInput(f"{what} does not match the tool's config_schema: {'; '.join(shown)}{more}. {fix}")


def _child(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _explain(error: Any) -> list[str]:
    """Describe one jsonschema error from the schema's side only (never the instance's value)."""
    path = error.json_path
    rule, expected = error.validator, error.validator_value
    if rule == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        return [f"at {_child(path, name)}: required property is missing" for name in expected if name not in present]
    if rule == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema.get("properties") or {}).keys())
        extra = [k for k in error.instance if k not in known]
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
