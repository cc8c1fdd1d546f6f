"""Log and audit trail tools."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sanctum_mcp.catalogue.base import Call, ToolInput, may_call_some, tool
from sanctum_mcp.domain.feed.service import ChangesPage
from sanctum_mcp.domain.logs import LogEntry, LogLevel, LogPage


class QueryLogs(ToolInput):
    level: LogLevel | None = None
    source: str | None = Field(default=None, max_length=100, description="e.g. 'agent', 'job', 'backup', 'server'.")
    source_id: str | None = Field(default=None, max_length=200, description="The object's id, e.g. a job's.")
    since: str | None = Field(default=None, description="ISO-8601 time, inclusive.")
    until: str | None = Field(default=None, description="ISO-8601 time, exclusive.")
    text: str | None = Field(default=None, max_length=200, description="In the message or action, any case.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


@tool("query_logs", title="Query the logs", group="Logs", role="viewer", read_only=True, idempotent=True)
async def query_logs(call: Call, args: QueryLogs) -> LogPage:
    """Read the log and audit trail (who changed what, before/after), newest first."""
    return await call.registry.logs.query(
        level=args.level, source=args.source, source_id=args.source_id, since=args.since, until=args.until,
        text=args.text, cursor=args.cursor, limit=args.limit,
    )


class LogEvent(ToolInput):
    level: LogLevel = "INFO"
    message: str = Field(min_length=1, max_length=2000, description="One or two sentences.")
    details: dict[str, Any] | None = Field(default=None, description="Structured details.")


@tool("log_event", title="Write a note to the log", group="Logs", role="user", read_only=False)
async def log_event(call: Call, args: LogEvent) -> LogEntry:
    """Leave a note in the log, e.g. what you changed and why."""
    return await call.registry.logs.log_event(call.caller, level=args.level, message=args.message, details=args.details)


# A change of each kind shows data of this read tool: a caller sees the kinds whose tool its role
# and permissions.tools allow (permissions.agents narrows further, in domain/feed/service.py).
# Key rotations are admins' business, as users are.
FEED_READS = {
    "config": "list_config", "agent": "list_agents", "tool": "list_tools", "instance": "list_tool_instances",
    "plugin": "list_plugins", "job": "list_jobs", "letta": "list_letta_servers", "user": "list_users",
    "backup": "list_backups", "secrets": "list_users",
}


class ChangesSince(ToolInput):
    revision: int = Field(ge=0, description="0 or a previous up_to.")
    limit: int = Field(default=100, ge=1, le=500)


@tool("changes_since", title="Changes since a revision", group="Logs", role="viewer", read_only=True, idempotent=True)
async def changes_since(call: Call, args: ChangesSince) -> ChangesPage:
    """What changed after a revision that you may read (kind, object, key, who; never values). Pass
    up_to next; reset=true: reload everything."""
    from sanctum_mcp.catalogue import find_tool

    kinds = set()
    for kind, name in FEED_READS.items():
        spec = find_tool(name)
        if spec is not None and may_call_some(spec, call.caller):
            kinds.add(kind)
    return await call.registry.feed.changes_since(call.caller, args.revision, kinds=kinds, limit=args.limit)
