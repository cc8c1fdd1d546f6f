"""Caller-written JSON Schema (a tool's config_schema, SMCP command parameters, config constraints):
checking and validating it with RE2 patterns and a registry that never fetches, and reading it into
a graph that finds its secret (writeOnly) locations."""
