"""The database file itself: schema constraints, migrations, seeding, pragmas, atomicity."""

from __future__ import annotations

import sqlite3

import pytest
from support import snapshot

from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.storage.database import Database, DatabaseUnavailable
from sanctum_mcp.storage.migrations import (
    SCHEMA_VERSION,
    Migration,
    SchemaTooNew,
    migrate,
    schema_text,
    split_statements,
)

TABLES = {
    "agents", "tools", "tool_instances", "configurations", "config_history", "plugins", "plugin_links",
    "plugin_dependencies", "scheduled_jobs", "logs", "backups", "users", "api_tokens",
    "letta_server_config", "system_config",
}


def _connect(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


async def test_first_start_creates_every_table_and_seeds(registry, db_path):
    with _connect(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert TABLES <= tables
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        keys = {r[0]: r[1] for r in conn.execute("SELECT config_key, category FROM system_config")}
        assert len(keys) >= 9
        assert keys["smcp_port"] == "ports" and keys["sanctum_base_path"] == "paths"
        assert keys["openai_api_key"] == "api_keys" and keys["environment"] == "general"
        path = conn.execute("SELECT config_value FROM system_config WHERE config_key = 'sanctum_base_path'").fetchone()
        assert path[0] == "~/sanctum"  # stored as written, not expanded
        letta = conn.execute("SELECT server_address, server_port, is_active FROM letta_server_config").fetchall()
        assert letta == [("localhost", 8080, 1)]


async def test_pragmas(registry):
    def read(conn):
        return {
            name: conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }

    pragmas = await registry.db.run(read)
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["foreign_keys"] == 1
    assert pragmas["synchronous"] == 2  # FULL
    assert pragmas["busy_timeout"] >= 5000


async def test_reopening_keeps_operator_changes(db_path):
    reg = await Registry.open(db_path)
    await reg.close()
    with _connect(db_path) as conn:
        conn.execute("UPDATE system_config SET config_value = '9100' WHERE config_key = 'smcp_port'")
        conn.execute("UPDATE letta_server_config SET server_port = 8283")
    before = snapshot(db_path)
    reg = await Registry.open(db_path)
    await reg.close()
    assert snapshot(db_path) == before
    with _connect(db_path) as conn:
        assert conn.execute("SELECT config_value FROM system_config WHERE config_key='smcp_port'").fetchone()[0] == "9100"


def test_seeds_are_idempotent(db_path):
    from sanctum_mcp.storage.migrations import run_script, seeds_text

    with _connect(db_path) as conn:
        conn.isolation_level = None
        migrate(conn)
        conn.execute("UPDATE system_config SET config_value = 'production' WHERE config_key = 'environment'")
        counts = [r[0] for r in conn.execute("SELECT count(*) FROM system_config UNION ALL SELECT count(*) FROM letta_server_config")]
        run_script(conn, seeds_text())
        run_script(conn, seeds_text())
        again = [r[0] for r in conn.execute("SELECT count(*) FROM system_config UNION ALL SELECT count(*) FROM letta_server_config")]
        assert again == counts
        assert conn.execute("SELECT config_value FROM system_config WHERE config_key='environment'").fetchone()[0] == "production"


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO agents (name, status) VALUES ('x', 'Sleeping')",
        "INSERT INTO tools (name, tool_type) VALUES ('x', 'gadget')",
        "INSERT INTO plugins (name, type, version) VALUES ('x', 'widget', '1.0.0')",
        "INSERT INTO users (username, role) VALUES ('x', 'root')",
        "INSERT INTO backups (name, type) VALUES ('x', 'partial')",
        "INSERT INTO logs (level, message) VALUES ('LOUD', 'x')",
        "INSERT INTO configurations (scope, target, key, value) VALUES ('planet', '1', 'k', 'v')",
        "INSERT INTO letta_server_config (server_address, server_port) VALUES ('h', 70000)",
        "INSERT INTO agents (name, config) VALUES ('x', 'not json')",
    ],
)
def test_sqlite_itself_refuses_bad_enums_and_values(db_path, sql):
    with _connect(db_path) as conn:
        conn.isolation_level = None
        migrate(conn)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql)


