"""Values of configuration keys: coercion to the key's type and the key's constraint (a list of
allowed values or a JSON Schema, patterns in RE2), and the key name rule. Refuses, never repairs."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from sanctum_mcp.domain.config.models import TYPES
from sanctum_mcp.domain.shared.errors import InvalidInput

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_.\-]{0,127}")
MAX_VALUE = 65_536

_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _shown(text: str, sensitive: bool) -> str:
    if sensitive:
        return "the value"
    return repr(text if len(text) <= 60 else text[:57] + "...")


def coerce(key: str, text: str, value_type: str, *, sensitive: bool) -> tuple[str, Any]:
    """Validate text against a type; return (text to store, typed value). Refuses, never repairs.

    string: as is. integer: digits with an optional leading '-' ("8080"; not "8080.0", " 8080").
    number: an integer or decimal, optionally with an exponent ("0.5", "1e3"), finite.
    boolean: true/false, 1/0, yes/no in any case; stored as "true" or "false".
    json: any JSON text that parses (NaN and Infinity are refused); stored as written.
    """
    shown = _shown(text, sensitive)
    if value_type == "string":
        return text, text
    if value_type == "integer":
        if not _INTEGER.fullmatch(text) or len(text) > 40:
            raise InvalidInput(
                f"{key} is an integer, and {shown} is not one: write whole-number digits only, e.g. \"8080\" "
                "(no decimals, spaces or units)."
            )
        number = int(text)
        return str(number), number
    if value_type == "number":
        if not _NUMBER.fullmatch(text) or len(text) > 400 or not math.isfinite(float(text)):
            raise InvalidInput(
                f"{key} is a number, and {shown} is not one: write e.g. \"0.5\", \"12\" or \"1e3\" "
                "(no units, spaces or commas)."
            )
        if _INTEGER.fullmatch(text):
            return str(int(text)), int(text)
        number = float(text)
        return repr(number), number
    if value_type == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return "true", True
        if lowered in _FALSE:
            return "false", False
        raise InvalidInput(
            f"{key} is a boolean, and {shown} is not one: write true or false (1/0 and yes/no are accepted too)."
        )
    if value_type == "json":
        def refuse_constant(name: str) -> Any:
            raise ValueError(name)

        try:
            parsed = json.loads(text, parse_constant=refuse_constant)
        except (ValueError, RecursionError):
            raise InvalidInput(
                f"{key} holds JSON, and {shown} does not parse as JSON: write e.g. '{{\"a\": 1}}', '[1, 2]' or "
                "'\"text\"' (strings in double quotes)."
            ) from None
        return text, parsed
    raise InvalidInput(f"type {value_type!r} is not one of {', '.join(TYPES)}.")


@lru_cache(maxsize=64)
def _validator(constraint_json: str) -> Any:
    from urllib.parse import urlsplit

    import referencing
    from jsonschema import Draft202012Validator, FormatChecker

    from sanctum_mcp.domain.schemas.validation import re2_validator_class

    checker = FormatChecker(formats=())

    @checker.checks("uri")
    @checker.checks("url")
    def _is_url(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if any(c.isspace() for c in value):
            return False
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            return False
        return bool(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.\-]*", parts.scheme or "")) and bool(parts.hostname)

    # Patterns in RE2 (as in tool schemas), and a registry that never fetches a $ref.
    validator = re2_validator_class(Draft202012Validator)
    return validator(constraint_document(constraint_json), format_checker=checker, registry=referencing.Registry())

def constraint_document(constraint_json: str | None) -> dict[str, Any] | None:
    """A constraint as a JSON Schema: a bare list means "one of these values"."""
    if not constraint_json:
        return None
    document = json.loads(constraint_json)
    if isinstance(document, list):
        return {"enum": document}
    return document

def check_constraint(key: str, constraint_json: str | None, typed: Any, text: str, *, sensitive: bool,
                     stored: bool = False) -> None:
    """Refuse a value its key's constraint does not allow. `stored`: the value is a stored one (a
    rollback), not what the caller just sent; when it is a secret the message does not say which
    rule it broke (that would describe a secret)."""
    if not constraint_json:
        return
    errors = sorted(_validator(constraint_json).iter_errors(typed), key=lambda e: list(e.path))
    if not errors:
        return
    if sensitive and stored:
        raise InvalidInput(
            f"{key}: the stored secret of that version does not satisfy the key's constraint (which rule, is not "
            "said about a secret); set a new value with set_config instead."
        )
    error = errors[0]
    rule = _describe_rule(error.validator, error.validator_value)
    got = "" if sensitive else f" (got {_shown(text, False)})"
    raise InvalidInput(f"{key} must be {rule}{got}. Its constraint is {constraint_json}.")

def _describe_rule(validator: str, expected: Any) -> str:
    if validator == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in expected)
    if validator == "const":
        return f"exactly {json.dumps(expected)}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[validator]
        return f"{op} {expected}"
    if validator == "format":
        if expected in ("uri", "url"):
            return "a URL with a scheme and a host, e.g. http://localhost:11434"
        return f"a valid {expected}"
    if validator == "pattern":
        return f"text matching the pattern {expected}"
    if validator in ("minLength", "maxLength"):
        return f"{'at least' if validator == 'minLength' else 'at most'} {expected} characters long"
    if validator == "type":
        return f"of JSON type {expected}"
    return f"valid under the constraint's {validator!r} rule"

def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            f"key {key[:60]!r} is not a valid key: use 1-128 characters, lower-case letters, digits, '_', '.' or '-', "
            "starting with a letter (e.g. 'smcp_port')."
        )
    return key
