-- =============================================================================
-- sanctum-mcp: schema of the Sanctum registry (SQLite)            SCHEMA VERSION 3
-- =============================================================================
-- This file is the single source of the registry schema. The application runs it
-- as one script on a fresh database and then records the version itself
-- (PRAGMA user_version = 3); pragmas (foreign_keys, journal_mode, ...) are set by
-- the application, never here. Default rows live in sanctum_mcp/storage/seeds.sql.
-- Design notes, the origin of every table and the final column list: docs/schema.md.
--
-- Conventions
--   * Every statement is idempotent (IF NOT EXISTS), so running the file twice is harmless.
--   * Primary keys are INTEGER PRIMARY KEY AUTOINCREMENT: ids are never reused, because
--     configurations.target and logs.source_id refer to objects by id-as-text without a
--     foreign key, and a reused id would silently attach old rows to a new object.
--   * Timestamps are TEXT, ISO-8601 UTC with milliseconds: 2025-01-31T12:00:00.000Z.
--   * Booleans are INTEGER 0/1, enumerations are CHECK constraints, JSON columns are
--     TEXT checked with json_valid().
--   * Tables are not STRICT (see docs/schema.md): types are guarded by the checks above.
--   * Every table with updated_at has an AFTER UPDATE trigger that refreshes it unless
--     the UPDATE itself changed updated_at. Statements inside triggers contain ';', so
--     split this file with sqlite3.complete_statement (as migrations.py does), never on ';'.
-- =============================================================================


-- -----------------------------------------------------------------------------
-- users: people (and service identities) that act on the registry.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    username    TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    email       TEXT    COLLATE NOCASE UNIQUE,               -- optional; unique when present
    role        TEXT    NOT NULL DEFAULT 'viewer'            -- least privilege by default
                CHECK (role IN ('admin', 'user', 'viewer')),
    permissions TEXT    CHECK (permissions IS NULL OR json_valid(permissions)),  -- JSON
    last_login  TEXT,
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);


-- -----------------------------------------------------------------------------
-- api_tokens: bearer tokens for users (only a hash of the token is stored).
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- CASCADE: a token has no meaning without its user; deleting the user revokes them all.
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    name         TEXT,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX IF NOT EXISTS idx_api_tokens_user ON api_tokens(user_id);


-- -----------------------------------------------------------------------------
-- agents: Athena, Monday, Timbre, ...
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS agents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL COLLATE NOCASE UNIQUE,      -- 'Athena' and 'athena' clash
    description TEXT,
    status      TEXT    NOT NULL DEFAULT 'Ready'
                CHECK (status IN ('Healthy', 'Degraded', 'Off', 'Ready')),
    letta_id    TEXT    UNIQUE,                              -- Letta agent id; NULL = not synced
    config      TEXT    CHECK (config IS NULL OR json_valid(config)),            -- JSON
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);


