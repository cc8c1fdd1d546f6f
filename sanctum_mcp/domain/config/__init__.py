"""Configuration: one key namespace, five scopes, typed values, secrets, history and rollback.

Model
- `system_config` is the system scope; `configurations` holds the agent, tool, instance and user
  scopes (target = the object's numeric id as text, so a rename never orphans a setting).
- A key means the same thing at every scope: it has ONE type and ONE sensitivity everywhere, and
  a constraint on the system row applies to overrides at every scope.
- Resolution, highest priority first: user (only when asked for) -> instance -> tool -> agent ->
  system. An instance brings its own tool and agent into the chain.
- Environments: `environment_config` holds values for one environment (development, staging,
  production) at any scope; at each level the active environment's value comes before the general
  one (the scope order stays primary). The active one changes only by ConfigService.switch_environment.
- Every change bumps the row's version (never reused, even across delete and re-create), writes a
  config_history row and one audit row, in one transaction.

Secrets: a sensitive value is stored encrypted (value column and history alike) and leaves this
package only through `models.present()`, the masking choke point, except through the audited reveal.

Modules: models (what callers see, and present()), values (types and constraints), targets (scope +
name -> the stored target; an instance's chain), namespace (what the key namespace says about a key),
access (who may change which key), resolve (the inheritance walk and its explanation), environments
(names, the values of one environment, the switch's diff), service (ConfigService: reads, writes,
history, rollback, the switch), cleanup (settings of deleted objects), briefing
(the configure_sanctum prompt).
"""
