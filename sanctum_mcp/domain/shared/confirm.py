"""Destructive changes are confirmed: the first call answers with a preview of what it would change
and a confirmation that a second call must carry.

The confirmation is a digest of the tool, the caller, the call's arguments (all but `confirm`) and
the preview text, so it holds only for the same call on the state that was previewed: the preview
names what decides the outcome (ids, names, versions, counts), and a state that previews
differently needs a new preview. It is checked inside the change's own write transaction, after
every refusal (a caller never gets a preview of what it may not touch) and right before the first
write, so nothing can change between the check and the change.

The digest has no key: it guards against mistakes, not against a caller, who is authorized to make
the change anyway. It is computed from what the preview shows (masked values, never a secret), so
it reveals nothing the preview does not. It needs no storage, so a confirmation works across
sessions and processes (Letta opens a session per call; the SMCP plugin and the CLI a process).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sanctum_mcp.domain.shared.errors import ConfirmationNeeded


@dataclass(frozen=True)
class Confirmation:
    """What a destructive call brings to its transaction: who asks what, and the confirmation given."""

    tool: str
    caller: str
    arguments: dict[str, Any]  # every argument but `confirm`
    given: str | None

    def token(self, preview: str) -> str:
        material = json.dumps([self.tool, self.caller, self.arguments, preview], sort_keys=True, default=str)
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def check(self, preview: str) -> None:
        """Pass when the call carries the confirmation of this very preview; otherwise raise
        ConfirmationNeeded with the preview (`preview` completes "It would ...")."""
        token = self.token(preview)
        if self.given is not None and hmac.compare_digest(self.given, token):
            return
        if self.given is None:
            message = (f"Nothing was changed: {self.tool} shows what it would do first. It would {preview}. To go "
                       f"ahead, call {self.tool} again with the same arguments and confirm='{token}'.")
        else:
            message = (f"Nothing was changed: the registry changed since the preview, or the preview was of "
                       f"another call. It would now {preview}. To go ahead, call {self.tool} again with the same "
                       f"arguments and confirm='{token}'.")
        raise ConfirmationNeeded(message, tool=self.tool, preview=preview, token=token)