def test_unique_rules(db_path):
    with _connect(db_path) as conn:
        conn.isolation_level = None
        migrate(conn)
        conn.execute("INSERT INTO agents (name) VALUES ('Athena')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO agents (name) VALUES ('ATHENA')")
        conn.execute("INSERT INTO users (username) VALUES ('ann')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO users (username) VALUES ('Ann')")
        conn.execute("INSERT INTO configurations (scope, target, key, value) VALUES ('agent', '1', 'k', 'v')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO configurations (scope, target, key, value) VALUES ('agent', '1', 'k', 'w')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO system_config (config_key, config_value, category) VALUES ('smcp_port', '1', 'ports')")
        with pytest.raises(sqlite3.IntegrityError):  # at most one active Letta server
            conn.execute("INSERT INTO letta_server_config (server_address, server_port, is_active) VALUES ('b', 8283, 1)")
        conn.execute("INSERT INTO letta_server_config (server_address, server_port, is_active) VALUES ('b', 8283, 0)")


def test_foreign_keys_are_deliberate(db_path):
    with _connect(db_path) as conn:
        conn.isolation_level = None
        migrate(conn)
        agent = conn.execute("INSERT INTO agents (name) VALUES ('Athena')").lastrowid
        tool = conn.execute("INSERT INTO tools (name) VALUES ('mailer')").lastrowid
        conn.execute("INSERT INTO tool_instances (tool_id, agent_id, name) VALUES (?, ?, 'm')", (tool, agent))
        with pytest.raises(sqlite3.IntegrityError):  # RESTRICT: delete_agent must decide, not SQLite
            conn.execute("DELETE FROM agents WHERE id = ?", (agent,))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO tool_instances (tool_id, name) VALUES (999, 'ghost')")
        user = conn.execute("INSERT INTO users (username) VALUES ('ann')").lastrowid
        conn.execute("INSERT INTO logs (message, user_id) VALUES ('did things', ?)", (user,))
        conn.execute("DELETE FROM users WHERE id = ?", (user,))  # SET NULL: the audit trail stays
        assert conn.execute("SELECT user_id FROM logs WHERE message = 'did things'").fetchone() == (None,)


def test_updated_at_is_kept_current(db_path):
    with _connect(db_path) as conn:
        conn.isolation_level = None
        migrate(conn)
        conn.execute("INSERT INTO agents (name, updated_at) VALUES ('Athena', '2000-01-01T00:00:00.000Z')")
        conn.execute("UPDATE agents SET description = 'x' WHERE name = 'Athena'")
        assert conn.execute("SELECT updated_at FROM agents").fetchone()[0] > "2020"


def _version_one(path) -> None:
    with _connect(path) as conn:
        conn.isolation_level = None
        migrate(conn)


def test_migration_from_an_older_version_is_one_transaction(db_path):
    _version_one(db_path)
    steps = (
        Migration(SCHEMA_VERSION + 1, "add agents.colour", lambda c: c.execute("ALTER TABLE agents ADD COLUMN colour TEXT")),
        Migration(SCHEMA_VERSION + 2, "index it", lambda c: c.execute("CREATE INDEX idx_agents_colour ON agents(colour)")),
    )
    with _connect(db_path) as conn:
        conn.isolation_level = None
        assert migrate(conn, migrations=steps, target=SCHEMA_VERSION + 2) == (SCHEMA_VERSION, SCHEMA_VERSION + 2)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 2
        assert "colour" in {r[1] for r in conn.execute("PRAGMA table_info(agents)")}


