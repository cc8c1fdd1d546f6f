"""Plugins: MCP plugins, extensions and integrations, their dependency graph and their links to
agents and tools.

Rules kept here:
- Names follow the package-name rule (letters, digits, `.`, `_`, `-`; starting and ending with a
  letter or digit), so `name>=1.0` dependency strings can name them. Names ignore case.
- Versions are semantic versions MAJOR.MINOR.PATCH, parsed by `packaging.version.Version`
  (pre-release and build tags allowed: 1.2.0rc1, 1.2.0-beta.1, 1.2.0+build.5; no epoch, no post or
  dev releases). Dependency specifiers are `packaging` requirement strings (`core>=1.2,<2`).
  A pre-release version satisfies a specifier whose range contains it.
- Every dependency must exist and satisfy its specifier; a cycle is refused and named.
- Registering the same name and version again changes nothing (and is refused if it would change
  something); a newer version upgrades and keeps the links; an older one is refused.
- `is_enabled` is the operator's intent, `status` the state: Active (enabled and working),
  Inactive (disabled, or its folder vanished), Error (with the reason in `error`).
- A plugin's `config.smcp` is written only by the SMCP scan (sync_smcp_plugins, domain/smcp/): it
  names the folder whose cli.py scheduled jobs execute, so register_plugin refuses it.

Modules: models (what the plugin tools return), versions (names, semantic versions, dependency
specifiers), graph (the dependency graph: problems, cycles, closures, trees), rows (a plugin row as a
model; lookup by name or id), registration (register, same version, upgrade), links (link_plugin /
unlink_plugin), service (PluginService: the plugin tools).
"""
