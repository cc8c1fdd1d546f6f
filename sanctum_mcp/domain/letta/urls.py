"""A connection's base URL, and URLs as they may be shown (never with credentials)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def base_url(scheme: str, address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{host}:{port}"


def public_url(url: str) -> str:
    """A URL without userinfo, query or fragment (they may carry credentials)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "(unparsable URL)"