def test_a_failing_migration_leaves_the_file_as_it_was(db_path):
    _version_one(db_path)
    before = snapshot(db_path)

    def broken(conn):
        raise RuntimeError("boom")

    steps = (
        Migration(SCHEMA_VERSION + 1, "add a column", lambda c: c.execute("ALTER TABLE agents ADD COLUMN colour TEXT")),
        Migration(SCHEMA_VERSION + 2, "fails", broken),
    )
    with _connect(db_path) as conn:
        conn.isolation_level = None
        with pytest.raises(RuntimeError):
            migrate(conn, migrations=steps, target=SCHEMA_VERSION + 2)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert snapshot(db_path) == before


async def test_a_newer_database_is_refused_naming_both_versions(db_path):
    _version_one(db_path)
    with _connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(SchemaTooNew) as refused:
        await Registry.open(db_path)
    message = str(refused.value)
    assert str(SCHEMA_VERSION + 5) in message and str(SCHEMA_VERSION) in message and "Upgrade" in message


async def test_write_rolls_back_everything_on_failure(db_path):
    registry = await Registry.open(db_path)
    try:
        before = snapshot(db_path)

        def half_then_fail(conn):
            conn.execute("INSERT INTO agents (name) VALUES ('Athena')")
            conn.execute("INSERT INTO agents (name) VALUES ('athena')")  # UNIQUE NOCASE

        with pytest.raises(sqlite3.IntegrityError):
            await registry.db.write(half_then_fail)
        assert snapshot(db_path) == before
        assert await registry.db.read(lambda c: c.execute("SELECT count(*) FROM agents").fetchone()[0]) == 0
    finally:
        await registry.close()


def test_schema_script_splits_triggers_whole():
    statements = split_statements(schema_text())
    triggers = [s for s in statements if s.upper().startswith("CREATE TRIGGER")]
    assert triggers and all(s.rstrip().upper().endswith("END;") for s in triggers)


async def test_database_folder_is_created_only_when_asked(tmp_path):
    """create_folder is for the default folder (~/.sanctum, see settings.is_default_folder); any other
    folder must exist, and opening under one that does not is refused, creating nothing."""
    path = tmp_path / "deep" / "er" / "registry.db"
    with pytest.raises(DatabaseUnavailable, match=r"does not exist; create it first \(mkdir -p "):
        await Database.open(path)
    assert not (tmp_path / "deep").exists()
    db = await Database.open(path, create_folder=True)
    await db.close()
    assert path.exists() and db.created and (path.parent.stat().st_mode & 0o777) == 0o700
    again = await Database.open(path)
    await again.close()
    assert not again.created


async def test_a_failed_commit_is_rolled_back_and_the_next_write_works(db_path):
    """COMMIT itself can fail (a full disk while writing the WAL; here a deferred foreign key, which
    SQLite checks only at COMMIT). The transaction must not stay open under the next BEGIN."""
    db = await Database.open(db_path)
    try:
        def tables(conn):
            conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            conn.execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")

        await db.write(tables)
        with pytest.raises(sqlite3.IntegrityError):
            await db.write(lambda conn: conn.execute("INSERT INTO child VALUES (42)") and None)
        await db.write(lambda conn: conn.execute("INSERT INTO parent VALUES (1)") and None)
        rows = await db.read(lambda conn: conn.execute("SELECT (SELECT count(*) FROM parent), "
                                                      "(SELECT count(*) FROM child)").fetchone())
        assert tuple(rows) == (1, 0)
    finally:
        await db.close()


async def test_an_error_after_sqlite_rolled_back_by_itself_is_not_hidden(db_path):
    """SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR): the
    error that says what went wrong must reach the caller, not 'cannot rollback'."""
    db = await Database.open(db_path)

    class Original(Exception):
        pass

    def fails_after_sqlite_rolled_back(conn):
        conn.execute("CREATE TABLE t (x)")
        conn.execute("ROLLBACK")  # what SQLite does itself on SQLITE_FULL
        raise Original("the real cause")

    try:
        with pytest.raises(Original):
            await db.write(fails_after_sqlite_rolled_back)
        await db.write(lambda conn: conn.execute("CREATE TABLE t (x)") and None)
    finally:
        await db.close()
