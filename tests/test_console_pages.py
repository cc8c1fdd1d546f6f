"""The console's pages after System Settings (sanctum_mcp/console/pages/): object settings with the
inheritance explanation, Letta connections, plugins, jobs, logs, backups, users and tokens.

A real `sanctum-mcp serve --transport http` subprocess on a free 127.0.0.1 port, over a real SQLite
file seeded through the catalogue's own tools, driven by Debian's chromium through Playwright (never
a downloaded browser build). Skipped, with the reason, when Playwright or chromium is missing;
`.ci/run` installs chromium, so CI runs them.
"""

from __future__ import annotations

import asyncio
import http.server
import contextlib
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sanctum_mcp.console.actions import run
from sanctum_mcp.domain.registry import Registry
from console_support import BrowserContext, Page, browser, csrf_of, needs_browser  # noqa: F401 (browser: a fixture)
from support import HttpServer, call_error, snapshot, start_http_server, stop

INSTANCE_CANARY = "sk-CANARY-instance-4e1b77d0"
LETTA_CANARY = "pw-CANARY-letta-93c2aa51"
SYSTEM_CANARY = "sk-CANARY-system-0b5d2e8f"


pytestmark = needs_browser


# --- a fake Letta (another program the registry talks to, not our code) ----------------------


class _Letta(http.server.BaseHTTPRequestHandler):
    seen_auth: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Letta.seen_auth.append(self.headers.get("authorization") or self.headers.get("x-bare-password") or "")
        path = self.path.split("?")[0]
        body: Any = {"status": "ok", "version": "0.11.0"} if path == "/v1/health/" else \
            2 if path == "/v1/agents/count" else []
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def letta() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Letta)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


# --- the registry and the server ------------------------------------------------------------


async def seed(db_path: Path, letta_port: int) -> dict[str, str]:
    """Users alice (user) and vic (viewer) with tokens; agent athena with a flask_port override; a
    tool whose instance holds a secret; two Letta connections (password = canary); plugins core <-
    ui (ui depends on core); a job; a full backup."""
    registry = await Registry.open(db_path)
    try:
        op = registry.operator

        async def tool(tool_name: str, /, **arguments: Any) -> Any:
            return await run(registry, op, tool_name, **arguments)

        for username, role in (("alice", "user"), ("vic", "viewer")):
            await tool("create_user", username=username, role=role)
        tokens = {name: (await tool("create_api_token", user=name, name="test")).token
                  for name in ("operator", "alice", "vic")}
        await tool("set_config", key="openai_api_key", value=SYSTEM_CANARY)
        await tool("create_agent", name="athena", description="research")
        await tool("set_config", key="flask_port", value="5050", scope="agent", target="athena")
        await tool("create_tool", name="weather", category="athena", tool_type="service", emoji="🌦️",
                   config_schema={"type": "object", "properties": {"api_key": {"type": "string", "writeOnly": True},
                                                                     "city": {"type": "string"}}})
        instance = await tool("create_tool_instance", tool="weather", name="weather-athena", agent="athena",
                              config={"api_key": INSTANCE_CANARY, "city": "Oslo"})
        tokens["instance"] = str(instance.id)
        await tool("add_letta_server", address="127.0.0.1", port=letta_port, scheme="http", password=LETTA_CANARY,
                   activate=True)
        await tool("add_letta_server", address="localhost", port=letta_port, scheme="http", password=LETTA_CANARY,
                   activate=False)
        await tool("register_plugin", name="core", type="extension", version="1.2.0")
        await tool("register_plugin", name="ui", type="extension", version="0.3.0", dependencies=["core>=1.0"])
        await tool("create_job", name="nightly-report", cron_expression="0 2 * * *", agent="athena",
                   tool_instance=str(instance.id))
        await tool("create_backup", type="full", name="before-pages")
        return tokens
    finally:
        await registry.close()


async def read(db_path: Path, tool_name: str, /, **arguments: Any) -> Any:
    """A catalogue tool as the operator, on the file the server uses (to check what a page did)."""
    registry = await Registry.open(db_path)
    try:
        return await run(registry, registry.operator, tool_name, **arguments)
    finally:
        await registry.close()