-- -----------------------------------------------------------------------------
-- tools: the tools and modules the registry manages.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS tools (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    description   TEXT,
    emoji         TEXT,
    -- Open vocabulary ('master', 'athena', 'monday', 'timbre', 'smcp', ...): the per-agent
    -- categories grow with the agents, so no CHECK here.
    category      TEXT    NOT NULL DEFAULT 'master',
    status        TEXT    NOT NULL DEFAULT 'Ready'
                  CHECK (status IN ('Healthy', 'Degraded', 'Off', 'Ready')),
    tool_type     TEXT    NOT NULL DEFAULT 'utility'
                  CHECK (tool_type IN ('config', 'plugin', 'service', 'utility')),
    config_schema TEXT    CHECK (config_schema IS NULL OR json_valid(config_schema)),  -- JSON Schema
    is_enabled    INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_tools_category ON tools(category);


-- -----------------------------------------------------------------------------
-- tool_instances: a tool installed/configured for an agent (agent_id NULL = master).
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS tool_instances (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- RESTRICT: a tool cannot disappear from under its instances; uninstalling a tool
    -- removes its instances explicitly first (the application does the cascade).
    tool_id    INTEGER NOT NULL REFERENCES tools(id) ON DELETE RESTRICT,
    -- RESTRICT: delete_agent must refuse while the agent has instances unless asked to
    -- cascade, and then the application deletes them itself (and logs each one).
    agent_id   INTEGER REFERENCES agents(id) ON DELETE RESTRICT,
    name       TEXT    NOT NULL,
    config     TEXT    CHECK (config IS NULL OR json_valid(config)),             -- JSON
    status     TEXT    NOT NULL DEFAULT 'Ready'
               CHECK (status IN ('Healthy', 'Degraded', 'Off', 'Ready')),
    last_run   TEXT,
    next_run   TEXT,
    is_active  INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_tool_instances_agent ON tool_instances(agent_id);
CREATE INDEX IF NOT EXISTS idx_tool_instances_tool  ON tool_instances(tool_id);


-- -----------------------------------------------------------------------------
-- configurations: scoped key/value settings (system-wide settings live in system_config).
-- target is the id or name of the scoped object, as text; it is deliberately not a
-- foreign key (one column cannot reference four tables). The application removes an
-- object's configurations when it deletes the object.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS configurations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    scope        TEXT    NOT NULL CHECK (scope IN ('agent', 'tool', 'instance', 'user')),
    target       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    value        TEXT,
    type         TEXT    NOT NULL DEFAULT 'string'
                 CHECK (type IN ('string', 'integer', 'number', 'boolean', 'json')),
    is_sensitive INTEGER NOT NULL DEFAULT 0 CHECK (is_sensitive IN (0, 1)),
    category     TEXT,
    description  TEXT,
    version      INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- The UNIQUE(scope, target, key) rule; it also serves the design's scope lookups
-- (its leading columns are the design's idx_configurations_scope).
CREATE UNIQUE INDEX IF NOT EXISTS idx_configurations_scope
    ON configurations(scope, target, key);
-- A key has one type and one sensitivity at every scope: checking that, and answering "where is
-- key K set?", looks rows up by key alone.
CREATE INDEX IF NOT EXISTS idx_configurations_key ON configurations(key);


-- -----------------------------------------------------------------------------
-- config_history: every change to configurations and system_config, for audit and
-- rollback. scope 'system' with target '' records system_config changes. No foreign
-- keys: history must outlive the settings, objects and users it mentions.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS config_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    scope      TEXT    NOT NULL
               CHECK (scope IN ('system', 'agent', 'tool', 'instance', 'user')),
    target     TEXT    NOT NULL DEFAULT '',
    key        TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    value      TEXT,                                         -- value after the change (NULL on delete)
    value_type TEXT    NOT NULL DEFAULT 'string'
               CHECK (value_type IN ('string', 'integer', 'number', 'boolean', 'json')),
    sensitive  INTEGER NOT NULL DEFAULT 0 CHECK (sensitive IN (0, 1)),
    changed_by TEXT,                                         -- actor label (username, 'system', ...)
    change     TEXT    NOT NULL CHECK (change IN ('set', 'delete', 'rollback', 'reset')),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_config_history_key
    ON config_history(scope, target, key, version);


-- -----------------------------------------------------------------------------
-- plugins: MCP plugins, extensions and integrations.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS plugins (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL COLLATE NOCASE UNIQUE,      -- dependencies refer to it by name
    type       TEXT    NOT NULL DEFAULT 'mcp'
               CHECK (type IN ('mcp', 'extension', 'integration')),
    version    TEXT,
    status     TEXT    NOT NULL DEFAULT 'Inactive'
               CHECK (status IN ('Active', 'Inactive', 'Error')),
    error      TEXT,                                         -- last error when status = 'Error'
    config     TEXT    CHECK (config IS NULL OR json_valid(config)),             -- JSON
    is_enabled INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);


-- -----------------------------------------------------------------------------
-- plugin_links: which agents and tools a plugin is associated with (many-to-many).
-- Exactly one of agent_id / tool_id is set on each row.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS plugin_links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- CASCADE (all three): a link is only an association with no data of its own; it
    -- goes with either end. Whether an agent/tool may be deleted at all is decided by
    -- the RESTRICT keys on tool_instances/scheduled_jobs and by the application.
    plugin_id  INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    agent_id   INTEGER REFERENCES agents(id) ON DELETE CASCADE,
    tool_id    INTEGER REFERENCES tools(id)  ON DELETE CASCADE,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((agent_id IS NULL) <> (tool_id IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_plugin_links_agent
    ON plugin_links(plugin_id, agent_id) WHERE agent_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS uq_plugin_links_tool
    ON plugin_links(plugin_id, tool_id) WHERE tool_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_plugin_links_agent ON plugin_links(agent_id);
CREATE INDEX IF NOT EXISTS idx_plugin_links_tool  ON plugin_links(tool_id);


-- -----------------------------------------------------------------------------
-- plugin_dependencies: plugin P needs plugin <depends_on_name> (version_spec, e.g.
-- '>=1.2,<2'). The dependency is named, not keyed, so a missing dependency can be
-- recorded and reported; index on the name answers "who depends on X?".
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS plugin_dependencies (
    -- CASCADE: a plugin's declared dependencies are part of the plugin.
    plugin_id       INTEGER NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    depends_on_name TEXT    NOT NULL COLLATE NOCASE,
    version_spec    TEXT,                                    -- NULL = any version
    PRIMARY KEY (plugin_id, depends_on_name),
    CHECK (depends_on_name <> '')
);
CREATE INDEX IF NOT EXISTS idx_plugin_dependencies_name
    ON plugin_dependencies(depends_on_name);


-- -----------------------------------------------------------------------------
-- scheduled_jobs: cron-style jobs that run a tool instance and/or talk to an agent.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS scheduled_jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    description      TEXT,
    cron_expression  TEXT    NOT NULL,
    timezone         TEXT    NOT NULL DEFAULT 'UTC',         -- IANA name
    -- RESTRICT (both): removing an instance or agent that still has jobs must be an
    -- explicit decision; the application deletes or re-targets the jobs first.
    tool_instance_id INTEGER REFERENCES tool_instances(id) ON DELETE RESTRICT,
    agent_id         INTEGER REFERENCES agents(id)         ON DELETE RESTRICT,
    status           TEXT    NOT NULL DEFAULT 'Active'
                     CHECK (status IN ('Active', 'Paused', 'Error')),
    last_run         TEXT,
    next_run         TEXT,
    is_enabled       INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_scheduled_jobs_next_run        ON scheduled_jobs(next_run);
CREATE INDEX IF NOT EXISTS idx_scheduled_jobs_status_next_run ON scheduled_jobs(status, next_run);
CREATE INDEX IF NOT EXISTS idx_scheduled_jobs_instance        ON scheduled_jobs(tool_instance_id);
CREATE INDEX IF NOT EXISTS idx_scheduled_jobs_agent           ON scheduled_jobs(agent_id);


-- -----------------------------------------------------------------------------
-- logs: the registry's own audit/event log. Append-only, so no updated_at.
-- source is an open vocabulary ('system', 'agent', 'tool', 'plugin', ...); source_id is
-- the object's id as text (not a foreign key: log rows outlive what they describe).
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    level      TEXT    NOT NULL DEFAULT 'INFO'
               CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    source     TEXT    NOT NULL DEFAULT 'system',
    source_id  TEXT,
    -- SET NULL: deleting a user must not erase the audit trail of what they did.
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action     TEXT,                                         -- e.g. 'agent.create'
    message    TEXT    NOT NULL,
    details    TEXT    CHECK (details IS NULL OR json_valid(details)),           -- JSON
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_logs_level_created_at ON logs(level, created_at);
CREATE INDEX IF NOT EXISTS idx_logs_source           ON logs(source, source_id, created_at);
-- One source newest first (query_logs with only a source); added in schema version 2.
CREATE INDEX IF NOT EXISTS idx_logs_source_created_at ON logs(source, created_at);
CREATE INDEX IF NOT EXISTS idx_logs_created_at       ON logs(created_at);
CREATE INDEX IF NOT EXISTS idx_logs_user             ON logs(user_id);
-- Rows naming no user, by age: log retention deletes them after log_retention_days, while rows
-- naming a user (the audit trail) stay at least 90 days; added in schema version 3.
CREATE INDEX IF NOT EXISTS idx_logs_unattributed ON logs(created_at) WHERE user_id IS NULL;
-- [v4] logs_fts: the text index of query_logs(text=...), added in schema version 4. It indexes
-- message and action (what `text` searches) in trigrams: any substring of three or more
-- characters is a phrase of trigrams, so the index answers the substring search LIKE '%text%' did
-- (storage/logs.py checks the rows with that LIKE). External content: the text is stored once, in
-- logs; the triggers keep the index in step with every insert, delete (log retention) and change
-- of those two columns (a user's deletion only sets user_id to NULL, which it does not index).
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(
    message, action, content='logs', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS logs_fts_insert AFTER INSERT ON logs BEGIN
    INSERT INTO logs_fts (rowid, message, action) VALUES (new.id, new.message, new.action);
END;
CREATE TRIGGER IF NOT EXISTS logs_fts_delete AFTER DELETE ON logs BEGIN
    INSERT INTO logs_fts (logs_fts, rowid, message, action) VALUES ('delete', old.id, old.message, old.action);
END;
CREATE TRIGGER IF NOT EXISTS logs_fts_update AFTER UPDATE OF message, action ON logs BEGIN
    INSERT INTO logs_fts (logs_fts, rowid, message, action) VALUES ('delete', old.id, old.message, old.action);
    INSERT INTO logs_fts (rowid, message, action) VALUES (new.id, new.message, new.action);
END;
-- [/v4]


-- [v6] changes: the change feed, added in schema version 6. One row per committed change of a
-- registry object (written by domain/feed/record.py inside the change's own transaction); the
-- row's revision is the feed's position. It names what changed (kind, object, configuration key,
-- the agent it belongs to, who) and never a value. AUTOINCREMENT: a revision is never reused, even
-- after the window (storage/changes.py:KEPT rows) has dropped the oldest rows.
CREATE TABLE IF NOT EXISTS changes (
    revision   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,   -- config, agent, tool, instance, plugin, job, letta, user, backup, secrets
    action     TEXT    NOT NULL,   -- the audit action, e.g. 'config.set', 'agent.update', 'backup.restore'
    object_id  TEXT,               -- the object's id (for config: the target's id; NULL for system)
    name       TEXT,               -- the object's name when known (for config: the target's name)
    key        TEXT,               -- config only: the setting's key
    scope      TEXT,               -- config only: system, agent, tool or instance
    agent_id   INTEGER,            -- the agent it belongs to (permissions.agents narrows on it); NULL: host-wide
    actor      TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- [/v6]

-- -----------------------------------------------------------------------------
-- backups: backup and restore points of the registry.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS backups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT,
    type        TEXT    NOT NULL DEFAULT 'full'
                CHECK (type IN ('full', 'incremental', 'config_only')),
    status      TEXT    NOT NULL DEFAULT 'In Progress'
                CHECK (status IN ('In Progress', 'Completed', 'Failed')),
    file_path   TEXT,
    size_bytes  INTEGER CHECK (size_bytes IS NULL OR size_bytes >= 0),
    -- SHA-256 of the backup file, lower-case hex.
    checksum    TEXT    CHECK (checksum IS NULL OR
                               (length(checksum) = 64 AND checksum NOT GLOB '*[^0-9a-f]*')),
    is_auto     INTEGER NOT NULL DEFAULT 0 CHECK (is_auto IN (0, 1)),
    expires_at  TEXT,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_backups_created_at ON backups(created_at);
CREATE INDEX IF NOT EXISTS idx_backups_expires_at ON backups(expires_at) WHERE expires_at IS NOT NULL;


-- -----------------------------------------------------------------------------
-- letta_server_config: how to reach the Letta server. Several rows may be kept, at
-- most one active.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS letta_server_config (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    server_address     TEXT    NOT NULL DEFAULT 'localhost',
    server_port        INTEGER NOT NULL DEFAULT 8080 CHECK (server_port BETWEEN 1 AND 65535),
    server_scheme      TEXT    NOT NULL DEFAULT 'http' CHECK (server_scheme IN ('http', 'https')),
    server_password    TEXT,                                 -- sensitive
    server_token       TEXT,                                 -- sensitive
    connection_timeout INTEGER NOT NULL DEFAULT 30 CHECK (connection_timeout > 0),  -- seconds
    is_active          INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    last_connected     TEXT,
    created_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- At most one active connection (the design's idx_letta_server_active, made unique and partial).
CREATE UNIQUE INDEX IF NOT EXISTS idx_letta_server_active
    ON letta_server_config(is_active) WHERE is_active = 1;


-- -----------------------------------------------------------------------------
-- system_config: system-wide settings, one row per key. default_value is the seeded
-- default (used by reset); constraint_json is an allowed-values / JSON Schema document.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS system_config (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    config_key      TEXT    NOT NULL,
    config_value    TEXT,
    config_type     TEXT    NOT NULL DEFAULT 'string'
                    CHECK (config_type IN ('string', 'integer', 'number', 'boolean', 'json')),
    description     TEXT,
    is_sensitive    INTEGER NOT NULL DEFAULT 0 CHECK (is_sensitive IN (0, 1)),
    category        TEXT    NOT NULL DEFAULT 'general'
                    CHECK (category IN ('api_keys', 'paths', 'ports', 'general')),
    version         INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    constraint_json TEXT    CHECK (constraint_json IS NULL OR json_valid(constraint_json)),
    default_value   TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- The UNIQUE(config_key) rule, under the design's index name.
CREATE UNIQUE INDEX IF NOT EXISTS idx_system_config_key       ON system_config(config_key);
CREATE INDEX        IF NOT EXISTS idx_system_config_category  ON system_config(category);
CREATE INDEX        IF NOT EXISTS idx_system_config_sensitive ON system_config(is_sensitive);


-- -----------------------------------------------------------------------------
-- updated_at triggers. The WHEN guard skips rows whose UPDATE already set updated_at,
-- which also stops the trigger's own UPDATE from firing it again.
-- -----------------------------------------------------------------------------
CREATE TRIGGER IF NOT EXISTS trg_users_updated_at AFTER UPDATE ON users
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE users SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_agents_updated_at AFTER UPDATE ON agents
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE agents SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_tools_updated_at AFTER UPDATE ON tools
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE tools SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_tool_instances_updated_at AFTER UPDATE ON tool_instances
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE tool_instances SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_configurations_updated_at AFTER UPDATE ON configurations
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE configurations SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_plugins_updated_at AFTER UPDATE ON plugins
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE plugins SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_scheduled_jobs_updated_at AFTER UPDATE ON scheduled_jobs
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE scheduled_jobs SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_backups_updated_at AFTER UPDATE ON backups
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE backups SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_letta_server_config_updated_at AFTER UPDATE ON letta_server_config
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE letta_server_config SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS trg_system_config_updated_at AFTER UPDATE ON system_config
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE system_config SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;
