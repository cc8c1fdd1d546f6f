"""Tools (the catalog of what agents can use) and tool instances (a tool configured for an agent,
or for the whole host when the tool is a master tool).

Rules kept here:
- `category` is one of master/athena/monday/timbre/smcp. Instances of a master tool are shared and
  have no agent; instances of athena/monday/timbre tools belong to an agent (one is required);
  instances of smcp tools (SMCP plugin commands) may name an agent or not.
- `config_schema` must be a valid JSON Schema describing an object; an instance's config is
  validated against it and errors name the JSON path. Changing a tool's schema (or category) is
  refused while an existing instance would no longer fit it.
- An instance of a disabled tool cannot be active.
- Values a tool's schema marks `"writeOnly": true` are secrets, wherever JSON Schema puts the mark
  (nested properties, array items, additionalProperties, $ref, allOf/anyOf/oneOf, if/then/else...;
  domain/schemas/graph.py finds them in each config): stored encrypted, shown masked. Sending back
  exactly the mask keeps the stored secret. A schema where a writeOnly cannot protect anything is
  refused when the tool is created or updated.
- Changing the config_schema of a tool whose instances hold secrets needs the admin role, and an
  error about a stored secret never says which rule it broke (either would let a caller question
  a secret they cannot read).

Modules: models (what the tool tools return), checks (names, categories, schemas, the agent rule;
finding a tool or instance), instance_config (InstanceConfig: an instance config's stored, plaintext
and shown forms), service (ToolService: tools and instances).
"""
