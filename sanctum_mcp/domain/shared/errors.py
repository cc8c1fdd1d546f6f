"""The registry's named failures. Their messages are shown to callers as they are, so each says
what was wrong and what to do next, and never carries a secret or a stack trace."""


class RegistryError(Exception):
    """Base of every failure a caller can act on."""

    kind = "error"


class NotFound(RegistryError):
    kind = "not_found"


class Conflict(RegistryError):
    """The request is well-formed but clashes with the current state (a duplicate, a stale version)."""

    kind = "conflict"


class InvalidInput(RegistryError):
    kind = "invalid_input"


class Forbidden(RegistryError):
    kind = "forbidden"


class Unavailable(RegistryError):
    """The registry's database cannot be used at all (it cannot be opened, the disk is full, it is
    locked or damaged): nothing the caller changes in the request will help."""

    kind = "unavailable"


class ConfirmationNeeded(RegistryError):
    """A destructive call that was not done because it needs the caller's confirmation first
    (domain/shared/confirm.py). The message holds the preview and the confirmation to send back;
    a surface that can ask the person (MCP elicitation, the CLI's --yes) uses `preview` and `token`."""

    kind = "confirmation_needed"

    def __init__(self, message: str, *, tool: str, preview: str, token: str) -> None:
        super().__init__(message)
        self.tool = tool
        self.preview = preview
        self.token = token
