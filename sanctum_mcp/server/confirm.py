"""Destructive calls confirmed by the person, through the client, where the client can ask.

A destructive tool answers its first call with a preview and a confirmation to send back
(domain/shared/confirm.py, ConfirmationNeeded). When the client declared the elicitation capability,
the server asks the person instead, and a "yes" runs the call again with that preview's confirmation
(so a registry that changed while the question was open is still refused, with a new preview):
- 2026-07-28: the call answers InputRequiredResult with the question, the confirmation travelling as
  its request_state; the client retries the call with the answer and that state;
- earlier versions: elicitation/create on the request's back-channel, answered within the call
  (stdio, legacy SSE, Streamable HTTP with --stream-responses; a JSON-body answer has no
  back-channel, so such a client gets the two-step answer).
A call that carries `confirm` is never asked: a client may still do the two steps itself, as every
client without elicitation (Letta, SMCP) does.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from sanctum_mcp.catalogue.base import Call, ToolSpec, admit, run_tool
from sanctum_mcp.domain.shared.errors import ConfirmationNeeded

log = logging.getLogger("sanctum_mcp.confirm")

# The key of our one input request (2026-07-28): the answer comes back under it.
QUESTION = "confirm"


class _Nothing(BaseModel):
    """The elicitation asks only accept or decline: an empty form."""


def _can_ask(context: Context) -> bool:
    session = context.request_context.session
    capabilities = session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # An empty elicitation capability ({}) is form mode (the 2025-06-18 shape).
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    # Before 2026-07-28 the question is a request on the call's back-channel, which a Streamable HTTP
    # answer in one JSON body (serve's default, without --stream-responses) does not have.
    return context.protocol_version in MODERN_PROTOCOL_VERSIONS or session.can_send_request


def _question(spec: ToolSpec, need: ConfirmationNeeded) -> str:
    return f"{spec.title}: this would {need.preview}. Go ahead?"


async def _declined(spec: ToolSpec, call: Call, args: Any, action: str) -> ToolError:
    """The answer to a declined question, after its audit row (the refusal stands without it). The row
    keeps the arguments but any a tool declares secret (`secrets=`): audit rows hold no clear value."""
    arguments = args.model_dump(mode="json", exclude={"confirm", *spec.secrets_in(args)})
    try:
        await call.registry.access.record_declined(call.caller, tool=spec.name, answer=action, arguments=arguments)
    except Exception:
        log.warning("could not audit the declined %s for %s", spec.name, call.caller.username, exc_info=True)
    return ToolError(f"Nothing was changed: {spec.name} was not confirmed (the person asked chose {action}).")


async def run_confirming(spec: ToolSpec, call: Call, args: Any, context: Context) -> Any:
    """run_tool, asking the person through the client when the call needs a confirmation it lacks."""
    if "confirm" not in spec.input.model_fields:
        return await run_tool(spec, call, args)
    answers = context.input_responses or {}
    if args.confirm is None and context.request_state is not None and QUESTION in answers:
        answer = answers[QUESTION]
        action = getattr(answer, "action", "cancel")
        if action != "accept":
            await admit(spec, call, args)  # a decline is audited only for a call this caller could make
            raise await _declined(spec, call, args, action)
        return await run_tool(spec, call, args.model_copy(update={"confirm": context.request_state}))
    try:
        return await run_tool(spec, call, args)
    except ConfirmationNeeded as need:
        if args.confirm is not None or not _can_ask(context):
            raise
        question = _question(spec, need)
        if context.protocol_version in MODERN_PROTOCOL_VERSIONS:
            form = ElicitRequestFormParams(message=question, requested_schema={"type": "object", "properties": {}})
            return InputRequiredResult(input_requests={QUESTION: ElicitRequest(params=form)}, request_state=need.token)
        answer = await context.elicit(question, _Nothing)
        if answer.action != "accept":
            raise await _declined(spec, call, args, answer.action) from None
        return await run_tool(spec, call, args.model_copy(update={"confirm": need.token}))
