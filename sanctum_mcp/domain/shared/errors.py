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
