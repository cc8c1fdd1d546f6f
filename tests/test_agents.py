"""Agent tools through the in-memory client (both protocol eras)."""

from __future__ import annotations

import sqlite3

from support import call, call_confirmed, call_error, snapshot


async def test_create_get_list(client):
    created = await call(client, "create_agent", {"name": "Athena", "description": "Sanctum Configuration Assistant"})
    assert created["name"] == "Athena" and created["status"] == "Ready" and created["is_active"] is True
    assert await call(client, "get_agent", {"agent": "athena"}) == created
    assert await call(client, "get_agent", {"agent": str(created["id"])}) == created
    page = await call(client, "list_agents")
    assert [a["name"] for a in page["agents"]] == ["Athena"]
    assert "next_cursor" not in page or page["next_cursor"] is None


async def test_names_are_unique_ignoring_case(client, db_path):
    await call(client, "create_agent", {"name": "Monday"})
    before = snapshot(db_path)
    error = await call_error(client, "create_agent", {"name": "MONDAY"})
    assert "already exists" in error and "update_agent" in error
    assert snapshot(db_path) == before


async def test_unknown_agent_points_to_list_agents(client):
    error = await call_error(client, "get_agent", {"agent": "Nobody"})
    assert "'Nobody'" in error and "list_agents" in error


async def test_bad_arguments_name_the_field_and_change_nothing(client, db_path):
    before = snapshot(db_path)
    error = await call_error(client, "create_agent", {"name": "X", "status": "Asleep"})
    assert "status" in error
    error = await call_error(client, "create_agent", {"name": "X", "colour": "red"})
    assert "colour" in error and "Extra inputs" in error
    error = await call_error(client, "create_agent", {})
    assert "name" in error and "required" in error.lower()
    error = await call_error(client, "create_agent", {"name": " padded "})
    assert "surrounding spaces" in error
    error = await call_error(client, "create_agent", {"name": "123"})
    assert "digits" in error
    assert snapshot(db_path) == before


async def test_pagination_to_the_end(client):
    names = [f"agent-{i:02d}" for i in range(23)]
    for name in reversed(names):
        await call(client, "create_agent", {"name": name})
    seen, cursor, pages = [], None, 0
    while True:
        args = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = await call(client, "list_agents", args)
        seen += [a["name"] for a in page["agents"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == names and pages == 5


async def test_exact_final_page_has_no_cursor(client):
    for name in ("a1", "a2", "a3", "a4"):
        await call(client, "create_agent", {"name": name})
    first = await call(client, "list_agents", {"limit": 2})
    second = await call(client, "list_agents", {"limit": 2, "cursor": first["next_cursor"]})
    assert [a["name"] for a in second["agents"]] == ["a3", "a4"]
    assert second.get("next_cursor") is None


async def test_bad_cursor_is_a_clear_error(client):
    error = await call_error(client, "list_agents", {"cursor": "not-a-cursor"})
    assert "cursor" in error and "without a cursor" in error


async def test_filters(client):
    await call(client, "create_agent", {"name": "Athena", "status": "Healthy"})
    await call(client, "create_agent", {"name": "Monday", "active": False})
    await call(client, "create_agent", {"name": "Timbre", "status": "Off"})
    healthy = await call(client, "list_agents", {"status": "Healthy"})
    assert [a["name"] for a in healthy["agents"]] == ["Athena"]
    inactive = await call(client, "list_agents", {"active": False})
    assert [a["name"] for a in inactive["agents"]] == ["Monday"]


async def test_update_is_partial(client):
    await call(client, "create_agent", {"name": "Timbre", "description": "music", "config": {"tempo": 120}})
    updated = await call(client, "update_agent", {"agent": "timbre", "status": "Degraded"})
    assert updated["status"] == "Degraded"
    assert updated["description"] == "music" and updated["config"] == {"tempo": 120}
    renamed = await call(client, "update_agent", {"agent": "Timbre", "name": "Timbre2"})
    assert renamed["name"] == "Timbre2"
    await call(client, "create_agent", {"name": "Monday"})
    error = await call_error(client, "update_agent", {"agent": "Monday", "name": "timbre2"})
    assert "already named" in error


async def test_set_agent_status(client):
    await call(client, "create_agent", {"name": "Athena"})
    assert (await call(client, "set_agent_status", {"agent": "Athena", "status": "Off"}))["status"] == "Off"
    error = await call_error(client, "set_agent_status", {"agent": "Athena", "status": "Sleeping"})
    assert "status" in error


def _add_instance_and_job(db_path, agent_id: int) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        tool_id = conn.execute("INSERT INTO tools (name) VALUES ('mailer')").lastrowid
        instance_id = conn.execute(
            "INSERT INTO tool_instances (tool_id, agent_id, name) VALUES (?, ?, 'athena-mailer')", (tool_id, agent_id)
        ).lastrowid
        conn.execute(
            "INSERT INTO scheduled_jobs (name, cron_expression, tool_instance_id, agent_id) VALUES ('digest', '0 8 * * *', ?, ?)",
            (instance_id, agent_id),
        )


async def test_delete_refuses_while_referenced_then_cascades(client, db_path):
    athena = await call(client, "create_agent", {"name": "Athena"})
    _add_instance_and_job(db_path, athena["id"])
    before = snapshot(db_path)
    error = await call_error(client, "delete_agent", {"agent": "Athena"})
    assert "'athena-mailer'" in error and "'digest'" in error and "cascade=true" in error
    assert snapshot(db_path) == before
    result = await call_confirmed(client, "delete_agent", {"agent": "Athena", "cascade": True})
    assert result["removed_tool_instances"] == ["athena-mailer"]
    assert result["removed_scheduled_jobs"] == ["digest"]
    await call_error(client, "get_agent", {"agent": "Athena"})
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM tool_instances").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM tools").fetchone()[0] == 1


async def test_delete_unreferenced(client):
    await call(client, "create_agent", {"name": "Monday"})
    result = await call(client, "delete_agent", {"agent": "monday"})
    assert result["deleted"]["name"] == "Monday" and result["removed_tool_instances"] == []


async def test_every_agent_mutation_is_audited(client, db_path):
    await call(client, "create_agent", {"name": "Athena"})
    await call(client, "update_agent", {"agent": "Athena", "description": "d"})
    await call(client, "delete_agent", {"agent": "Athena"})
    with sqlite3.connect(db_path) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM logs ORDER BY id")]
    assert actions == ["agent.create", "agent.update", "agent.delete"]


async def test_agent_resources(client):
    await call(client, "create_agent", {"name": "Athena"})
    listing = await client.read_resource("sanctum://agents")
    assert '"Athena"' in listing.contents[0].text
    one = await client.read_resource("sanctum://agents/Athena")
    assert '"name": "Athena"' in one.contents[0].text
    schema = await client.read_resource("sanctum://schema")
    assert "CREATE TABLE IF NOT EXISTS agents" in schema.contents[0].text
