"""Scheduled jobs: cron validation, time zones and DST, the tools, and the scheduler (with a clock
the tests move instead of sleeping)."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from ops_support import FakeClock, log_rows, make_instance, make_smcp_plugin, utc, write_plugin
from support import call, call_error, snapshot

from sanctum_mcp.domain.jobs.scheduler import Scheduler
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.server.app import build_server

T0 = utc(2026, 3, 2, 10, 0, 0)  # a Monday
RUNS = "source = 'job' AND action IN ('job.due', 'job.run', 'job.failed', 'job.missed')"  # not the audit rows


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def reg(db_path: Path, clock: FakeClock) -> AsyncIterator[Registry]:
    registry = await Registry.open(db_path, clock=clock)
    try:
        yield registry
    finally:
        await registry.close()


@pytest.fixture(params=["modern", "legacy"])
async def jc(request: pytest.FixtureRequest, reg: Registry) -> AsyncIterator[Client]:
    """An in-memory client on the clocked registry, once per protocol era."""
    options = {"mode": "legacy"} if request.param == "legacy" else {}
    async with Client(build_server(reg), **options) as c:
        yield c


@pytest.fixture
async def mc(reg: Registry) -> AsyncIterator[Client]:
    async with Client(build_server(reg)) as c:
        yield c


def job_row(db_path: Path, name: str) -> sqlite3.Row:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM scheduled_jobs WHERE name = ?", (name,)).fetchone()
    finally:
        conn.close()


# --- creating jobs, cron and time zones -------------------------------------------------------


async def test_create_job_stores_next_run_in_utc(jc):
    await call(jc, "create_agent", {"name": "Athena"})
    job = await call(jc, "create_job", {"name": "nightly", "cron_expression": "0 3 * * *", "agent": "athena"})
    assert job["next_run"] == "2026-03-03T03:00:00.000Z"
    assert job["timezone"] == "UTC" and job["status"] == "Active" and job["enabled"] is True
    assert job["agent"] == "Athena" and job["last_run"] is None
    assert await call(jc, "get_job", {"job": "NIGHTLY"}) == job


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("61 * * * *", "minute field '61'"),
        ("0 25 * * *", "hour field '25'"),
        ("* * *", "has 3 field(s); it needs exactly 5"),
        ("* * * * * *", "has 6 field(s)"),
        ("*/0 * * * *", "step '0'"),
        ("0 0 * * FOO", "day-of-week field 'FOO'"),
        ("@reboot", "the only @ forms"),
        ("0 0 31 2 *", "never fires"),
    ],
)
async def test_bad_cron_expression_is_refused_quoting_it(mc, db_path, expression, expected):
    await call(mc, "create_agent", {"name": "Athena"})
    before = snapshot(db_path)
    error = await call_error(mc, "create_job", {"name": "j", "cron_expression": expression, "agent": "Athena"})
    assert repr(expression) in error, error
    assert expected in error, error
    error = await call_error(mc, "preview_job_runs", {"cron_expression": expression})
    assert repr(expression) in error and expected in error
    assert snapshot(db_path) == before


async def test_unknown_time_zone_is_refused_with_a_hint(mc, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    before = snapshot(db_path)
    error = await call_error(mc, "create_job", {"name": "j", "cron_expression": "0 9 * * *", "agent": "Athena",
                                                "timezone": "Europe/Pariss"})
    assert "'Europe/Pariss'" in error and "Europe/Paris" in error and "IANA" in error
    assert snapshot(db_path) == before


async def test_next_run_across_spring_forward_in_new_york(mc, clock):
    # 2026-03-08: New York skips 02:00-03:00. A 02:30 job fires once, just after the gap.
    preview = await call(mc, "preview_job_runs", {"cron_expression": "30 2 * * *", "timezone": "America/New_York",
                                                  "after": "2026-03-06T12:00:00Z", "count": 4})
    assert preview["runs_utc"] == [
        "2026-03-07T07:30:00.000Z",  # 02:30 EST (UTC-5)
        "2026-03-08T07:00:00.000Z",  # 03:00 EDT: 02:30 does not exist that day
        "2026-03-09T06:30:00.000Z",  # 02:30 EDT (UTC-4)
        "2026-03-10T06:30:00.000Z",
    ]
    assert preview["runs_local"][0].endswith("-05:00") and preview["runs_local"][2].endswith("-04:00")
    # The stored next_run of a real job agrees.
    clock.set(utc(2026, 3, 7, 12))
    await call(mc, "create_agent", {"name": "Athena"})
    job = await call(mc, "create_job", {"name": "ny", "cron_expression": "0 9 * * *", "agent": "Athena",
                                        "timezone": "America/New_York"})
    assert job["next_run"] == "2026-03-07T14:00:00.000Z"  # 09:00 EST
    clock.set(utc(2026, 3, 7, 15))
    job = await call(mc, "resume_job", {"job": "ny"})
    assert job["next_run"] == "2026-03-08T13:00:00.000Z"  # 09:00 EDT, the day of the change


async def test_next_run_across_fall_back_in_new_york(mc):
    # 2026-11-01: New York repeats 01:00-02:00. A daily 01:30 job fires once, not twice.
    daily = await call(mc, "preview_job_runs", {"cron_expression": "30 1 * * *", "timezone": "America/New_York",
                                                "after": "2026-10-31T12:00:00Z", "count": 3})
    assert daily["runs_utc"] == ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z", "2026-11-03T06:30:00.000Z"]
    # An hourly job fires every real hour, including both 01:00s.
    hourly = await call(mc, "preview_job_runs", {"cron_expression": "0 * * * *", "timezone": "America/New_York",
                                                 "after": "2026-11-01T04:30:00Z", "count": 3})
    assert hourly["runs_utc"] == ["2026-11-01T05:00:00.000Z", "2026-11-01T06:00:00.000Z", "2026-11-01T07:00:00.000Z"]
    assert [r[11:] for r in hourly["runs_local"]] == ["01:00:00-04:00", "01:00:00-05:00", "02:00:00-05:00"]


async def test_non_utc_time_zone(mc, clock):
    clock.set(utc(2026, 3, 27, 12))
    await call(mc, "create_agent", {"name": "Monday"})
    job = await call(mc, "create_job", {"name": "paris", "cron_expression": "0 9 * * *", "agent": "Monday",
                                        "timezone": "Europe/Paris"})
    assert job["next_run"] == "2026-03-28T08:00:00.000Z"  # 09:00 CET (UTC+1)
    preview = await call(mc, "preview_job_runs", {"job": "paris", "count": 2})
    assert preview["runs_utc"] == ["2026-03-28T08:00:00.000Z", "2026-03-29T07:00:00.000Z"]  # then CEST (UTC+2)
    assert preview["runs_local"] == ["2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00"]
    kolkata = await call(mc, "preview_job_runs", {"cron_expression": "0 9 * * *", "timezone": "Asia/Kolkata",
                                                  "after": "2026-03-27T00:00:00Z", "count": 1})
    assert kolkata["runs_utc"] == ["2026-03-27T03:30:00.000Z"]


async def test_preview_arguments_are_checked(mc):
    assert "exactly one" in await call_error(mc, "preview_job_runs", {})
    assert "timezone goes with cron_expression" in await call_error(
        mc, "preview_job_runs", {"job": "x", "timezone": "UTC"})
    assert "no time zone" in await call_error(mc, "preview_job_runs", {"cron_expression": "@daily",
                                                                        "after": "2026-01-01T00:00:00"})


async def test_a_job_needs_an_agent_or_tool_instance(mc, db_path):
    before = snapshot(db_path)
    error = await call_error(mc, "create_job", {"name": "j", "cron_expression": "@hourly"})
    assert "tool_instance" in error and "agent" in error
    assert "list_agents" in await call_error(mc, "create_job", {"name": "j", "cron_expression": "@hourly", "agent": "Nobody"})
    assert snapshot(db_path) == before


async def test_instance_of_another_agent_is_refused(mc, reg):
    athena = await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_agent", {"name": "Monday"})
    instance = await make_instance(reg, "mail", agent_id=athena["id"])
    error = await call_error(mc, "create_job", {"name": "j", "cron_expression": "@hourly", "agent": "Monday",
                                                "tool_instance": str(instance)})
    assert "belongs to agent 'Athena'" in error
    job = await call(mc, "create_job", {"name": "j", "cron_expression": "@hourly", "tool_instance": "mail"})
    assert job["tool_instance_id"] == instance and job["agent"] is None


async def test_ambiguous_instance_name_asks_for_the_id(mc, reg):
    await make_instance(reg, "mail")
    await make_instance(reg, "mail")
    error = await call_error(mc, "create_job", {"name": "j", "cron_expression": "@hourly", "tool_instance": "mail"})
    assert "several tool instances" in error and "id" in error


async def test_names_are_unique_ignoring_case(mc, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_job", {"name": "Nightly", "cron_expression": "@daily", "agent": "Athena"})
    before = snapshot(db_path)
    error = await call_error(mc, "create_job", {"name": "NIGHTLY", "cron_expression": "@daily", "agent": "Athena"})
    assert "already exists" in error and "update_job" in error
    assert snapshot(db_path) == before


async def test_pause_and_resume_recompute_from_now(mc, clock, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    job = await call(mc, "create_job", {"name": "hourly", "cron_expression": "0 * * * *", "agent": "Athena"})
    assert job["next_run"] == "2026-03-02T11:00:00.000Z"
    paused = await call(mc, "pause_job", {"job": "hourly"})
    assert paused["status"] == "Paused" and paused["next_run"] is None
    clock.advance(hours=5, minutes=10)
    resumed = await call(mc, "resume_job", {"job": "hourly"})
    assert resumed["status"] == "Active" and resumed["next_run"] == "2026-03-02T16:00:00.000Z"


async def test_update_job(mc, clock, reg):
    await call(mc, "create_agent", {"name": "Athena"})
    instance = await make_instance(reg, "mail")
    await call(mc, "create_job", {"name": "a", "cron_expression": "0 * * * *", "agent": "Athena"})
    await call(mc, "create_job", {"name": "b", "cron_expression": "0 * * * *", "agent": "Athena"})
    updated = await call(mc, "update_job", {"job": "a", "cron_expression": "30 6 * * *", "timezone": "Europe/Paris",
                                            "description": "morning"})
    assert updated["next_run"] == "2026-03-03T05:30:00.000Z" and updated["description"] == "morning"
    assert "already named" in await call_error(mc, "update_job", {"job": "a", "name": "B"})
    moved = await call(mc, "update_job", {"job": "a", "tool_instance": str(instance), "agent": ""})
    assert moved["tool_instance_id"] == instance and moved["agent_id"] is None
    assert "give at least one" in await call_error(mc, "update_job", {"job": "a", "tool_instance": ""})
    disabled = await call(mc, "update_job", {"job": "a", "enabled": False})
    assert disabled["enabled"] is False and disabled["next_run"] is None
    clock.advance(days=1)
    enabled = await call(mc, "update_job", {"job": "a", "enabled": True})
    assert enabled["next_run"] == "2026-03-04T05:30:00.000Z"
    # The instance's next_run follows its jobs.
    row = await reg.db.read(lambda c: c.execute("SELECT next_run FROM tool_instances WHERE id = ?", (instance,)).fetchone())
    assert row[0] == "2026-03-04T05:30:00.000Z"


async def test_list_jobs_filters_and_pages(mc, reg):
    await call(mc, "create_agent", {"name": "Athena"})
    monday = await call(mc, "create_agent", {"name": "Monday"})
    instance = await make_instance(reg, "mondays-mail", agent_id=monday["id"])
    for i in range(7):
        await call(mc, "create_job", {"name": f"job-{i}", "cron_expression": f"{i} * * * *", "agent": "Athena"})
    await call(mc, "create_job", {"name": "via-instance", "cron_expression": "@daily", "tool_instance": str(instance)})
    await call(mc, "pause_job", {"job": "job-3"})
    seen, cursor = [], None
    while True:
        page = await call(mc, "list_jobs", {"limit": 3} | ({"cursor": cursor} if cursor else {}))
        seen += [j["name"] for j in page["jobs"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == [f"job-{i}" for i in range(7)] + ["via-instance"]
    assert [j["name"] for j in (await call(mc, "list_jobs", {"agent": "Monday"}))["jobs"]] == ["via-instance"]
    assert [j["name"] for j in (await call(mc, "list_jobs", {"status": "Paused"}))["jobs"]] == ["job-3"]
    due = await call(mc, "list_jobs", {"due_before": "2026-03-02T10:02:00Z"})
    # It is 10:00: job-0 ("0 * * * *") next runs at 11:00, job-1 at 10:01, job-2 at 10:02.
    assert [j["name"] for j in due["jobs"]] == ["job-1", "job-2"]
    assert "no time zone" in await call_error(mc, "list_jobs", {"due_before": "2026-03-02 10:00"})


async def test_delete_job(mc, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_job", {"name": "gone", "cron_expression": "@daily", "agent": "Athena"})
    deleted = await call(mc, "delete_job", {"job": "gone"})
    assert deleted["deleted"]["name"] == "gone"
    assert "list_jobs" in await call_error(mc, "get_job", {"job": "gone"})
    assert job_row(db_path, "gone") is None


# --- the scheduler ------------------------------------------------------------------------


async def test_due_run_is_recorded_for_the_agent(mc, reg, clock, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    job = await call(mc, "create_job", {"name": "digest", "cron_expression": "0 * * * *", "agent": "Athena"})
    scheduler = Scheduler(reg)
    await scheduler.tick()
    assert log_rows(db_path, RUNS) == []  # not due yet
    clock.set(utc(2026, 3, 2, 11, 0, 20))
    due = json.loads((await mc.read_resource("sanctum://jobs/due")).contents[0].text)
    assert [j["name"] for j in due["due"]] == ["digest"]
    await scheduler.tick()
    rows = log_rows(db_path, RUNS)
    assert [(r["action"], r["source_id"]) for r in rows] == [("job.due", str(job["id"]))]
    details = json.loads(rows[0]["details"])
    assert details["agent"] == "Athena" and details["scheduled_for"] == "2026-03-02T11:00:00.000Z" and details["missed"] == 0
    after = await call(mc, "get_job", {"job": "digest"})
    assert after["last_run"] == "2026-03-02T11:00:20.000Z" and after["next_run"] == "2026-03-02T12:00:00.000Z"
    due = json.loads((await mc.read_resource("sanctum://jobs/due")).contents[0].text)
    assert due["due"] == [] and [r["action"] for r in due["recent_runs"]] == ["job.due"]
    await scheduler.tick()  # same time again: nothing new
    assert len(log_rows(db_path, RUNS)) == 1


async def test_a_scheduled_run_gets_a_revision_in_the_change_feed(mc, reg, clock):
    await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_job", {"name": "hourly", "cron_expression": "0 * * * *", "agent": "Athena"})
    before = (await call(mc, "changes_since", {"revision": 0}))["revision"]
    clock.set(utc(2026, 3, 2, 15, 30))
    await Scheduler(reg).tick()
    page = await call(mc, "changes_since", {"revision": before})
    assert [(c["kind"], c["action"], c["name"], c["actor"]) for c in page["changes"]] == [
        ("job", "job.run", "hourly", "scheduler")]


async def test_missed_runs_are_coalesced_into_one(mc, reg, clock, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_job", {"name": "hourly", "cron_expression": "0 * * * *", "agent": "Athena"})
    # The server was down from 10:00 to 15:30: runs at 11, 12, 13, 14 and 15 were due.
    clock.set(utc(2026, 3, 2, 15, 30))
    await Scheduler(reg).tick()
    rows = log_rows(db_path, RUNS)
    assert [r["action"] for r in rows] == ["job.missed", "job.due"]
    assert "missed 4 run(s)" in rows[0]["message"] and rows[0]["level"] == "WARNING"
    assert json.loads(rows[0]["details"])["missed"] == 4
    assert json.loads(rows[1]["details"])["missed"] == 4
    job = await call(mc, "get_job", {"job": "hourly"})
    assert job["next_run"] == "2026-03-02T16:00:00.000Z" and job["last_run"] == "2026-03-02T15:30:00.000Z"


async def test_smcp_plugin_command_runs(mc, reg, clock, db_path, tmp_path):
    plugin_dir = write_plugin(tmp_path / "plugins" / "pinger")
    await make_smcp_plugin(reg, "pinger", plugin_dir, commands=[{"name": "ping"}, {"name": "fail"}])
    out = tmp_path / "ran.txt"
    instance = await make_instance(reg, "pinger-1", config={"command": "ping",
                                                             "arguments": {"out": str(out), "agent_id": 7, "loud": True}})
    await call(mc, "create_job", {"name": "ping", "cron_expression": "*/5 * * * *", "tool_instance": str(instance)})
    clock.advance(minutes=5)
    await Scheduler(reg).tick()
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        ["--out", str(out), "--agent-id", "7", "--loud", "true"]
    ]
    rows = log_rows(db_path, RUNS)
    assert [r["action"] for r in rows] == ["job.run"] and "pinger__ping" in rows[0]["message"]
    details = json.loads(rows[0]["details"])
    assert details["exit_code"] == 0 and json.loads(details["output"])["status"] == "success"
    instance_row = await reg.db.read(
        lambda c: c.execute("SELECT last_run, next_run FROM tool_instances WHERE id = ?", (instance,)).fetchone())
    assert tuple(instance_row) == ("2026-03-02T10:05:00.000Z", "2026-03-02T10:10:00.000Z")
    assert (await call(mc, "get_job", {"job": "ping"}))["status"] == "Active"


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"command": "fail"}, "exit code 1: the disk is on fire"),
        ({"command": "soft-fail"}, "the plugin reported an error: nothing to do"),
        ({"arguments": {}}, "must name one of the commands of SMCP plugin 'pinger'"),
        ({"command": "nope"}, "must name one of the commands of SMCP plugin 'pinger'"),
        ({"command": "ping", "arguments": ["not", "an", "object"]}, "must be an object"),
    ],
)
async def test_failed_run_puts_the_job_in_error_with_the_reason(mc, reg, clock, db_path, tmp_path, config, reason):
    plugin_dir = write_plugin(tmp_path / "plugins" / "pinger")
    await make_smcp_plugin(reg, "pinger", plugin_dir, commands=["ping", "fail", "soft-fail"])
    instance = await make_instance(reg, "pinger-1", config=config)
    await call(mc, "create_job", {"name": "flaky", "cron_expression": "@hourly", "tool_instance": str(instance)})
    clock.advance(hours=1)
    scheduler = Scheduler(reg)
    await scheduler.tick()
    job = await call(mc, "get_job", {"job": "flaky"})
    assert job["status"] == "Error" and job["next_run"] is None
    assert reason in job["last_error"], job["last_error"]
    rows = log_rows(db_path, RUNS)
    assert [(r["action"], r["level"]) for r in rows] == [("job.failed", "ERROR")]
    clock.advance(hours=3)
    await scheduler.tick()  # a job in Error does not run
    assert len(log_rows(db_path, RUNS)) == 1
    assert [j["name"] for j in (await call(mc, "list_jobs", {"status": "Error"}))["jobs"]] == ["flaky"]
    resumed = await call(mc, "resume_job", {"job": "flaky"})
    assert resumed["status"] == "Active" and resumed["last_error"] is None


async def test_secret_arguments_reach_the_plugin_but_never_the_log(mc, reg, clock, db_path, tmp_path):
    """An instance whose config holds a secret (writeOnly in the tool's schema, stored encrypted by the
    tools area): the plugin gets the plaintext, the log rows show neither it nor its ciphertext."""
    secret = "sk-job-secret-9876543210"
    plugin_dir = write_plugin(tmp_path / "plugins" / "pinger")
    schema = {"type": "object", "properties": {
        "command": {"type": "string"},
        "arguments": {"type": "object", "properties": {"out": {"type": "string"},
                                                       "api_key": {"type": "string", "writeOnly": True}}}}}
    await call(mc, "create_tool", {"name": "secret-tool", "category": "master", "tool_type": "plugin",
                                   "config_schema": schema})
    out = tmp_path / "ran.txt"
    instance = await call(mc, "create_tool_instance", {"tool": "secret-tool", "name": "keyed", "config": {
        "command": "ping", "arguments": {"out": str(out), "api_key": secret}}})
    await make_smcp_plugin(reg, "pinger", plugin_dir, tool="secret-tool")
    await call(mc, "create_job", {"name": "keyed", "cron_expression": "@hourly", "tool_instance": str(instance["id"])})
    clock.advance(hours=1)
    await Scheduler(reg).tick()
    assert json.loads(out.read_text()) == ["--out", str(out), "--api-key", secret]
    rows = log_rows(db_path)
    runs = log_rows(db_path, RUNS)
    assert [r["action"] for r in runs] == ["job.run"]
    # The plugin echoed its arguments: output that may hold a secret is not kept at all (masking the
    # plaintext would miss its other encodings); the exit code and the reported status are.
    details = json.loads(runs[0]["details"])
    assert details["output"] is None and details["stderr"] is None and "hold secrets" in details["output_withheld"]
    assert details["exit_code"] == 0 and details["plugin_status"] == "success"
    for row in rows:
        text = f"{row['message']} {row['details']}"
        assert secret not in text and "fernet:gAAAA" not in text, dict(row)


# A plugin that prints its secret argument every way a plugin is likely to: JSON (ASCII-escaped and
# not), Python repr, URL encoding, base64 (standard and url-safe, at the three alignments a prefix of
# 0, 1 or 2 bytes gives it inside longer text), hex; on stdout, on stderr, and in its error message.
ECHO_PLUGIN_CLI = textwrap.dedent('''
    import base64, json, sys, urllib.parse
    args = sys.argv[1:]
    if args == ["--describe"]:
        print(json.dumps({"commands": [{"name": "echo"}, {"name": "fail"}]}))
        sys.exit(0)
    secret = dict(zip(args[1::2], args[2::2]))["--api-key"]
    raw = secret.encode()
    lines = [json.dumps(secret), json.dumps(secret, ensure_ascii=False), repr(secret), ascii(secret),
             urllib.parse.quote(secret), urllib.parse.quote_plus(secret), urllib.parse.quote(secret).lower(),
             raw.hex(), raw.hex().upper()]
    for prefix in (b"", b"k", b"ke"):
        lines += [base64.b64encode(prefix + raw).decode(), base64.urlsafe_b64encode(prefix + raw).decode()]
    print("\\n".join(lines))
    print("\\n".join(lines), file=sys.stderr)
    if args[0] == "fail":
        print(json.dumps({"status": "error", "error": "key " + json.dumps(secret) + " refused"}))
        sys.exit(1)
''')
# Quotes, a backslash, non-ASCII letters: every encoding above differs from the plaintext.
AWKWARD_SECRET = 'pa"ss\\wörd-Ω-\'q\'-0123456789'


def _encodings(secret: str) -> list[str]:
    """The texts a run's log rows must not contain: each encoding of the secret (base64 inner parts
    that do not depend on the surrounding bytes), and enough of the plaintext to identify it."""
    import base64
    import urllib.parse

    raw = secret.encode()
    found = [secret, secret[:12], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             repr(secret)[1:-1], ascii(secret)[1:-1], urllib.parse.quote(secret), urllib.parse.quote_plus(secret),
             urllib.parse.quote(secret).lower(), raw.hex(), raw.hex().upper()]
    for prefix in (b"", b"k", b"ke"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(prefix + raw).decode().rstrip("=")
            found.append(text[4:-4])  # the middle depends on the secret alone
    # Besides the plaintext and its start, every needle is text a search for the plaintext would miss.
    assert all(needle and needle not in secret for needle in found[2:])
    return found


@pytest.mark.parametrize("command", ["echo", "fail"])
async def test_plugin_output_keeps_no_encoding_of_a_secret_argument(mc, reg, clock, db_path, tmp_path, command):
    """A scheduled SMCP run whose instance has a secret argument: the plugin prints it JSON-escaped,
    repr'd, URL-encoded, base64'd, hex'd. No encoding of it reaches the job's log rows (readable by
    viewers through query_logs) nor its last_error."""
    plugin_dir = tmp_path / "plugins" / "echoer"
    plugin_dir.mkdir(parents=True)
    (plugin_dir / "cli.py").write_text(ECHO_PLUGIN_CLI)
    schema = {"type": "object", "properties": {
        "command": {"type": "string"},
        "arguments": {"type": "object", "properties": {"api_key": {"type": "string", "writeOnly": True}}}}}
    await call(mc, "create_tool", {"name": "echo-tool", "category": "master", "tool_type": "plugin",
                                   "config_schema": schema})
    instance = await call(mc, "create_tool_instance", {"tool": "echo-tool", "name": "echo-1", "config": {
        "command": command, "arguments": {"api_key": AWKWARD_SECRET}}})
    await make_smcp_plugin(reg, "echoer", plugin_dir, tool="echo-tool", commands=["echo", "fail"])
    await call(mc, "create_job", {"name": "echo", "cron_expression": "@hourly", "tool_instance": str(instance["id"])})
    clock.advance(hours=1)
    await Scheduler(reg).tick()

    runs = log_rows(db_path, RUNS)
    assert [r["action"] for r in runs] == ["job.run" if command == "echo" else "job.failed"]
    details = json.loads(runs[0]["details"])
    assert details["exit_code"] == (0 if command == "echo" else 1)
    assert details["output"] is None and details["stderr"] is None and "hold secrets" in details["output_withheld"]
    job = await call(mc, "get_job", {"job": "echo"})
    if command == "fail":
        assert job["status"] == "Error" and "exit code 1" in job["last_error"] and "not kept" in job["last_error"]
    texts = [f"{row['message']} {row['details']}" for row in log_rows(db_path)] + [json.dumps(job)]
    texts += [json.dumps(entry) for entry in (await call(mc, "query_logs", {"source": "job", "limit": 500}))["entries"]]
    for needle in _encodings(AWKWARD_SECRET):
        for text in texts:
            assert needle not in text, f"{needle!r} (an encoding of the secret) is in {text[:300]!r}"


async def test_disabled_plugin_fails_the_run(mc, reg, clock, tmp_path):
    plugin_dir = write_plugin(tmp_path / "plugins" / "pinger")
    await make_smcp_plugin(reg, "pinger", plugin_dir, enabled=False)
    instance = await make_instance(reg, "pinger-1", config={"command": "ping"})
    await call(mc, "create_job", {"name": "off", "cron_expression": "@hourly", "tool_instance": str(instance)})
    clock.advance(hours=1)
    await Scheduler(reg).tick()
    job = await call(mc, "get_job", {"job": "off"})
    assert job["status"] == "Error" and "disabled" in job["last_error"] and "enable_plugin" in job["last_error"]


async def test_plugin_timeout_is_a_failure(mc, reg, clock, tmp_path):
    plugin_dir = write_plugin(tmp_path / "plugins" / "pinger")
    await make_smcp_plugin(reg, "pinger", plugin_dir)
    instance = await make_instance(reg, "sleepy", config={"command": "sleep"})
    await call(mc, "create_job", {"name": "sleepy", "cron_expression": "@hourly", "tool_instance": str(instance)})
    clock.advance(hours=1)
    await Scheduler(reg, plugin_timeout=0.5).tick()
    job = await call(mc, "get_job", {"job": "sleepy"})
    assert job["status"] == "Error" and "timed out after 0.5 s" in job["last_error"]


async def test_instance_without_smcp_plugin_falls_due_for_its_agent(mc, reg, clock, db_path):
    monday = await call(mc, "create_agent", {"name": "Monday"})
    instance = await make_instance(reg, "notes", agent_id=monday["id"], config={"command": "ping"})
    await call(mc, "create_job", {"name": "notes", "cron_expression": "@hourly", "tool_instance": "notes"})
    clock.advance(hours=1)
    await Scheduler(reg).tick()
    rows = log_rows(db_path, RUNS)
    assert [r["action"] for r in rows] == ["job.due"]
    details = json.loads(rows[0]["details"])
    assert details["agent"] == "Monday" and details["agent_id"] == monday["id"] and details["tool_instance"] == "notes"
    assert instance


async def test_paused_and_disabled_jobs_do_not_run(mc, reg, clock, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_job", {"name": "p", "cron_expression": "@hourly", "agent": "Athena"})
    await call(mc, "create_job", {"name": "d", "cron_expression": "@hourly", "agent": "Athena", "enabled": False})
    await call(mc, "pause_job", {"job": "p"})
    clock.advance(hours=3)
    await Scheduler(reg).tick()
    assert log_rows(db_path, RUNS) == []


async def test_two_processes_never_both_run_one_occurrence(db_path, clock):
    """Two registries (two connections, as two server processes would have) on one database file."""
    first = await Registry.open(db_path, clock=clock)
    second = await Registry.open(db_path, clock=clock)
    try:
        async with Client(build_server(first)) as c:
            await call(c, "create_agent", {"name": "Athena"})
            await call(c, "create_job", {"name": "once", "cron_expression": "@hourly", "agent": "Athena"})
            await call(c, "create_job", {"name": "twice", "cron_expression": "@hourly", "agent": "Athena"})
        clock.advance(hours=1)
        s1, s2 = Scheduler(first), Scheduler(second)
        # Both processes see the same due occurrence before either claims it ...
        due1 = [r for r in await s1.find_due(clock()) if r["name"] == "once"]
        due2 = [r for r in await s2.find_due(clock()) if r["name"] == "once"]
        assert len(due1) == len(due2) == 1
        claims = []

        async def claim(scheduler: Scheduler, row) -> None:
            claims.append(await scheduler.claim(row, clock()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(claim, s1, due1[0])
            tg.start_soon(claim, s2, due2[0])
        # ... and exactly one claim succeeds.
        assert sorted(c is not None for c in claims) == [False, True]
        # Whole passes racing each other: every occurrence runs exactly once.
        async with anyio.create_task_group() as tg:
            tg.start_soon(s1.tick)
            tg.start_soon(s2.tick)
        runs = log_rows(db_path, "action = 'job.due'")
        assert sorted(json.loads(r["details"])["job"] for r in runs) == ["twice"]
    finally:
        await first.close()
        await second.close()


async def test_scheduler_sleeps_until_the_next_run(mc, reg, clock):
    scheduler = Scheduler(reg, max_sleep=3600)
    await scheduler.tick()
    await reg.db.write(lambda c: c.execute("UPDATE system_config SET config_value = '' WHERE config_key = 'backup_schedule'"))
    assert await scheduler.seconds_until_next(clock()) == 3600  # nothing scheduled, housekeeping in an hour
    await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_job", {"name": "soon", "cron_expression": "30 10 * * *", "agent": "Athena"})
    assert await scheduler.seconds_until_next(clock()) == 1800
    assert await Scheduler(reg).seconds_until_next(clock()) == 60  # capped: other processes' jobs are seen


async def test_a_job_change_wakes_the_sleeping_scheduler(mc, reg, clock, db_path):
    await call(mc, "create_agent", {"name": "Athena"})
    await call(mc, "create_job", {"name": "a", "cron_expression": "0 11 * * *", "agent": "Athena"})
    scheduler = Scheduler(reg, max_sleep=3600)
    woke = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        with anyio.fail_after(10):  # until it sleeps (create_job's wake-up may cost it a second pass first)
            while not scheduler.sleeping:
                await anyio.sleep(0.01)
        # The scheduler now sleeps until 11:00 (an hour of real time). Move the clock past it and
        # change a job: the change must wake it, and the due job must run.
        clock.set(utc(2026, 3, 2, 11, 0, 5))

        async def wait_pass() -> None:
            await scheduler.wait_for_pass()
            woke.set()

        tg.start_soon(wait_pass)
        with anyio.fail_after(10):
            while scheduler._pass_done is None:
                await anyio.sleep(0)
        assert scheduler.sleeping
        await call(mc, "update_job", {"job": "a", "description": "poke"})
        with anyio.fail_after(10):
            await woke.wait()
        tg.cancel_scope.cancel()
    assert [r["action"] for r in log_rows(db_path, RUNS)] == ["job.due"]


async def test_unicode_digits_are_names_not_ids(mc):
    # '²'.isdigit() is True in Python, but it is no id: a not-found error, not an internal one.
    assert "list_jobs" in await call_error(mc, "get_job", {"job": "²"})
    assert "no tool instance named" in await call_error(
        mc, "create_job", {"name": "j", "cron_expression": "@daily", "tool_instance": "³"})
