-- =============================================================================
-- sanctum-mcp: default rows of the Sanctum registry (schema version 3)
-- =============================================================================
-- Run after schema.sql, on every start if wanted: every statement is idempotent and
-- never overwrites a row an operator has changed.
--   * system_config: ON CONFLICT(config_key) DO NOTHING (only uniqueness is ignored,
--     so a broken seed still fails loudly on its CHECK constraints).
--   * config_history: version 1 of each seeded setting, only while it has no history.
--   * letta_server_config: inserted only while the table has no row at all.
-- Values are stored as written ('~/sanctum' is not expanded here). default_value holds
-- the same value so that a reset can restore it.
-- =============================================================================

INSERT INTO system_config
    (config_key, config_value, config_type, description, is_sensitive, category,
     default_value, constraint_json)
VALUES
    -- api_keys
    ('openai_api_key',    '', 'string', 'OpenAI API Key for AI model access',
     1, 'api_keys', '', NULL),
    ('anthropic_api_key', '', 'string', 'Anthropic API Key for Claude access',
     1, 'api_keys', '', NULL),
    ('ollama_base_url',   'http://localhost:11434', 'string', 'Ollama local model server URL',
     0, 'api_keys', 'http://localhost:11434', '{"type":"string","format":"uri"}'),
    -- paths
    ('sanctum_base_path', '~/sanctum', 'string', 'Base installation directory for Sanctum',
     0, 'paths', '~/sanctum', NULL),
    ('letta_data_path',   '~/.letta',  'string', 'Letta data directory path',
     0, 'paths', '~/.letta', NULL),
    -- ports
    ('flask_port', '5000', 'integer', 'Flask web interface port',
     0, 'ports', '5000', '{"type":"integer","minimum":1,"maximum":65535}'),
    ('smcp_port',  '9000', 'integer', 'SMCP server port',
     0, 'ports', '9000', '{"type":"integer","minimum":1,"maximum":65535}'),
    -- general
    ('environment', 'development', 'string', 'Current environment (dev/staging/prod)',
     0, 'general', 'development', '{"enum":["development","staging","production"]}'),
    ('debug_mode',  'true', 'boolean', 'Enable debug logging',
     0, 'general', 'true', NULL)
ON CONFLICT(config_key) DO NOTHING;

-- Version 1 of every seeded setting in config_history, so that config_history shows where a
-- setting started and rollback_config can return to it. Only for seeded rows still at version 1
-- that have no history yet.
INSERT INTO config_history (scope, target, key, version, value, value_type, sensitive, changed_by, change)
SELECT 'system', '', s.config_key, s.version, s.config_value, s.config_type, s.is_sensitive, 'seed', 'set'
FROM system_config AS s
WHERE s.default_value IS NOT NULL AND s.version = 1
  AND NOT EXISTS (SELECT 1 FROM config_history AS h
                  WHERE h.scope = 'system' AND h.target = '' AND h.key = s.config_key);

-- The default Letta connection, only into an empty table.
INSERT INTO letta_server_config
    (server_address, server_port, server_scheme, server_password, server_token,
     connection_timeout, is_active)
SELECT 'localhost', 8080, 'http', NULL, NULL, 30, 1
WHERE NOT EXISTS (SELECT 1 FROM letta_server_config);

-- [v2] Settings the scheduler applies (added by schema version 2; storage/migrations.py runs
-- this section on a version-1 database, so it must stay idempotent).
INSERT INTO system_config
    (config_key, config_value, config_type, description, is_sensitive, category,
     default_value, constraint_json)
VALUES
    ('log_retention_days', '30', 'integer',
     'Days the logs table keeps a row; rows naming a user (the audit trail) stay at least 90 days; 0 keeps everything',
     0, 'general', '30', '{"type":"integer","minimum":0,"maximum":36500}'),
    ('backup_schedule', '0 3 * * *', 'string',
     'Cron expression (UTC) for automatic full backups; empty turns them off',
     0, 'general', '0 3 * * *', NULL),
    ('backup_retention_days', '14', 'integer',
     'Days an automatic backup is kept before the scheduler removes it; 0 keeps them',
     0, 'general', '14', '{"type":"integer","minimum":0,"maximum":36500}')
ON CONFLICT(config_key) DO NOTHING;

-- Their version 1 in config_history, as for every seeded setting (the statement above the Letta
-- row; repeated here because this section runs after it). On a database migrated from version 1
-- it also gives the older seeded settings the version-1 history a new database starts with.
INSERT INTO config_history (scope, target, key, version, value, value_type, sensitive, changed_by, change)
SELECT 'system', '', s.config_key, s.version, s.config_value, s.config_type, s.is_sensitive, 'seed', 'set'
FROM system_config AS s
WHERE s.default_value IS NOT NULL AND s.version = 1
  AND NOT EXISTS (SELECT 1 FROM config_history AS h
                  WHERE h.scope = 'system' AND h.target = '' AND h.key = s.config_key);

-- [v3] The backup quota (added by schema version 3; storage/migrations.py runs this section on a
-- version-2 database). create_backup is refused, and automatic backups are skipped, once the
-- backups hold this many files or bytes; 0 turns a limit off. Admin only, like the settings above.
INSERT INTO system_config
    (config_key, config_value, config_type, description, is_sensitive, category,
     default_value, constraint_json)
VALUES
    ('backup_max_count', '30', 'integer',
     'Most backups kept at once (manual and automatic); 0 = no limit',
     0, 'general', '30', '{"type":"integer","minimum":0,"maximum":1000000}'),
    ('backup_max_bytes', '2147483648', 'integer',
     'Most bytes all backups together may hold (default 2 GiB); 0 = no limit',
     0, 'general', '2147483648', '{"type":"integer","minimum":0}')
ON CONFLICT(config_key) DO NOTHING;

-- Their version 1 in config_history (as for every seeded setting).
INSERT INTO config_history (scope, target, key, version, value, value_type, sensitive, changed_by, change)
SELECT 'system', '', s.config_key, s.version, s.config_value, s.config_type, s.is_sensitive, 'seed', 'set'
FROM system_config AS s
WHERE s.default_value IS NOT NULL AND s.version = 1
  AND NOT EXISTS (SELECT 1 FROM config_history AS h
                  WHERE h.scope = 'system' AND h.target = '' AND h.key = s.config_key);
