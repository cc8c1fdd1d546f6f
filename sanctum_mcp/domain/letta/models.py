"""What the letta tools return, the error for a Letta that cannot be asked, and a connection
revealed for `sanctum-mcp letta env`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain.shared.errors import RegistryError

Scheme = Literal["http", "https"]
AuthOutcome = Literal["ok", "failed", "not-needed", "not-checked"]
HeaderName = Literal["bearer", "x-bare-password"]


class LettaUnavailable(RegistryError):
    """Letta could not be asked (unreachable, refused the credentials, answered nonsense)."""


    kind = "unavailable"


class LettaServer(BaseModel):
    id: int
    address: str
    port: int
    scheme: Scheme
    url: str
    password: str | None = Field(default=None, description="Masked.")
    token: str | None = Field(default=None, description="Masked.")
    timeout_seconds: int
    is_active: bool
    last_connected: str | None = None
    created_at: str
    updated_at: str


class EnvOverride(BaseModel):
    in_force: bool
    variables: list[str]
    url: str | None = None
    password: str | None = Field(default=None, description="Masked.")
    api_key: str | None = Field(default=None, description="Masked.")
    complete: bool
    message: str


class LettaServerList(BaseModel):
    servers: list[LettaServer]
    active_id: int | None = None
    override: EnvOverride | None = None


class RemovedLettaServer(BaseModel):
    removed: LettaServer


RegistrationState = Literal["usable", "wrong-token", "no-token", "other-host", "unreachable", "stdio"]


class LettaMcpServer(BaseModel):
    name: str
    type: str | None = None
    url: str | None = None
    state: RegistrationState  # usable: Letta gets in with it (registration.py)
    reason: str


class ProbeStep(BaseModel):
    step: str
    request: str
    outcome: str
    http_status: int | None = None
    detail: str | None = None


class LettaStatus(BaseModel):
    url: str | None = None
    source: Literal["database", "environment", "none"]
    server_id: int | None = None
    override: EnvOverride | None = None
    status: str = Field(
        description="ok, connection-refused, dns-failure, timeout, tls-error, connection-error, protocol-error, "
        "redirect, http-error, server-error, auth-failed, bad-response, not-configured, override-invalid, "
        "secret-unreadable."
    )
    message: str
    reachable: bool
    latency_ms: float | None = None
    version: str | None = None
    health: str | None = None
    auth: AuthOutcome = "not-checked"
    auth_header: HeaderName | None = None
    agent_count: int | None = None
    mcp_servers: list[LettaMcpServer] | None = None
    registered: bool | None = Field(default=None, description="One of them is usable (null: unknown).")
    registered_as: list[str] = Field(default_factory=list)
    steps: list[ProbeStep] = Field(default_factory=list)


class SyncedAgent(BaseModel):
    name: str
    letta_id: str
    agent_id: int | None = None
    change: str | None = None


class SkippedAgent(BaseModel):
    name: str
    letta_id: str
    reason: str


class LettaSync(BaseModel):
    url: str
    source: Literal["database", "environment"]
    dry_run: bool
    letta_agents: int
    added: list[SyncedAgent] = Field(default_factory=list)
    updated: list[SyncedAgent] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    missing: list[SyncedAgent] = Field(
        default_factory=list, description="Letta no longer lists them (kept)."
    )
    skipped: list[SkippedAgent] = Field(default_factory=list)


@dataclass(frozen=True)
class RevealedConnection:
    """A stored connection's URL with its password and token in clear: what `sanctum-mcp letta env`
    hands to Letta's clients. Only LettaService.reveal builds one (admins, audited). Not a result
    model: no surface prints it whole, and its repr leaves the secrets out (a stray log line or
    traceback never shows them)."""

    server_id: int
    url: str
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
