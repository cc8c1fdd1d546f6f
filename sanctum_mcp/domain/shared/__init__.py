"""The small pieces every area of the domain uses: errors, the caller's identity, the clock, cursors,
the audit row, secrets (encryption, masking, redaction), name and id rules, the agent-reach check
and the governing settings. Nothing here imports an area."""