def rows(db_path: Path) -> list[str]:
    """Every row but the logs: what a refused change must leave as it was (a refusal adds its audit
    row and a WARNING)."""
    return [line for line in snapshot(db_path)
            if not line.startswith(('INSERT INTO "logs"', 'INSERT INTO "sqlite_sequence" VALUES(\'logs\''))]


@pytest.fixture
async def seeded(db_path: Path, letta: int) -> dict[str, str]:
    return await seed(db_path, letta)


@pytest.fixture
def server(db_path: Path, seeded: dict[str, str]) -> Iterator[HttpServer]:
    running = start_http_server(db_path)
    try:
        yield running
    finally:
        stop(running.process)
        running.log.close()


# --- the browser ----------------------------------------------------------------------------


class Recorder:
    """Every response the browser receives, body and headers, with its URL: each request goes
    through the recorder (page.route), which fetches it, keeps a copy and hands the browser exactly
    that (redirects included, not followed), so nothing is missed when the page navigates on."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []

    async def attach(self, page: Page) -> Recorder:
        await page.route("**/*", self._pass)
        return self

    async def _pass(self, route: Any) -> None:
        from playwright.async_api import Error as PlaywrightError

        try:
            response = await route.fetch(max_redirects=0)
            body = await response.body()
        except PlaywrightError:
            # The test has ended and its context is closing while a live update was in flight: the
            # browser receives nothing of this request, so there is nothing to record.
            with contextlib.suppress(PlaywrightError):
                await route.abort()
            return
        self.bodies.append((route.request.url, body + json.dumps(response.headers).encode()))
        with contextlib.suppress(PlaywrightError):  # closing as above; the body is recorded all the same
            await route.fulfill(response=response)

    async def collect(self) -> list[tuple[str, bytes]]:
        return self.bodies


@asynccontextmanager
async def signed_in(browser: Any, server: HttpServer, token: str) -> AsyncIterator[tuple[BrowserContext, Page]]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server.base + "/console/signin")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(server.base + "/")
    try:
        yield context, page
    finally:
        await context.close()


async def result(page: Page, expected: str) -> str:
    """The outcome of the last action, in #result, once it says `expected` (an earlier action's
    message may still be there until the answer arrives); fails with what it says instead."""
    try:
        await page.locator("#result").filter(has_text=expected).wait_for(timeout=20_000)
    except Exception:
        pass
    shown = words(await page.text_content("#result"))
    assert expected in shown
    return shown


def words(text: str | None) -> str:
    return " ".join((text or "").split())


PAGES = ("/console/objects", "/console/letta", "/console/plugins", "/console/jobs", "/console/logs",
         "/console/backups", "/console/users")


# --- 1. agent, tool and instance settings -----------------------------------------------------


async def test_object_settings_explain_where_a_value_comes_from_and_override_then_reset(db_path, server, seeded,
                                                                                       browser):
    async with signed_in(browser, server, seeded["alice"]) as (_context, page):
        await page.goto(server.base + "/console/objects?agent=athena")
        row = page.locator('.setting[data-key="flask_port"]')
        assert "flask_port = 5050 (integer) comes from agent 'athena'; it overrides the system level (5000)" in \
            words(await row.locator(".explanation").text_content())
        assert "comes from the system level" in words(await page.locator('.setting[data-key="smcp_port"] .explanation')
                                            .text_content())
        # Override smcp_port for athena, then reset it: the system value applies again.
        await row.page.locator('.setting[data-key="smcp_port"] input[name="value"]').fill("9123")
        await page.click('.setting[data-key="smcp_port"] >> text=Override here')
        await result(page, "smcp_port set at agent 'athena': now 9123")
        await page.wait_for_selector('.setting[data-key="smcp_port"] .explanation:has-text("comes from agent")')
        assert (await read(db_path, "get_config", key="smcp_port", agent="athena")).value == "9123"
        await page.click('.setting[data-key="smcp_port"] >> text=Reset to inherited')
        await page.wait_for_selector('.setting[data-key="smcp_port"] .explanation:has-text("comes from the system level")')
        assert (await read(db_path, "get_config", key="smcp_port", agent="athena")).scope == "system"
        # A value the key's type refuses: the tool's own message, nothing stored.
        before = rows(db_path)
        await page.locator('.setting[data-key="flask_port"] input[name="value"]').fill("not-a-port")
        await page.click('.setting[data-key="flask_port"] >> text=Override here')
        assert "integer" in await result(page, "flask_port")
        assert rows(db_path) == before
    audit = await read(db_path, "query_logs", text="config.delete")
    assert [e.details["actor"] for e in audit.entries if e.action == "config.delete"] == ["alice"]


async def test_an_instance_shows_its_chain_and_its_secret_stays_masked(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        recorder = await Recorder().attach(page)
        await page.goto(server.base + "/console/objects")
        await page.click("text=weather-athena")
        await page.wait_for_selector("#instance-config")
        shown = await page.text_content("#instance-config")
        assert "Oslo" in shown and "********" in shown
        assert "comes from agent 'athena'" in words(await page.locator('.setting[data-key="flask_port"] .explanation')
                                                    .text_content())
        assert not [url for url, body in await recorder.collect() if INSTANCE_CANARY.encode() in body]


# --- 2. Letta connections ---------------------------------------------------------------------


async def test_letta_test_connection_probes_and_activate_switches_without_sending_the_password(
        db_path, server, seeded, browser, letta):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        recorder = await Recorder().attach(page)
        await page.goto(server.base + "/console/letta")
        first = page.locator(f'.server[data-url="http://127.0.0.1:{letta}"]')
        assert "********" in await first.text_content()
        await first.locator("text=Test connection").click()
        await page.wait_for_selector(".probe")
        probe = words(await page.text_content(".probe"))
        assert "GET /v1/health/" in probe and "0.11.0" in probe
        await page.click(f'.server[data-url="http://localhost:{letta}"] >> text=Activate')
        await result(page, "is now the active Letta connection")
        await page.wait_for_selector(f'.server[data-url="http://localhost:{letta}"] .badge.on')
        bodies = await recorder.collect()
        assert not [url for url, body in bodies if LETTA_CANARY.encode() in body]
    servers = await read(db_path, "list_letta_servers")
    assert [s.url for s in servers.servers if s.is_active] == [f"http://localhost:{letta}"]
    assert any(LETTA_CANARY in seen for seen in _Letta.seen_auth)  # the probe did send it, to Letta only


# --- 3. plugins -------------------------------------------------------------------------------


async def test_disabling_a_plugin_shows_the_cascade_first_and_only_then_disables(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["alice"]) as (_context, page):
        await page.goto(server.base + "/console/plugins?plugin=ui")
        tree = words(await page.text_content("#tree"))
        assert "core" in tree and ">=1.0" in tree and "1.2.0" in tree
        await page.goto(server.base + "/console/plugins?plugin=core")
        assert "ui" in words(await page.text_content("#dependents"))
        before = rows(db_path)
        await page.click("text=Disable…")
        await page.wait_for_selector(".cascade")
        cascade = words(await page.text_content(".cascade"))
        assert "also disables ui" in cascade
        assert rows(db_path) == before  # shown first: nothing changed yet
        await page.click("text=Disable core and 1 dependent")
        await result(page, "core disabled; also disabled: ui")
        assert {p.name: p.is_enabled for p in (await read(db_path, "list_plugins")).plugins} == \
            {"core": False, "ui": False}
        # Enabling ui: its disabled dependency first, shown before anything changes.
        await page.goto(server.base + "/console/plugins?plugin=ui")
        await page.click("text=Enable…")
        await page.wait_for_selector(".cascade")
        assert "first enables core" in words(await page.text_content(".cascade"))
        assert {p.name: p.is_enabled for p in (await read(db_path, "list_plugins")).plugins} == \
            {"core": False, "ui": False}
        await page.click("text=Enable ui and 1 dependency")
        await result(page, "ui enabled; also enabled: core")
    assert {p.name: p.is_enabled for p in (await read(db_path, "list_plugins")).plugins} == {"core": True, "ui": True}


async def test_a_cascade_that_grew_after_it_was_shown_is_shown_again_and_nothing_changes(db_path, server, seeded,
                                                                                        browser):
    async with signed_in(browser, server, seeded["alice"]) as (_context, page):
        await page.goto(server.base + "/console/plugins?plugin=core")
        await page.click("text=Disable…")
        await page.wait_for_selector(".cascade")
        await read(db_path, "register_plugin", name="charts", type="extension", version="1.0.0",
                   dependencies=["core"])
        before = rows(db_path)
        await page.click("text=Disable core and 1 dependent")
        await page.wait_for_selector('.cascade:has-text("not the ones shown any more")')
        assert "also disables ui, charts" in words(await page.text_content(".cascade")) or \
            "also disables charts, ui" in words(await page.text_content(".cascade"))
        assert rows(db_path) == before
        await page.click("text=Disable core and 2 dependents")
        await result(page, "core disabled; also disabled:")
    assert not any(p.is_enabled for p in (await read(db_path, "list_plugins")).plugins)


# --- 4. jobs ----------------------------------------------------------------------------------


async def test_jobs_show_their_next_runs_and_pause_then_resume(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["alice"]) as (_context, page):
        await page.goto(server.base + "/console/jobs")
        job = page.locator('.job[data-name="nightly-report"]')
        runs = await job.locator(".runs li").all_text_contents()
        assert len(runs) == 3 and all("02:00" in run for run in runs)
        await job.locator("button", has_text="Pause").click()
        await result(page, "nightly-report paused")
        await page.wait_for_selector('.job[data-name="nightly-report"] .badge.status-paused')
        assert (await read(db_path, "get_job", job="nightly-report")).status == "Paused"
        await page.click('.job[data-name="nightly-report"] >> button:has-text("Resume")')
        await page.wait_for_selector('.job[data-name="nightly-report"] .badge.status-active')
    assert (await read(db_path, "get_job", job="nightly-report")).status == "Active"


async def test_a_change_from_another_client_refreshes_the_list_and_keeps_the_answer_shown(db_path, server, seeded,
                                                                                        browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/users")
        await page.click('.user-row[data-name="vic"] >> button:has-text("New token")')
        await result(page, "shown only now")
        # Meanwhile another client (the CLI's way: the domain through a tool) pauses the job; the
        # operator's jobs page in a second tab follows, and the token stays on screen in the first.
        jobs = await _context.new_page()
        await jobs.goto(server.base + "/console/jobs")
        await jobs.wait_for_selector('.job[data-name="nightly-report"] .badge.status-active')
        await read(db_path, "pause_job", job="nightly-report")
        await jobs.wait_for_selector('.job[data-name="nightly-report"] .badge.status-paused')
        await read(db_path, "create_user", username="dave", role="viewer")
        await page.wait_for_selector('.user-row[data-name="dave"]')
        assert "shown only now" in await page.text_content("#result")


async def test_a_change_from_another_client_keeps_what_is_being_typed_in_a_list_and_says_so(db_path, server, seeded,
                                                                                           browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/objects?agent=athena")
        typed = page.locator('.setting[data-key="smcp_port"] input[name="value"]')
        await typed.fill("9321")
        await read(db_path, "set_config", key="flask_port", value="5151", scope="agent", target="athena")
        await page.wait_for_selector("[data-live-list] .live-notice")
        assert "operator" in await page.text_content(".live-notice")
        assert await typed.input_value() == "9321"
        await page.click('.setting[data-key="smcp_port"] >> text=Override here')
        await result(page, "smcp_port set at agent 'athena': now 9321")
        await page.wait_for_selector('.setting[data-key="flask_port"] .explanation:has-text("5151")')


# --- 5. logs ----------------------------------------------------------------------------------


async def test_logs_filter_and_page_through_older_entries(db_path, server, seeded, browser):
    registry = await Registry.open(db_path)
    try:
        for n in range(30):
            await run(registry, registry.operator, "log_event", level="WARNING", message=f"disk note {n:02d}")
    finally:
        await registry.close()
    async with signed_in(browser, server, seeded["vic"]) as (_context, page):
        await page.goto(server.base + "/console/logs")
        await page.select_option('select[name="level"]', "WARNING")
        await page.fill('input[name="text"]', "disk note")
        await page.fill('input[name="limit"]', "25")
        await page.click("text=Filter")
        await page.wait_for_url(re.compile(r".*level=WARNING.*"))
        first = await page.locator(".log-entry .msg").all_text_contents()
        assert first[0] == "disk note 29" and len(first) == 25
        await page.click("text=Older")
        older = await page.locator(".log-entry .msg").all_text_contents()
        assert older == [f"disk note {n:02d}" for n in range(4, -1, -1)]
        assert await page.locator("text=Older").count() == 0
        # A bad time: the tool's message, in place of the list.
        await page.goto(server.base + "/console/logs?since=yesterday")
        assert "since" in await page.text_content(".message.error")


# --- 6. backups -------------------------------------------------------------------------------


async def test_backups_create_with_progress_verify_and_restore_only_with_the_typed_name(db_path, server, seeded,
                                                                                        browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/backups")
        await page.fill('#create input[name="name"]', "from-the-console")
        await page.click("text=Create backup")
        await page.wait_for_selector("#result progress, #result .message")
        await result(page, "from-the-console completed")
        await page.wait_for_selector('.backup[data-name="from-the-console"]')
        await page.click('.backup[data-name="from-the-console"] >> text=Verify')
        await result(page, "checksum and size match")
        # Between the backup and the restore: an agent the restore takes away.
        await read(db_path, "create_agent", name="monday")
        await page.click('.backup[data-name="from-the-console"] >> text=Restore…')
        before = rows(db_path)
        await page.fill('#restore input[name="typed"]', "from-the-consol")
        await page.click("#restore >> text=Restore this backup")
        await result(page, "Type the backup's name")
        assert rows(db_path) == before
        await page.fill('#restore input[name="typed"]', "from-the-console")
        await page.click("#restore >> text=Restore this backup")
        await result(page, "Restored from-the-console")
    assert "monday" not in [a.name for a in (await read(db_path, "list_agents")).agents]


# --- 7. users and tokens -----------------------------------------------------------------------


async def test_a_new_token_is_shown_once_and_never_again(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        recorder = await Recorder().attach(page)
        await page.goto(server.base + "/console/users")
        await page.fill('#new-user input[name="username"]', "carol")
        await page.select_option('#new-user select[name="role"]', "viewer")
        await page.click("text=Create user")
        await result(page, "carol created")
        await page.wait_for_selector('.user-row[data-name="carol"]')
        await page.fill('.user-row[data-name="carol"] input[name="name"]', "laptop")
        await page.click('.user-row[data-name="carol"] >> text=New token')
        await page.wait_for_selector("#result .new-token")
        token = (await page.text_content("#result .new-token code")).strip()
        assert token.startswith("sanctum_")
        assert "shown only now" in await page.text_content("#result .new-token")
        await page.goto(server.base + "/console/users")
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))  # "Revoke token #n of carol?"
        await page.click('.user-row[data-name="carol"] >> text=Revoke')
        await result(page, "revoked")
        bodies = await recorder.collect()
        carrying = [url for url, body in bodies if token.encode() in body]
        assert len(carrying) == 1 and carrying[0].endswith("/console/users/token")
        assert not [url for url, body in bodies if any(t.encode() in body for t in
                                                       (seeded["operator"], seeded["alice"], seeded["vic"]))]
    carol = await read(db_path, "list_users")
    assert [t.active for u in carol.users if u.username == "carol" for t in u.tokens] == [False]


async def test_a_user_who_is_not_an_admin_gets_the_tools_refusal_on_the_users_page(server, seeded, browser):
    async with signed_in(browser, server, seeded["alice"]) as (_context, page):
        await page.goto(server.base + "/console/users")
        assert "admin" in await page.text_content(".message.error")
        assert await page.locator("#new-user").count() == 0


async def test_no_secret_reaches_the_browser_on_any_of_these_pages(db_path, server, seeded, browser):
    """The admin sees every control and every masked value; no payload carries a secret's text:
    the system key, the instance's secret, the Letta password, or any API token."""
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        recorder = await Recorder().attach(page)
        for path in [*PAGES, "/console/objects?agent=athena", "/console/objects?tool=weather",
                     f"/console/objects?instance={seeded['instance']}", "/console/plugins?plugin=core"]:
            await page.goto(server.base + path)
            assert await page.locator(".message.error").count() == 0, (path, await page.content())
        await page.goto(server.base + "/console/letta")
        await page.click('.server:first-child >> text=Test connection')
        await page.wait_for_selector(".probe")
        await page.goto(server.base + "/console/objects?agent=athena")
        assert "********" in await page.text_content('.setting[data-key="openai_api_key"] .explanation')
        assert await page.locator('.setting[data-key="openai_api_key"] input[name="value"]').input_value() == ""
        bodies = await recorder.collect()
        assert len([body for _url, body in bodies if b"<h1>" in body]) >= len(PAGES) + 5
        secrets = [SYSTEM_CANARY, INSTANCE_CANARY, LETTA_CANARY, seeded["operator"], seeded["alice"], seeded["vic"]]
        assert [(url, secret) for url, body in bodies for secret in secrets if secret.encode() in body] == []


