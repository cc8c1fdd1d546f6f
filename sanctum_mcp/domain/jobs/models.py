"""What the job tools return."""

from __future__ import annotations

import sqlite3
from typing import Literal

from pydantic import BaseModel

JobStatus = Literal["Active", "Paused", "Error"]


class Job(BaseModel):
    id: int
    name: str
    description: str | None = None
    cron_expression: str
    timezone: str
    tool_instance_id: int | None = None
    tool_instance: str | None = None
    agent_id: int | None = None
    agent: str | None = None
    status: JobStatus
    enabled: bool
    last_run: str | None = None
    next_run: str | None = None
    last_error: str | None = None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            cron_expression=row["cron_expression"],
            timezone=row["timezone"],
            tool_instance_id=row["tool_instance_id"],
            tool_instance=row["instance_name"],
            agent_id=row["agent_id"],
            agent=row["agent_name"],
            status=row["status"],
            enabled=bool(row["is_enabled"]),
            last_run=row["last_run"],
            next_run=row["next_run"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class JobPage(BaseModel):
    jobs: list[Job]
    next_cursor: str | None = None


class JobRunPreview(BaseModel):
    cron_expression: str
    timezone: str
    after: str
    runs_utc: list[str]
    runs_local: list[str]


class DeletedJob(BaseModel):
    deleted: Job
