"""Toolsets and profiles: which of the catalogue's tools a server (or one of its URLs) publishes.

A toolset is one catalogue group (agents, config, ...). A profile is a named set of tools for a
common caller. A Selection is what `serve --toolsets/--tools/--read-only` (or an HTTP URL, or the
SMCP install) chose; it is enforced, not only listed: a call outside it is refused (server/app.py).
Roles and permissions.tools narrow the list further per caller; a selection never widens them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sanctum_mcp.catalogue import all_tools
from sanctum_mcp.catalogue.base import ToolSpec

# toolset name -> catalogue group, in listing order.
TOOLSETS: dict[str, str] = {
    "agents": "Agents", "config": "Configuration", "tools": "Tools", "plugins": "Plugins", "letta": "Letta",
    "users": "Users", "jobs": "Jobs", "logs": "Logs", "backups": "Backups",
}

# A configuration assistant such as Athena: read and change settings and agent status, read logs
# and jobs, follow changes. No users or tokens, no restore or deletion, no Letta servers (they hold credentials).
ASSISTANT_TOOLS = (
    "list_agents", "get_agent", "set_agent_status",
    "get_config", "list_config", "config_history", "set_config", "reset_config",
    "list_jobs", "get_job", "preview_job_runs", "query_logs", "changes_since",
)

PROFILE_HELP = {
    "all": "every tool",
    "assistant": "a configuration assistant such as Athena: " + ", ".join(ASSISTANT_TOOLS),
    "readonly": "every tool that changes nothing",
}
PROFILES = tuple(PROFILE_HELP)

# The environment variables that stand for the serve options.
ENV_TOOLSETS, ENV_TOOLS, ENV_READ_ONLY = "SANCTUM_MCP_TOOLSETS", "SANCTUM_MCP_TOOLS", "SANCTUM_MCP_READ_ONLY"


class UnknownSelection(ValueError):
    """A toolset, profile or tool name that does not exist; the message lists the valid ones."""


def toolset_of(spec: ToolSpec) -> str:
    return next(name for name, group in TOOLSETS.items() if group == spec.group)


@dataclass(frozen=True)
class Selection:
    """A set of tool names (None: every tool, without building the catalogue to say so) and how to
    describe it to a caller (label)."""

    names: frozenset[str] | None
    label: str

    def admits(self, name: str) -> bool:
        return self.names is None or name in self.names

    def narrowed(self, other: Selection) -> Selection:
        """What both admit (an HTTP URL's selection within the server's)."""
        if other.names is None:
            return self
        if self.names is None:
            return other
        if other.names >= self.names:
            return self
        return Selection(self.names & other.names, f"{other.label} within {self.label}")

    def refusal(self, name: str) -> str:
        """The one message for a call outside the selection, whether or not the tool exists elsewhere."""
        return (f"{name[:64]!r} is not a tool of this endpoint, which serves {self.label}. "
                "Call tools/list for the tools you may use here.")


EVERYTHING = Selection(None, "every tool")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _profile(name: str) -> frozenset[str]:
    tools = all_tools()
    if name == "all":
        return frozenset(tools)
    if name == "readonly":
        return frozenset(n for n, spec in tools.items() if spec.read_only)
    return frozenset(ASSISTANT_TOOLS)


def select(toolsets: str | None = None, tools: str | None = None, read_only: bool = False) -> Selection:
    """The tools that `--toolsets a,b|PROFILE`, `--tools x,y` and `--read-only` choose.

    Toolsets, profiles and tools add up; nothing given means every tool; read_only then keeps only
    the tools that change nothing (it wins over everything). Unknown names raise UnknownSelection.
    """
    if not _split(toolsets) and not _split(tools) and not read_only:
        return EVERYTHING
    catalogue = all_tools()
    names: set[str] = set()
    labels: list[str] = []
    for part in _split(toolsets):
        key = part.lower()
        if key in PROFILES:
            names |= _profile(key)
            labels.append(f"the {key} profile")
        elif key in TOOLSETS:
            names |= {n for n, spec in catalogue.items() if spec.group == TOOLSETS[key]}
            labels.append(f"the {key} toolset")
        else:
            raise UnknownSelection(
                f"unknown toolset or profile {part[:40]!r}: use toolsets {', '.join(TOOLSETS)} or profiles "
                f"{', '.join(PROFILES)} (comma-separated)")
    for part in _split(tools):
        if part not in catalogue:
            raise UnknownSelection(f"unknown tool {part[:64]!r}: the tools are {', '.join(catalogue)}")
        names.add(part)
        labels.append(part)
    if not labels:
        names, labels = set(catalogue), ["every tool"]
    if read_only:
        names = {n for n in names if catalogue[n].read_only}
        labels = [f"the read-only tools of {', '.join(labels)}" if labels != ["every tool"] else "every read-only tool"]
    return Selection(frozenset(names), ", ".join(labels))



@lru_cache(maxsize=64)
def url_selection(segment: str) -> Selection:
    """The selection an HTTP URL names (/mcp/x/SEGMENT: toolsets and profiles, comma-separated).
    Cached: a client sends the same few URLs, and a name that fails is not cached."""
    return select(toolsets=segment)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def serve_selection(toolsets: str | None, tools: str | None, read_only: bool, environ: dict[str, str]) -> Selection:
    """`serve`'s selection: each option, else its environment variable. Raises UnknownSelection."""
    flag = environ.get(ENV_READ_ONLY, "").strip().lower()
    if flag not in _TRUE + _FALSE:
        raise UnknownSelection(f"{ENV_READ_ONLY}={flag[:20]!r} is neither true nor false: use 1 or 0")
    return select(toolsets if toolsets is not None else environ.get(ENV_TOOLSETS),
                  tools if tools is not None else environ.get(ENV_TOOLS),
                  read_only or flag in _TRUE)
