"""Letta: the connections to Letta servers, the probe behind letta_status, the environment
override, and the agent sync.

Connections live in `letta_server_config` (at most one active: a partial unique index). Their
password and token are stored encrypted through the registry's SecretBox and only ever leave this
package masked (`shared/secrets.py:mask`), like every other secret of the registry.

Environment override: when any of LETTA_SERVER_URL, LETTA_SERVER_PASSWORD, LETTA_API_KEY is set
(non-empty), the probe and the sync use the environment ONLY (URL and credentials all from it,
nothing from the database) and every result says so. A credential without LETTA_SERVER_URL is an
incomplete override: it is reported, never completed from the database.

Auth headers: Letta accepts `Authorization: Bearer <secret>` and `X-BARE-PASSWORD: password <pw>`.
An API key/token is sent as Bearer; a password is sent as Bearer first and, only if Letta answers
401, once more as X-BARE-PASSWORD. The header that worked is reported (and tried first next time
in this process). Redirects are never followed, so no credential is ever sent to another address.

Every network failure becomes a status string with a message that says what to do; the probe
never raises for a network condition.

Modules: models (what the letta tools return), urls, environment (the LETTA_* override),
connections (the stored connections), probe (talking to Letta over HTTP, classifying failures),
sync (Letta's agents into the registry), service (LettaService: which endpoint, and the tools).
"""