# --- every page: a viewer, forged posts, CSRF ---------------------------------------------------


FORGED = {  # path: (the tool it runs, a form a user of the right role could send)
    "/console/objects/override": ("set_config", {"key": "smcp_port", "scope": "agent", "target": "athena",
                                                 "value": "9999"}),
    "/console/objects/reset": ("delete_config", {"key": "flask_port", "scope": "agent", "target": "athena",
                                                 "expected_version": "1"}),
    "/console/letta/activate": ("activate_letta_server", {"server": "2"}),
    "/console/plugins/disable": ("disable_plugin", {"plugin": "core", "cascade": "true", "shown": "ui"}),
    "/console/plugins/enable": ("enable_plugin", {"plugin": "ui", "chain": "false", "shown": ""}),
    "/console/jobs/pause": ("pause_job", {"job": "nightly-report"}),
    "/console/jobs/resume": ("resume_job", {"job": "nightly-report"}),
    "/console/backups/create": ("create_backup", {"type": "full", "name": "forged"}),
    "/console/backups/verify": ("verify_backup", {"backup_id": "1"}),
    "/console/backups/restore": ("restore_backup", {"backup_id": "1", "typed": "before-pages"}),
    "/console/users/create": ("create_user", {"username": "mallory", "role": "admin"}),
    "/console/users/token": ("create_api_token", {"user": "vic", "name": "forged"}),
    "/console/users/revoke": ("revoke_api_token", {"token_id": "1"}),
    "/console/users/deactivate": ("deactivate_user", {"user": "alice"}),
}


