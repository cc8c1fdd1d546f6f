"""Everything the console reads or changes goes through here: a catalogue tool run as the signed-in
caller, exactly as server/app.py and the CLI run it (parse_arguments, run_tool: the same role
checks, permissions.agents, masking, audit rows and error messages). No page calls a domain
service directly, so there is no second rule set."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.catalogue.base import Call, ProgressFn, ToolSpec, explain_failure, parse_arguments, run_tool
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller


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
    """Whether the caller's role reaches what this call of tool `name` needs (role_needed with these
    arguments), so that a page shows no control its viewer cannot use. Only hides controls: the
    call itself is still decided by run_tool's gate."""
    tool = spec(name)
    try:
        needed = tool.role_needed(tool.input.model_construct(**arguments))
    except Exception:
        needed = tool.role
    permissions = caller.permissions
    if permissions is not None and permissions.tools is not None and name not in permissions.tools:
        return False
    return caller.has_role(needed)
