"""The registry: the one place that opens the database and wires the domain services on it.

Each service is built with the collaborators it uses (the database, the clock, the SecretBox, the
scheduler's wake-up), named here, instead of reaching into the registry from its methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sanctum_mcp.domain.shared.clock import utcnow
from sanctum_mcp.domain.shared.errors import Unavailable
from sanctum_mcp.domain.shared.identity import DEFAULT_LOCAL_USER, Caller
from sanctum_mcp.domain.shared.secrets import SecretBox
from sanctum_mcp.storage.database import Database, DatabaseUnavailable, trouble
from sanctum_mcp.storage.migrations import migrate

log = logging.getLogger("sanctum_mcp.registry")

if TYPE_CHECKING:
    from sanctum_mcp.domain.agents import AgentService
    from sanctum_mcp.domain.backups.service import BackupService
    from sanctum_mcp.domain.config.service import ConfigService
    from sanctum_mcp.domain.config.transfer import ConfigTransfer
    from sanctum_mcp.domain.feed.notifier import ChangeNotifier
    from sanctum_mcp.domain.feed.service import FeedService
    from sanctum_mcp.domain.jobs.service import JobService
    from sanctum_mcp.domain.jobs.wakeup import Wakeup
    from sanctum_mcp.domain.letta.service import LettaService
    from sanctum_mcp.domain.logs import LogService
    from sanctum_mcp.domain.plugins.service import PluginService
    from sanctum_mcp.domain.tools.service import ToolService
    from sanctum_mcp.domain.users.access import AccessChecks


class Registry:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        from sanctum_mcp.domain.users.service import UserService

        self.db = db
        self.clock = clock
        self.secrets = SecretBox.load(db.path)
        self.users = UserService(db, clock)

    @property
    def operator(self) -> Caller:
        """Who this process acts as over stdio, in CLI commands and for trusted loopback HTTP clients:
        a real user, set by open() (LOCAL_OPERATOR until then); the users service keeps it fresh."""
        return self.users.operator

    @operator.setter
    def operator(self, caller: Caller) -> None:
        self.users.operator = caller

    # The other services are built on first use: a process that runs one tool (an SMCP command)
    # imports only its service, and a stdio server answers `initialize` before importing any of
    # them (benchmarks/README.md, P3).
    @cached_property
    def access(self) -> AccessChecks:
        from sanctum_mcp.domain.users.access import AccessChecks

        return AccessChecks(self.db)

    @cached_property
    def agents(self) -> AgentService:
        from sanctum_mcp.domain.agents import AgentService

        return AgentService(self.db)

    @cached_property
    def config(self) -> ConfigService:
        from sanctum_mcp.domain.config.service import ConfigService

        return ConfigService(self.db, self.secrets)

    @cached_property
    def config_transfer(self) -> ConfigTransfer:
        from sanctum_mcp.domain.config.transfer import ConfigTransfer

        return ConfigTransfer(self.db, self.secrets, self.config)

    @cached_property
    def feed(self) -> FeedService:
        from sanctum_mcp.domain.feed.service import FeedService

        return FeedService(self.db)

    @cached_property
    def notifier(self) -> ChangeNotifier:
        """Waiting for the feed's next revision (domain/feed/notifier.py): one per process."""
        from sanctum_mcp.domain.feed.notifier import ChangeNotifier

        return ChangeNotifier(self.db)

    @cached_property
    def letta(self) -> LettaService:
        from sanctum_mcp.domain.letta.service import LettaService

        return LettaService(self.db, self.secrets, self.clock, self.access, self.users)

    @cached_property
    def wakeup(self) -> Wakeup:
        """The scheduler's wake-up, set by whatever changes the jobs table (the jobs service, a restore)."""
        from sanctum_mcp.domain.jobs.wakeup import Wakeup

        return Wakeup()

    @cached_property
    def jobs(self) -> JobService:
        from sanctum_mcp.domain.jobs.service import JobService

        return JobService(self.db, self.clock, self.wakeup)

    @cached_property
    def logs(self) -> LogService:
        from sanctum_mcp.domain.logs import LogService

        return LogService(self.db)

    @cached_property
    def backups(self) -> BackupService:
        from sanctum_mcp.domain.backups.service import BackupService

        return BackupService(self.db, self.clock, self.wakeup)

    @cached_property
    def tools(self) -> ToolService:
        from sanctum_mcp.domain.tools.service import ToolService

        return ToolService(self.db, self.secrets)

    @cached_property
    def plugins(self) -> PluginService:
        from sanctum_mcp.domain.plugins.service import PluginService

        return PluginService(self.db, self.secrets, self.clock)

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
