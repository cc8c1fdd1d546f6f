"""The environment override: LETTA_SERVER_URL, LETTA_SERVER_PASSWORD, LETTA_API_KEY. When any is set,
letta_status and sync_letta_agents use the environment only (see the package's docstring)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from sanctum_mcp.domain.letta.models import EnvOverride
from sanctum_mcp.domain.letta.urls import public_url
from sanctum_mcp.domain.shared.secrets import mask

ENV_URL = "LETTA_SERVER_URL"
ENV_PASSWORD = "LETTA_SERVER_PASSWORD"
ENV_API_KEY = "LETTA_API_KEY"
ENV_VARS = (ENV_URL, ENV_PASSWORD, ENV_API_KEY)
# The environment names no timeout; an override uses the schema's default connection timeout.
OVERRIDE_TIMEOUT = 30


def env_override() -> EnvOverride | None:
    values = {name: os.environ.get(name) or None for name in ENV_VARS}
    present = [name for name, value in values.items() if value]
    if not present:
        return None
    url = values[ENV_URL]
    complete, message = True, (
        f"the environment overrides the database ({', '.join(present)}): letta_status and sync_letta_agents "
        "use these values only; the database connections are not used until they are unset."
    )
    if url is None:
        complete = False
        message = (f"{', '.join(present)} is set but {ENV_URL} is not: the override is incomplete and is NOT "
                   f"mixed with the database. Set {ENV_URL} too, or unset {', '.join(present)}.")
    else:
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 (raises ValueError for a port out of range)
        except ValueError:
            valid = False
        if not valid:
            complete = False
            message = f"{ENV_URL} is not an http(s) URL with a host (and a valid port); fix it or unset it."
    return EnvOverride(
        in_force=True, variables=present, url=public_url(url) if url else None,
        password=mask(values[ENV_PASSWORD]) if values[ENV_PASSWORD] else None,
        api_key=mask(values[ENV_API_KEY]) if values[ENV_API_KEY] else None,
        complete=complete, message=message,
    )
