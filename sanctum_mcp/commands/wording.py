"""The CLI's wording of the registry's messages: the one place where the command line renders the
references a message makes to tools and their arguments.

Messages are written once, by the domain and the catalogue, in the words of the MCP surface (which
shows them as they are, server/errors.py): a tool by its name (`list_tool_instances`), an argument
as `name=value` (`confirm=true`, `cascade=true`, `type=full`, `scope='agent'`,
`update_letta_server(password=...)`), and an argument-only name that has an underscore bare
(`expected_version`). Here each becomes what a person types at this terminal:
`sanctum-mcp tools instances list`, `--yes`, `--cascade`, `--type full`, `--scope agent`,
`sanctum-mcp letta update --password ...`, `--expected-version`. The command paths and flag names
come from paths.py, the vocabulary from the catalogue, so a new tool or argument is worded without
an entry here. Quoted text ('Athena', "x") is a value someone wrote and is never rewritten.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from sanctum_mcp.commands import paths

if TYPE_CHECKING:
    from sanctum_mcp.catalogue.base import ToolSpec

# A quoted value: a quote that does not follow a letter (so "Athena's" is prose) or `=` (so
# scope='agent' stays one argument reference), up to the matching quote.
_QUOTED = re.compile(r"""(?<![\w=])'(?:[^'\\\n]|\\.)*'(?!\w)|(?<![\w=])"(?:[^"\\\n]|\\.)*"(?!\w)""")
# A value: quoted, `...`, or a word that does not end with the sentence's full stop (`cascade=true.`).
_VALUE = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\.\.\.|[^\s,;:()'"]*[^\s,;:()'".]"""
_NAME = r"(?<![\w.:/-])(?P<name>[a-z][a-z0-9_]*)"
_REFERENCE = re.compile(rf"{_NAME}(?:=(?P<value>{_VALUE}))?(?![\w-])")
# `tool(arg=value, ...)` first, so its arguments are read as that call's.
_PROSE = re.compile(rf"(?<![\w.:/-])(?P<call>[a-z][a-z0-9_]*)\((?P<inner>[^()]*)\)|{_REFERENCE.pattern}")
_VALIDATION = re.compile(r"^invalid arguments for ([a-z][a-z0-9_]*): ")


@dataclass(frozen=True)
class _Vocabulary:
    tools: dict[str, ToolSpec]
    commands: dict[str, str]   # tool name -> `sanctum-mcp noun verb`
    arguments: frozenset[str]  # every input field of every tool
    booleans: frozenset[str]   # input fields that are booleans (rendered --x / --no-x)
    bare: frozenset[str]       # argument-only names with an underscore, rewritten even without `=`


@lru_cache(maxsize=1)
def _vocabulary() -> _Vocabulary:
    from sanctum_mcp.catalogue import all_tools

    tools = all_tools()
    arguments: set[str] = set()
    booleans: set[str] = set()
    outputs: set[str] = set()
    for spec in tools.values():
        for name, prop in spec.input_schema["properties"].items():
            arguments.add(name)
            if paths.field_kind(prop) == "boolean":
                booleans.add(name)
        outputs |= _property_names(spec.output_schema)
    # A name that is also a field of some result (letta_id, config_schema) may mean that field.
    bare = frozenset(a for a in arguments if "_" in a and a not in outputs and a not in tools)
    return _Vocabulary(tools=dict(tools), commands={n: paths.command_text(s) for n, s in tools.items()},
                       arguments=frozenset(arguments), booleans=frozenset(booleans), bare=bare)


def _property_names(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found |= set(value)
            found |= _property_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= _property_names(item)
    return found


def for_cli(message: str) -> str:
    """The message as the command line says it."""
    vocabulary = _vocabulary()
    validation = _VALIDATION.match(message)
    if validation and validation.group(1) in vocabulary.tools:
        message = _validation_locations(message, validation, vocabulary.tools[validation.group(1)])
    parts, last = [], 0
    for quoted in _QUOTED.finditer(message):
        parts.append(_prose(message[last:quoted.start()], vocabulary))
        parts.append(quoted.group(0))
        last = quoted.end()
    parts.append(_prose(message[last:], vocabulary))
    return "".join(parts)


def _validation_locations(message: str, match: re.Match[str], spec: ToolSpec) -> str:
    """`invalid arguments for get_agent: agent: ...; limit: ...` names positions and flags instead of
    fields (AGENT, --limit)."""
    fields = spec.input_schema["properties"]
    problems = []
    for problem in message[match.end():].split("; "):
        where, sep, rest = problem.partition(": ")
        head, dot, tail = where.partition(".")
        if sep and head in fields:
            where = paths.argument_text(spec, head) + (f" ({tail})" if dot else "")
        problems.append(where + sep + rest)
    return message[:match.end()] + "; ".join(problems)


def _prose(text: str, vocabulary: _Vocabulary) -> str:
    def reference(match: re.Match[str]) -> str:
        name, value = match.group("name"), match.group("value")
        if value is None:
            if name in vocabulary.commands:
                return vocabulary.commands[name]
            return paths.flag(name) if name in vocabulary.bare else name
        if name not in vocabulary.arguments:
            return match.group(0)
        return _argument(name, value, vocabulary)

    def one(match: re.Match[str]) -> str:
        if match.group("call") is None:
            return reference(match)
        tool, inner = match.group("call"), match.group("inner")
        if tool not in vocabulary.commands:
            return match.group(0)
        arguments = " ".join(_REFERENCE.sub(reference, part.strip()) for part in inner.split(",") if part.strip())
        return vocabulary.commands[tool] + (" " + arguments if arguments else "")

    return _PROSE.sub(one, text)


def _argument(name: str, value: str, vocabulary: _Vocabulary) -> str:
    flag = paths.flag(name)
    if flag == "--yes":
        # A preview's confirm='...' (domain/shared/confirm.py): at a terminal the person confirms with
        # --yes, which answers the preview of that very run.
        return flag
    if name in vocabulary.booleans and value in ("true", "false"):
        if value == "true":
            return flag
        return "--no-" + flag[2:]
    if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
        value = value[1:-1]
        return f"{flag} {shlex.quote(value) if value else repr('')}"
    return f"{flag} {value}"


def cli_error(failure: BaseException | str) -> SystemExit:
    """What a command raises for a registry error: exit status 1, the message on stderr in CLI words."""
    return SystemExit(f"sanctum-mcp: {for_cli(str(failure))}")