async def test_an_admin_limited_to_some_agents_sees_no_control_of_a_tool_that_acts_on_every_agent(
        db_path, server, seeded, browser):
    """restore_backup and the user tools act on every agent at once: the tool refuses them to an
    admin whose permissions list agents, so the page offers none of them (what names no agent stays)."""
    await read(db_path, "create_user", username="ada", role="admin", permissions={"agents": ["athena"]})
    token = (await read(db_path, "create_api_token", user="ada")).token
    await read(db_path, "create_backup", name="before-ada")
    async with signed_in(browser, server, token) as (_context, page):
        await page.goto(server.base + "/console/backups")
        await page.wait_for_selector('.backup[data-name="before-ada"]')
        assert await page.locator("text=Create backup").count() == 1  # create_backup names no agent
        assert await page.locator('.backup[data-name="before-ada"] >> text=Verify').count() == 1
        assert await page.locator('.backup[data-name="before-ada"] >> text=Restore…').count() == 0
        await page.goto(server.base + "/console/users")
        assert await page.locator('.user-row[data-name="ada"]').count() == 1  # list_users is hers
        assert await page.locator("#new-user").count() == 0
        assert await page.locator('.user-row >> text=New token').count() == 0


async def test_a_user_limited_to_some_agents_sees_controls_only_for_what_belongs_to_them(
        db_path, server, seeded, browser):
    """The gate refuses a change to another agent's settings, instances or jobs (looked up in the
    registry); the pages ask the same gate, so they offer only the controls it would admit."""
    await read(db_path, "create_agent", name="monday")
    await read(db_path, "create_job", name="monday-digest", cron_expression="0 7 * * *", agent="monday")
    await read(db_path, "create_tool", name="hub", category="master", tool_type="service")
    host_wide = await read(db_path, "create_tool_instance", tool="hub", name="hub-host")  # no agent's
    await read(db_path, "create_user", username="mo", role="user", permissions={"agents": ["monday"]})
    token = (await read(db_path, "create_api_token", user="mo")).token
    async with signed_in(browser, server, token) as (_context, page):
        await page.goto(server.base + "/console/jobs")
        assert await page.locator('.job[data-name="monday-digest"] >> text=Pause').count() == 1
        assert await page.locator('.job[data-name="nightly-report"] >> text=Pause').count() == 0  # athena's
        await page.goto(server.base + "/console/objects?agent=monday")
        assert await page.locator('.setting[data-key="flask_port"] .write').count() >= 1
        # Another agent's objects are not even read; a host-wide instance is read, never changed.
        for other in ("/console/objects?agent=athena", f"/console/objects?instance={seeded['instance']}"):
            await page.goto(server.base + other)
            assert await page.locator(".write").count() == 0, other
        await page.goto(server.base + f"/console/objects?instance={host_wide.id}")
        assert await page.locator('.setting[data-key="flask_port"] .explanation').count() == 1
        assert await page.locator(".write").count() == 0
        await page.goto(server.base + "/console/objects?tool=weather")  # a tool is shared: the role decides
        assert await page.locator('.setting[data-key="flask_port"] .write').count() >= 1


