"""Who is calling, and what their role lets them do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "user", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "user": 1, "admin": 2}


@dataclass(frozen=True)
class Caller:
    username: str
    role: Role
    user_id: int | None = None

    def has_role(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]


# The person at the terminal (stdio, the CLI): full rights on their own machine.
LOCAL_OPERATOR = Caller(username="operator", role="admin")
