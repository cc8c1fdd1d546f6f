"""API tokens: `sanctum_` + 43 url-safe characters (256 random bits); only the SHA-256 of a token is
stored, and its use is recorded at most once a minute."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

TOKEN_PREFIX = "sanctum_"
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
