"""Users, their roles and permissions, API tokens, and who the local operator is.

Tokens: `sanctum_` + 43 url-safe characters (256 random bits). Only the SHA-256 of a token is
stored; the token itself is returned once, by `create_token`, and can never be shown again.
Verifying a token is one indexed read; `last_used_at` (and the user's `last_login`) are written
at most once a minute per token, so a busy client does not turn every request into a write.

Modules: models (what the user tools return; a user row as a Caller), checks (usernames, emails,
permissions, finding a user, the last-admin rule), tokens (the token format and its hash), service
(UserService: the local operator, users and their tokens), access (the gate's questions: which agents
own what a call names, and the audit row of a refused call).
"""
