"""Readable text for a tool's structured result: aligned columns for lists, `field  value` lines for
one object. Plain text, no dependency. Values are shown as the result holds them, so secrets stay
masked (the domain masks them before any surface sees them)."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

CELL = 40          # widest cell in a table; longer text ends with '…' (`--json` has it all)
_NOISE = ("updated_at",)
_NAMED_BY = {"tool_id": "tool", "agent_id": "agent", "tool_instance_id": "tool_instance"}


def render(data: dict[str, Any]) -> str:
    """A page of things becomes a table (with any other fields below it); anything else a list of
    `field  value` lines, where a nested list of objects becomes an indented table."""
    rows_field = _main_list(data)
    lines: list[str] = []
    if rows_field is not None:
        lines += table(data[rows_field], empty=f"(no {rows_field.replace('_', ' ')})")
        rest = {k: v for k, v in data.items() if k not in (rows_field, "next_cursor") and v not in (None, [], {})}
        if rest:
            lines.append("")
            lines += _fields(rest)
        return "\n".join(lines)
    return "\n".join(_fields(data))


def _main_list(data: dict[str, Any]) -> str | None:
    lists = [k for k, v in data.items() if isinstance(v, list) and all(isinstance(i, dict) for i in v)]
    nested = [k for k, v in data.items() if isinstance(v, dict)]
    if len(lists) == 1 and not nested and (data[lists[0]] or "next_cursor" in data):
        return lists[0]
    return None


def _fields(data: dict[str, Any], indent: str = "") -> list[str]:
    width = max((len(k) for k in data), default=0)
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
            lines.append(f"{indent}{key}:")
            lines += table(value, indent=indent + "  ")
        elif isinstance(value, dict) and value and _is_record(value):
            lines.append(f"{indent}{key}:")
            lines += _fields(value, indent + "  ")
        else:
            lines.append(f"{indent}{key.ljust(width)}  {_text(value)}".rstrip())
    return lines


def _is_record(value: dict[str, Any]) -> bool:
    """A nested result object (an agent inside `deleted`), as opposed to free-form JSON (a config)."""
    return "id" in value or "name" in value


def table(rows: list[dict[str, Any]], *, indent: str = "", empty: str = "(none)") -> list[str]:
    if not rows:
        return [indent + empty]
    columns = [c for c in rows[0] if c not in _NOISE and _shown(c, rows)]
    cells = [[c.upper() for c in columns]] + [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(columns))]
    return [indent + "  ".join(v + " " * (w - width(v)) for v, w in zip(r, widths)).rstrip() for r in cells]


def width(text: str) -> int:
    """Columns the text takes in a terminal: wide characters (most emoji, CJK) take two, joiners and
    variation selectors none, and a character made an emoji by U+FE0F (⚙️) two."""
    total = 0
    for i, char in enumerate(text):
        if char in "\ufe0f\u200d" or unicodedata.combining(char):
            continue
        wide = unicodedata.east_asian_width(char) in "WF" or text[i + 1:i + 2] == "\ufe0f"
        total += 2 if wide else 1
    return total


def _shown(column: str, rows: list[dict[str, Any]]) -> bool:
    if all(row.get(column) in (None, "", [], {}) for row in rows):
        return False
    # A named thing's creation time is in its `get`; a log entry's time is what it is about.
    if column == "created_at" and ("name" in rows[0] or "username" in rows[0]):
        return False
    # Free-form JSON (a config, a schema, log details) does not fit a column: `get` or --json shows it.
    if any(isinstance(row.get(column), dict) for row in rows):
        return False
    # `tool` already names what `tool_id` numbers.
    return not (column in _NAMED_BY and _NAMED_BY[column] in rows[0])


def _cell(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        # A short list of records in one cell: each by its values ({name: core, version_spec: >=1} -> core >=1).
        value = [" ".join(str(v) for v in item.values() if v not in (None, "", [], {})) for item in value]
    text = _text(value).replace("\n", " ")
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(not isinstance(i, dict | list) for i in value):
        return ", ".join(str(i) for i in value) or "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")) if value else "-"
    return str(value)
