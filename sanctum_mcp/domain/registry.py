"""The registry: one open database plus the domain services that work on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sanctum_mcp.domain.clock import utcnow
from sanctum_mcp.domain.secrets import SecretBox
from sanctum_mcp.storage.database import Database
from sanctum_mcp.storage.migrations import migrate


class Registry:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        from sanctum_mcp.domain.agents import AgentService
        from sanctum_mcp.domain.backups import BackupService
        from sanctum_mcp.domain.jobs import JobService
        from sanctum_mcp.domain.logs import LogService

        self.db = db
        self.clock = clock
        self.secrets = SecretBox.load(db.path)
        self.agents = AgentService(self)
        self.jobs = JobService(self)
        self.logs = LogService(self)
        self.backups = BackupService(self)

    @classmethod
    async def open(cls, path: Path | str, *, clock: Callable[[], datetime] = utcnow) -> Registry:
        """Open the database once for the whole process, migrating it if it is older."""
        db = await Database.open(path)
        try:
            await db.run(migrate, location=str(db.path))
        except BaseException:
            await db.close()
            raise
        return cls(db, clock=clock)

    async def close(self) -> None:
        await self.db.close()