async def test_a_viewer_sees_no_write_controls_and_every_forged_post_is_refused_as_the_tool_refuses_it(
        db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["vic"]) as (_context, page):
        for path in [*PAGES, "/console/objects?agent=athena", f"/console/objects?instance={seeded['instance']}",
                     "/console/plugins?plugin=core"]:
            await page.goto(server.base + path)
            assert await page.locator("h1").count() == 1, path
            assert await page.locator(".write").count() == 0, path
            # Nothing else that posts either: only the probe (letta_status is a viewer's) and sign-out.
            assert await page.locator('[hx-post]:not([hx-post="/console/letta/test"])').count() == 0, path
            assert await page.locator('form[method="post"]:not([action="/console/signout"])').count() == 0, path
        assert await page.locator('#dependents').count() == 1  # the plugin's detail is shown, read-only
        await page.goto(server.base + "/console/objects?agent=athena")
        assert await page.locator('.setting[data-key="flask_port"] .explanation').count() == 1
        headers = {"X-CSRF-Token": await csrf_of(page), "HX-Request": "true"}
        before = rows(db_path)
        shown: dict[str, str] = {}
        for path, (_tool, form) in FORGED.items():
            response = await page.request.post(server.base + path, form=form, headers=headers)
            text = await response.text()
            assert response.status == 403, (path, response.status, text)
            assert "viewer" in text or "admin" in text, (path, text)
            shown[path] = text.replace("&#39;", "'")
        assert rows(db_path) == before
    # In the same words as the MCP tool's refusal for the same viewer.
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {seeded['vic']}"}, timeout=30) as http, \
            Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy") as client:
        for path in ("/console/jobs/pause", "/console/users/token", "/console/backups/restore"):
            tool, form = FORGED[path]
            arguments = {"job": "nightly-report"} if tool == "pause_job" else \
                {"user": "vic", "name": "forged"} if tool == "create_api_token" else {"backup_id": 1}
            assert await call_error(client, tool, arguments) in shown[path]
    denied = await read(db_path, "query_logs", text="access.denied", limit=100)
    refused_tools = [e.details["tool"] for e in denied.entries if e.action == "access.denied"]
    # Each forged POST, the viewer's visit to the users page (list_users is the admin's) and the three
    # MCP calls, as the tools audit a refusal.
    assert sorted(refused_tools) == sorted([*(tool for tool, _form in FORGED.values()), "list_users", "pause_job",
                                            "create_api_token", "restore_backup"])


async def test_a_post_to_these_pages_without_the_csrf_token_is_refused(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        before = rows(db_path)
        posts = [(path, form) for path, (_tool, form) in FORGED.items()] + [("/console/letta/test", {"server": "1"})]
        for path, form in posts:
            response = await page.request.post(server.base + path, form=form)
            assert response.status == 403 and "CSRF token" in await response.text(), path
        assert rows(db_path) == before
