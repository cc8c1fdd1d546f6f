"""The registry: one open database plus the domain services that work on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sanctum_mcp.domain.clock import utcnow
from sanctum_mcp.domain.errors import Unavailable
from sanctum_mcp.domain.identity import DEFAULT_LOCAL_USER, LOCAL_OPERATOR, Caller
from sanctum_mcp.domain.secrets import SecretBox
from sanctum_mcp.storage.database import Database, DatabaseUnavailable, trouble
from sanctum_mcp.storage.migrations import migrate

log = logging.getLogger("sanctum_mcp.registry")

if TYPE_CHECKING:
    from sanctum_mcp.domain.agents import AgentService
    from sanctum_mcp.domain.backups import BackupService
    from sanctum_mcp.domain.config import ConfigService
    from sanctum_mcp.domain.jobs import JobService
    from sanctum_mcp.domain.letta import LettaService
    from sanctum_mcp.domain.logs import LogService
    from sanctum_mcp.domain.plugins import PluginService
    from sanctum_mcp.domain.tools import ToolService


class Registry:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        from sanctum_mcp.domain.users import UserService

        self.db = db
        self.clock = clock
        self.secrets = SecretBox.load(db.path)
        self.users = UserService(self)
        # Who this process acts as over stdio, in CLI commands and for trusted loopback HTTP
        # clients: a real user, set by open(). LOCAL_OPERATOR only until then.
        self.operator: Caller = LOCAL_OPERATOR

    # The other services are built on first use: a process that runs one tool (an SMCP command)
    # imports only its service, and a stdio server answers `initialize` before importing any of
    # them (benchmarks/README.md, P3).
    @cached_property
    def agents(self) -> AgentService:
        from sanctum_mcp.domain.agents import AgentService

        return AgentService(self)

    @cached_property
    def config(self) -> ConfigService:
        from sanctum_mcp.domain.config import ConfigService

        return ConfigService(self)

    @cached_property
    def letta(self) -> LettaService:
        from sanctum_mcp.domain.letta import LettaService

        return LettaService(self)

    @cached_property
    def jobs(self) -> JobService:
        from sanctum_mcp.domain.jobs import JobService

        return JobService(self)

    @cached_property
    def logs(self) -> LogService:
        from sanctum_mcp.domain.logs import LogService

        return LogService(self)

    @cached_property
    def backups(self) -> BackupService:
        from sanctum_mcp.domain.backups import BackupService

        return BackupService(self)

    @cached_property
    def tools(self) -> ToolService:
        from sanctum_mcp.domain.tools import ToolService

        return ToolService(self)

    @cached_property
    def plugins(self) -> PluginService:
        from sanctum_mcp.domain.plugins import PluginService

        return PluginService(self)

    @classmethod
    async def open(
        cls, path: Path | str, *, clock: Callable[[], datetime] = utcnow, user: str | None = None,
        create_first_user: bool = True,
    ) -> Registry:
        """Open the database once for the whole process, migrating it if it is older.

        Then settle who the process acts as (`operator`): on a database without users, the admin
        `user` (default `operator`) is created first; `user` picks that user (it must exist and be
        active), no `user` picks the oldest active admin. Raises NotFound/Forbidden otherwise.
        `user` defaults to $SANCTUM_MCP_USER (the CLI's --user sets it for the whole process).
        create_first_user=False creates nobody: a process acting for others (the SMCP plugin) must
        find its user, never make it the first admin.
        """
        from sanctum_mcp import settings

        user = user or settings.local_user()
        try:
            db = await Database.open(path, create_folder=settings.is_default_folder(path))
        except DatabaseUnavailable as exc:
            raise Unavailable(str(exc)) from None
        try:
            await db.run(migrate, location=str(db.path))
            registry = cls(db, clock=clock)
            registry.operator = await registry.users.local_caller(user, default_name=DEFAULT_LOCAL_USER,
                                                                  create_first_user=create_first_user)
        except BaseException as exc:
            await db.close()
            # The file opened but could not be brought up to date (a full disk during the first
            # migration, a lock, a key file that cannot be written): the same one-line refusal.
            cause = trouble(exc)
            if cause is None and isinstance(exc, OSError):
                cause = f"{exc.strerror or exc} ({exc.filename or 'its key file'})"
            if cause is not None:
                raise Unavailable(str(DatabaseUnavailable(db.path, cause))) from None
            raise
        if db.created:
            # Once it is ready: a typo in --db or $SANCTUM_MCP_DB shows up as a database nobody expected.
            log.info("created registry database %s (new)", db.path.absolute())
        return registry

    async def close(self) -> None:
        await self.db.close()
