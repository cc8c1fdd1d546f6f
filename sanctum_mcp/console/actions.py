"""Everything the console reads or changes goes through here: a catalogue tool run as the signed-in
caller, exactly as server/app.py and the CLI run it (parse_arguments, run_tool: the same role
checks, permissions.agents, masking, audit rows and error messages). No page calls a domain
service directly, so there is no second rule set."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.catalogue.base import (ALL_AGENTS, Call, ProgressFn, ToolSpec, authorize, explain_failure,
                                        parse_arguments, run_tool)
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.errors import Forbidden
from sanctum_mcp.domain.shared.identity import Caller, Role


class Refused(Exception):
    """A tool call that failed or was refused: `kind` and the message every surface shows."""

    def __init__(self, tool: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.tool, self.kind, self.message = tool, kind, message


def spec(name: str) -> ToolSpec:
    return all_tools()[name]


async def run(registry: Registry, caller: Caller, name: str, /, *, progress: ProgressFn | None = None,
              confirmed: bool = False, **arguments: Any) -> Any:
    """Run tool `name` for `caller`; raises Refused with the tool's own message. `progress` gets the
    tool's progress reports, as an MCP client's notifications do. `confirmed`: the person already
    confirmed this destructive change on the page (a typed name, a rollback chosen from the history
    with its check-and-set version), so the tool's preview is answered at once, as the CLI's --yes."""
    tool = spec(name)
    try:
        args = parse_arguments(tool, arguments)
        result: BaseModel = await run_tool(tool, Call(registry, caller, progress, confirmed=confirmed), args)
    except Exception as exc:  # every failure becomes the message the tool gives, never a traceback
        kind, message = explain_failure(name, exc)
        raise Refused(name, kind, message) from None
    return result


def may(caller: Caller, name: str, /, **arguments: Any) -> bool:
    """Whether the server serves tool `name` (serve's selection), the caller's role reaches what this
    call needs (role_needed with these arguments) and their permissions allow the tool
    (permissions.tools, and for a caller limited to some agents, not a tool that acts on every
    agent), so that a page shows no control its viewer cannot use. Only hides controls: the call
    itself is still decided by run_tool's gate (which also checks the agents a call names; see
    reaches)."""
    if caller.serves is not None and not caller.serves.admits(name):
        return False
    permissions = caller.permissions
    if permissions is not None and permissions.tools is not None and name not in permissions.tools:
        return False
    if permissions is not None and permissions.agents is not None and spec(name).agents == ALL_AGENTS:
        return False
    asked = tuple(sorted(arguments.items()))
    try:
        # A long argument (any text a URL names) is asked without the memo, so it stays small.
        needed = _role_needed(name, asked) if len(repr(asked)) <= _MEMO_TEXT else _role_for(name, arguments)
    except TypeError:  # an unhashable argument: asked without the memo
        needed = _role_for(name, arguments)
    return caller.has_role(needed)


async def reaches(registry: Registry, caller: Caller, name: str, /, **arguments: Any) -> bool:
    """may(), and for a caller limited to some agents also whether the agents this call names own
    what it touches (an agent's settings, an instance, a job: looked up in the registry), asked of
    run_tool's own gate (authorize), so a page offers a control on another agent's object to no one
    the tool would refuse. Never audited: a page asking is no attempt. Callers not limited to agents
    cost nothing more than may()."""
    if not may(caller, name, **arguments):
        return False
    permissions = caller.permissions
    if permissions is None or permissions.agents is None:
        return True
    tool = spec(name)
    try:
        await authorize(tool, Call(registry, caller, None), tool.input.model_construct(**arguments))
    except Forbidden:
        return False
    except Exception:  # anything else is the call's own answer to give, if the person makes it
        return True
    return True


def _role_for(name: str, arguments: dict[str, Any]) -> Role:
    tool = spec(name)
    try:
        return tool.role_needed(tool.input.model_construct(**arguments))
    except Exception:
        return tool.role


_MEMO_TEXT = 300  # characters of arguments (a setting's key and flags) a remembered answer may have


@lru_cache(maxsize=4096)
def _role_needed(name: str, arguments: tuple[tuple[str, Any], ...]) -> Role:
    """The role a call with these arguments needs, remembered: role_needed reads only the arguments
    (a tool's extra_role, e.g. role_for_key), never the registry or the caller, so the answer cannot
    go stale; building the arguments model for it costs more than the rest of a field on the System
    Settings page, which asks two or three times per setting. Bounded: at most 4096 answers of at
    most _MEMO_TEXT characters of arguments each."""
    return _role_for(name, dict(arguments))
