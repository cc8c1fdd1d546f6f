"""The browser console at / (sanctum_mcp/console/): a real `sanctum-mcp serve --transport http`
subprocess on a free 127.0.0.1 port, driven by Debian's chromium through Playwright (never a
downloaded browser build; see the skip below), over a real SQLite file.

The browser tests are skipped, with the reason, when Playwright or chromium is missing; `.ci/run`
installs chromium, so CI runs them.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sanctum_mcp.console import links
from sanctum_mcp.console.actions import _role_needed, may
from sanctum_mcp.console.sessions import MAX_SESSIONS, MAX_SESSIONS_PER_USER, SessionStore
from sanctum_mcp.domain.registry import Registry
from sanctum_mcp.domain.shared.identity import Caller
from console_support import BrowserContext, Page, browser, csrf_of, needs_browser  # noqa: F401 (browser: a fixture)
from support import REPO, HttpServer, call_error, server_env, server_log, snapshot, start_http_server, stop

CANARY = "sk-CANARY-console-7f3a9c1e5b2d"




# --- the registry and the server ------------------------------------------------------------


async def seed(db_path: Path) -> dict[str, str]:
    """The admin operator, users alice (user) and vic (viewer), each with a token; the OpenAI key
    set to the canary."""
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        for username, role in (("alice", "user"), ("vic", "viewer")):
            await registry.users.create(op, username=username, role=role, email=None, permissions=None)
        tokens = {name: (await registry.users.create_token(op, name, "test")).token
                  for name in ("operator", "alice", "vic")}
        await registry.config.set(op, "openai_api_key", CANARY, scope="system")
        return tokens
    finally:
        await registry.close()


async def stored(db_path: Path, key: str) -> tuple[str | None, int]:
    registry = await Registry.open(db_path)
    try:
        entry = (await registry.config.list(scope="system", prefix=key)).entries[0]
        return entry.value, entry.version
    finally:
        await registry.close()


async def audit_rows(db_path: Path, action: str) -> list[Any]:
    registry = await Registry.open(db_path)
    try:
        return [e for e in (await registry.logs.query(text=action, limit=100)).entries if e.action == action]
    finally:
        await registry.close()


@contextmanager
def serving(db_path: Path, *args: str) -> Iterator[HttpServer]:
    server = start_http_server(db_path, *args)
    try:
        yield server
    finally:
        stop(server.process)
        server.log.close()


@pytest.fixture
async def seeded(db_path: Path) -> dict[str, str]:
    return await seed(db_path)


@pytest.fixture
def server(db_path: Path, seeded: dict[str, str]) -> Iterator[HttpServer]:
    with serving(db_path) as running:
        yield running


# --- the browser ----------------------------------------------------------------------------


class Recorder:
    """Every response body the browser receives, with its URL (for the canary)."""

    def __init__(self, page: Page) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.pending: list[Any] = []
        page.on("response", lambda response: self.pending.append(response))

    async def collect(self) -> list[tuple[str, bytes]]:
        while self.pending:
            response = self.pending.pop(0)
            try:
                body = await response.body()
            except Exception:  # a redirect has no body to read
                body = b""
            self.bodies.append((response.url, body + json.dumps(await response.all_headers()).encode()))
        return self.bodies


@asynccontextmanager
async def signed_in(browser: Any, server: HttpServer, token: str) -> AsyncIterator[tuple[BrowserContext, Page]]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server.base + "/")
    assert page.url.endswith("/console/signin")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(server.base + "/")
    try:
        yield context, page
    finally:
        await context.close()


def settings_rows(db_path: Path) -> list[str]:
    """The settings and their history: what a refused change must leave as it was (a refusal may
    add a log row: its WARNING, and the audit row of a refused tool call)."""
    return [line for line in snapshot(db_path)
            if line.startswith(('INSERT INTO "system_config"', 'INSERT INTO "config_history"', 'INSERT INTO "configurations"'))]


def field(key: str) -> str:
    return f'[name="f.{key}"]'


async def field_error(page: Page, key: str) -> str:
    return (await page.locator(f'.field[data-key="{key}"] .field-error').text_content() or "").strip()


# --- sign-in and sign-out -------------------------------------------------------------------


@needs_browser
async def test_the_console_at_root_asks_for_sign_in_then_signs_in_with_a_token_and_out(server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (context, page):
        assert "Overview" in await page.text_content("h1")
        assert "operator" in await page.text_content("header .user")
        for name in ("Athena", "Monday"):  # nothing seeded: the agents panel says so instead
            assert name not in await page.text_content("#agents")
        cookie = next(c for c in await context.cookies() if c["name"] == "sanctum_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
        await page.click("text=Sign out")
        await page.wait_for_url(server.base + "/console/signin")
        assert not [c for c in await context.cookies() if c["name"] == "sanctum_console"]
        await page.goto(server.base + "/console/settings")
        assert page.url.endswith("/console/signin")


@needs_browser
async def test_a_wrong_token_is_refused_with_what_to_do(server, seeded, browser):
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server.base + "/console/signin")
    await page.fill("#token", "sanctum_not-a-real-token")
    await page.click("button[type=submit]")
    message = await page.text_content(".message.error")
    assert "not accepted" in message and "sanctum-mcp user token" in message
    await context.close()


@needs_browser
async def test_a_one_time_link_signs_the_operator_in_once(db_path, server, seeded, browser):
    printed = subprocess.run([sys.executable, "-m", "sanctum_mcp", "console", "link", "--port", str(server.port)],
                             env=server_env(db_path), capture_output=True, text=True, cwd=str(REPO.parent), timeout=60)
    assert printed.returncode == 0, printed.stderr
    url = printed.stdout.strip()
    assert url.startswith(f"http://127.0.0.1:{server.port}/console/link?t=")
    secret = url.split("t=", 1)[1]
    assert secret not in links.links_file(db_path).read_text()  # only its hash is stored
    first = await browser.new_context()
    page = await first.new_page()
    await page.goto(url)
    await page.click("button[type=submit]")
    await page.wait_for_url(server.base + "/")
    assert "operator" in await page.text_content("header .user")
    second = await browser.new_context()
    again = await second.new_page()
    await again.goto(url)
    await again.click("button[type=submit]")
    assert "not valid any more" in await again.text_content(".message.error")
    await first.close()
    await second.close()


@needs_browser
async def test_a_revoked_token_ends_its_browser_session(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["alice"]) as (_context, page):
        registry = await Registry.open(db_path)
        try:
            alice = await registry.users.get("alice")
            await registry.users.revoke_token(registry.operator, alice.tokens[0].id)
        finally:
            await registry.close()
        await page.goto(server.base + "/console/settings")
        assert page.url.endswith("/console/signin")


# --- System Settings ------------------------------------------------------------------------


@needs_browser
async def test_a_port_out_of_range_is_refused_next_to_its_field_and_changes_nothing(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/settings")
        port = page.locator(field("smcp_port"))
        assert await port.get_attribute("type") == "number"
        assert (await port.get_attribute("min"), await port.get_attribute("max")) == ("1", "65535")
        before = snapshot(db_path)
        await port.fill("70000")
        await page.click("text=Review changes")
        await page.wait_for_selector('.field[data-key="smcp_port"] .field-error:not(:empty)')
        assert "smcp_port must be <= 65535" in await field_error(page, "smcp_port")
        assert await field_error(page, "flask_port") == ""
        assert snapshot(db_path) == before
        # Corrected: the review shows the diff, Apply saves it.
        await port.fill("9100")
        await page.click("text=Review changes")
        await page.wait_for_selector("table.diff")
        assert await field_error(page, "smcp_port") == ""
        assert re.search(r"smcp_port\s+9000\s+9100", await page.inner_text("table.diff"))
        assert snapshot(db_path) == before  # a review changes nothing
        await page.click("text=Apply 1 change")
        await page.wait_for_url(re.compile(r".*/console/settings\?saved=smcp_port$"))
        assert "Saved: smcp_port" in await page.text_content(".message.ok")
    assert await stored(db_path, "smcp_port") == ("9100", 2)
    assert [row.details["actor"] for row in await audit_rows(db_path, "config.set")][-1] == "operator"


@needs_browser
async def test_a_check_and_set_conflict_between_two_browsers_says_who_changed_what(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_a, first), \
            signed_in(browser, server, seeded["alice"]) as (_b, second):
        for page in (first, second):
            await page.goto(server.base + "/console/settings")
        # The operator reviews a change; meanwhile alice saves another value of the same key.
        await first.fill(field("flask_port"), "5001")
        await first.click("text=Review changes")
        await first.wait_for_selector("table.diff")
        await second.fill(field("flask_port"), "5002")
        await second.click("text=Review changes")
        await second.click("text=Apply 1 change")
        await second.wait_for_url(re.compile(r".*saved=flask_port$"))
        before = snapshot(db_path)
        await first.click("text=Apply 1 change")
        await first.wait_for_selector(".conflict")
        conflict = await first.text_content(".conflict")
        assert "changed by someone else since this page loaded" in conflict
        assert re.search(r"version 2: alice set it to 5002", " ".join(conflict.split()))
        assert "flask_port was not saved" in await first.text_content("#review")
        assert snapshot(db_path) == before
    assert await stored(db_path, "flask_port") == ("5002", 2)


@needs_browser
async def test_the_secret_canary_never_reaches_the_browser(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        recorder = Recorder(page)
        await page.goto(server.base + "/")
        await page.goto(server.base + "/console/settings")
        assert await page.locator(field("openai_api_key")).get_attribute("type") == "password"
        assert await page.locator(field("openai_api_key")).input_value() == ""
        await page.click('.field[data-key="openai_api_key"] >> text=History')
        await page.wait_for_selector(".history-table")
        # Replacing it: neither the review nor the result echoes the new secret.
        replacement = CANARY + "-replaced"
        await page.fill(field("openai_api_key"), replacement)
        await page.click("text=Review changes")
        await page.wait_for_selector("table.diff")
        assert "the new secret is not shown" in await page.text_content("table.diff")
        await page.click("text=Apply 1 change")
        await page.wait_for_url(re.compile(r".*saved=openai_api_key$"))
        await page.click('.field[data-key="openai_api_key"] >> text=History')
        await page.wait_for_selector(".history-table")
        bodies = await recorder.collect()
        assert len(bodies) >= 8
        leaks = [url for url, body in bodies if CANARY.encode() in body or replacement.encode() in body]
        assert leaks == []
        assert "".join(await page.locator("input").evaluate_all("els => els.map(e => e.value)")).find(CANARY) == -1
    registry = await Registry.open(db_path)
    try:  # the replacement was stored, encrypted
        got = await registry.config.get(registry.operator, "openai_api_key", reveal=True)
        assert got.revealed_value == replacement
    finally:
        await registry.close()
    with sqlite3_connect(db_path) as conn:
        assert not [row for row in conn.execute("SELECT config_value FROM system_config") if CANARY in (row[0] or "")]


def sqlite3_connect(path: Path) -> Any:
    import contextlib
    import sqlite3

    return contextlib.closing(sqlite3.connect(path))


@needs_browser
async def test_an_admin_reveal_shows_the_secret_and_is_audited(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/settings")
        assert await audit_rows(db_path, "config.reveal") == []
        await page.click('.field[data-key="openai_api_key"] >> text=Reveal')
        await page.wait_for_selector("output.revealed")
        assert await page.text_content("output.revealed") == CANARY
    rows = await audit_rows(db_path, "config.reveal")
    assert len(rows) == 1 and rows[0].details["actor"] == "operator" and CANARY not in json.dumps(rows[0].details)


@needs_browser
async def test_a_viewer_sees_no_write_controls_and_a_forged_save_is_refused_as_the_tool_refuses_it(
        db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["vic"]) as (_context, page):
        await page.goto(server.base + "/console/settings")
        assert await page.locator('[name^="f."]').count() == 0
        assert await page.locator("text=Review changes").count() == 0
        assert await page.locator("text=Reveal").count() == 0
        assert await page.locator('.field[data-key="smcp_port"] output').text_content() == "9000"
        await page.click('.field[data-key="smcp_port"] >> text=History')
        await page.wait_for_selector(".history-table")
        assert await page.locator("text=Roll back to this").count() == 0
        # The viewer forges the form a user would send, with their own session's CSRF token.
        headers = {"X-CSRF-Token": await csrf_of(page), "HX-Request": "true"}
        form = {"f.smcp_port": "9200", "o.smcp_port": "9000", "v.smcp_port": "1"}
        reviewed = await page.request.post(server.base + "/console/settings/review", form=form, headers=headers)
        signature = re.search(r'name="reviewed" value="([0-9a-f]+)"', await reviewed.text()).group(1)
        refused = await page.request.post(server.base + "/console/settings/apply",
                                          form={**form, "reviewed": signature}, headers=headers)
        assert refused.status == 403
        shown = await refused.text()
        reveal = await page.request.post(server.base + "/console/settings/reveal", form={"key": "openai_api_key"},
                                         headers=headers)
        assert reveal.status == 403 and CANARY not in await reveal.text()
    assert await stored(db_path, "smcp_port") == ("9000", 1)
    # The same words as the MCP tool's refusal for the same viewer.
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {seeded['vic']}"}, timeout=30) as http, \
            Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy") as client:
        tool_message = await call_error(client, "set_config", {"key": "smcp_port", "value": "9200", "expected_version": 1})
    assert tool_message in shown.replace("&#39;", "'")
    refusals = await audit_rows(db_path, "access.denied")
    assert [row.details["actor"] for row in refusals] == ["vic", "vic", "vic"]  # apply, reveal, the MCP call


@needs_browser
async def test_each_setting_shows_the_controls_its_key_needs_for_each_caller_on_every_load(server, seeded, browser):
    """A user may change an ordinary setting but not a secret or one that governs the logs and
    backups (admin); an admin may change all three. Asked per key and per caller on every load,
    also once the server has answered the same questions for another caller (console/actions.may
    remembers what each key needs, never who may)."""
    keys = ("smcp_port", "log_retention_days", "backup_schedule", "openai_api_key")
    expected = {"alice": {"smcp_port": 1, "log_retention_days": 0, "backup_schedule": 0, "openai_api_key": 0},
                "operator": {"smcp_port": 1, "log_retention_days": 1, "backup_schedule": 1, "openai_api_key": 1}}
    for who in ("alice", "operator", "alice"):
        async with signed_in(browser, server, seeded[who]) as (_context, page):
            for _load in range(2):
                await page.goto(server.base + "/console/settings")
                shown = {key: await page.locator(field(key)).count() for key in keys}
                assert shown == expected[who], who
                assert await page.locator("text=Reveal").count() == (1 if who == "operator" else 0), who
                # What a user may not change is shown as text, not hidden.
                shown_as_text = await page.locator('.field[data-key="log_retention_days"] output').count()
                assert shown_as_text == (1 if who == "alice" else 0), who


@needs_browser
async def test_a_post_without_the_csrf_token_or_from_another_site_is_refused(db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/settings")
        before = settings_rows(db_path)
        form = {"f.smcp_port": "9300", "o.smcp_port": "9000", "v.smcp_port": "1"}
        no_token = await page.request.post(server.base + "/console/settings/apply", form=form)
        assert no_token.status == 403 and "CSRF token" in await no_token.text()
        foreign = await page.request.post(server.base + "/console/settings/apply", form=form,
                                          headers={"X-CSRF-Token": await csrf_of(page),
                                                   "Origin": "http://evil.example"})
        assert foreign.status == 403 and "another site" in await foreign.text()
        assert settings_rows(db_path) == before


class _EvilPage(http.server.BaseHTTPRequestHandler):
    """Another site's page (another port of 127.0.0.1: the same site for cookies) that posts a
    change to the console as soon as it loads, as a browser would send it."""

    target = ""

    def do_GET(self) -> None:  # noqa: N802
        body = (f'<form id="f" method="post" action="{self.target}/console/settings/apply">'
                '<input name="f.smcp_port" value="9400"><input name="o.smcp_port" value="9000">'
                '<input name="v.smcp_port" value="1"><input name="csrf" value="guessed"></form>'
                '<script>document.getElementById("f").submit()</script>').encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@needs_browser
async def test_a_page_of_another_site_cannot_act_through_trust_loopback(db_path, seeded, browser):
    with serving(db_path, "--trust-loopback") as server:
        # --trust-loopback lets a loopback MCP client in without a token; the console still asks.
        assert httpx.get(server.base + "/", follow_redirects=False).headers["location"] == "/console/signin"
        before = settings_rows(db_path)
        _EvilPage.target = server.base
        evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EvilPage)
        threading.Thread(target=evil.serve_forever, daemon=True).start()
        try:
            async with signed_in(browser, server, seeded["operator"]) as (context, _page):
                victim = await context.new_page()
                async with victim.expect_response(lambda r: r.url.endswith("/console/settings/apply")) as answer:
                    await victim.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
                response = await answer.value
                assert response.status == 403
                assert "another site" in await response.text()
        finally:
            evil.shutdown()
        assert settings_rows(db_path) == before


async def test_a_foreign_host_is_refused_by_every_console_path(server):
    for path in ("/", "/console/signin", "/console/settings", "/console/static/htmx.min.js"):
        response = httpx.get(server.base + path, headers={"Host": "evil.example"})
        assert response.status_code == 421, path
    response = httpx.post(server.base + "/console/signin", headers={"Host": "evil.example:80"}, data={"token": "x"})
    assert response.status_code == 421


async def test_console_responses_forbid_framing_and_foreign_scripts(server):
    response = httpx.get(server.base + "/console/signin")
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "https://" not in response.text and "http://" not in response.text.replace("http://localhost", "")


# --- bounded under attack -------------------------------------------------------------------


def test_ten_thousand_sign_ins_keep_the_session_store_bounded():
    store = SessionStore()
    first, _ = store.start(1, "a", None)
    for index in range(10_000):
        last, session = store.start(index, "a", None)
    assert len(store) == MAX_SESSIONS
    assert store.get(first) is None  # the least recently used went first
    assert store.get(last) is session


def test_one_user_signing_in_again_and_again_ends_none_of_anyone_elses_sessions():
    store = SessionStore()
    admin, admin_session = store.start(1, "operator", None)
    for _ in range(MAX_SESSIONS * 3):  # a viewer's token, signed in over and over
        last, session = store.start(2, "vic", None)
    assert store.get(admin) is admin_session
    assert store.get(last) is session
    assert len(store) == 1 + MAX_SESSIONS_PER_USER  # the viewer's least recently used went first


def test_what_the_console_remembers_of_each_keys_needed_role_stays_bounded():
    """may() remembers the role each tool's arguments need (a page asks per setting); a page may be
    asked about any key a URL names, so what it keeps stays small whatever it is asked."""
    user, admin = Caller(username="alice", role="user"), Caller(username="operator", role="admin")
    for index in range(6000):
        assert may(user, "rollback_config", key=f"key_{index}") is True
    kept = _role_needed.cache_info()
    assert kept.currsize == kept.maxsize == 4096  # the least recently asked went first
    for index in range(100):  # a long key is answered, and not remembered
        assert may(user, "rollback_config", key=f"{index}" + "x" * 20_000) is True
    assert _role_needed.cache_info()[:2] == kept[:2]  # (hits, misses): the memo was not asked
    # Remembered per key, never per caller: a governing setting needs admin for everyone.
    assert [may(who, "rollback_config", key="log_retention_days") for who in (user, admin, user)] == [False, True, False]


def test_sessions_end_after_their_idle_time_and_lifetime():
    now = [0.0]
    store = SessionStore(idle=10, lifetime=25, clock=lambda: now[0])
    value, _ = store.start(1, "a", None)
    now[0] = 9
    assert store.get(value) is not None
    now[0] = 18
    assert store.get(value) is not None  # seen at 9: not idle for 10 yet
    now[0] = 26
    assert store.get(value) is None  # past its lifetime
    idle, _ = store.start(1, "a", None)
    now[0] = 37
    assert store.get(idle) is None


def test_sign_in_links_are_single_use_expire_and_stay_few(tmp_path):
    db = tmp_path / "r.db"
    secret = links.create_link(db, 7, now=1000.0)
    assert links.use_link(db, secret, now=1001.0) == 7
    assert links.use_link(db, secret, now=1002.0) is None
    late = links.create_link(db, 7, now=1000.0)
    assert links.use_link(db, late, now=1000.0 + links.LIFETIME + 1) is None
    for _ in range(100):
        links.create_link(db, 7, now=2000.0)
    assert len(links.links_file(db).read_text().splitlines()) == links.MAX_PENDING
    assert links.links_file(db).stat().st_mode & 0o777 == 0o600


# --- live updates (the change feed) ---------------------------------------------------------


@needs_browser
async def test_a_change_by_another_client_shows_up_live_and_a_changed_field_being_edited_says_so(
        db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_a, watching), \
            signed_in(browser, server, seeded["alice"]) as (_b, other):
        await watching.goto(server.base + "/console/settings")
        await watching.fill(field("smcp_port"), "9555")  # being edited, not saved
        # Another browser saves flask_port; an MCP client changes smcp_port underneath the edit.
        await other.goto(server.base + "/console/settings")
        await other.fill(field("flask_port"), "5005")
        await other.click("text=Review changes")
        await other.click("text=Apply 1 change")
        await other.wait_for_url(re.compile(r".*saved=flask_port$"))
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {seeded['alice']}"}, timeout=30) as http, \
                Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy") as client:
            await client.call_tool("set_config", {"key": "smcp_port", "value": "9600"})
        # Bounded waits (they fail on a page that never updates): the untouched field now shows the
        # new value, the edited one keeps the edit and says who changed it.
        await watching.wait_for_function(
            """() => document.querySelector('[name="f.flask_port"]').value === "5005" """, timeout=20_000)
        notice = watching.locator('.field[data-key="smcp_port"] .field-notice')
        await notice.wait_for(timeout=20_000)
        assert "alice" in await notice.text_content()
        assert await watching.locator(field("smcp_port")).input_value() == "9555"
        # Saving it is refused as a conflict naming the change.
        await watching.click("text=Review changes")
        await watching.wait_for_selector(".conflict")
        assert re.search(r"alice set it to 9600", " ".join((await watching.text_content(".conflict")).split()))


def http_sign_in(server: HttpServer, token: str) -> tuple[httpx.Client, dict[str, str]]:
    """A signed-in client without a browser (as a script would be): the client and the CSRF header."""
    http = httpx.Client(base_url=server.base, timeout=60)
    pre = re.search(r'name="pre" value="([^"]+)"', http.get("/console/signin").text).group(1)
    assert http.post("/console/signin", data={"pre": pre, "token": token}).status_code == 303
    page = http.get("/console/settings").text
    return http, {"X-CSRF-Token": json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))["X-CSRF-Token"]}


async def test_a_live_update_waiting_when_its_user_is_deactivated_answers_nothing_made_after(db_path, server, seeded):
    http, _csrf = http_sign_in(server, seeded["vic"])
    try:
        revision = int(re.search(r'data-revision="(\d+)"', http.get("/console/settings").text).group(1))
        # Wait beyond revision + 1: woken by the second change from now, vic's deactivation being the first.
        waiting, answers = [], []

        def follow() -> None:
            answers.append(http.get("/console/changes", params={"after": str(revision + 1)}, timeout=120))

        while True:  # until the session's four waits are all held (the fifth is refused): vic is signed in now
            thread = threading.Thread(target=follow)
            thread.start()
            thread.join(timeout=1)
            if answers and answers[-1].status_code == 429:
                answers.pop()
                break
            waiting.append(thread)
        assert len(waiting) == 4, [a.status_code for a in answers]
        admin, admin_csrf = http_sign_in(server, seeded["operator"])
        try:
            made = admin.post("/console/users/deactivate", data={"user": "vic"},
                              headers={**admin_csrf, "hx-request": "true"})
        finally:
            admin.close()
        assert made.status_code == 200, made.text
        registry = await Registry.open(db_path)
        try:
            await registry.agents.create(registry.operator, {"name": "Made-After", "config": {}})
        finally:
            await registry.close()
        for thread in waiting:
            thread.join(timeout=120)
    finally:
        http.close()
    assert len(answers) == 4
    assert all("Made-After" not in answer.text for answer in answers), [answer.text for answer in answers]
    assert {answer.status_code for answer in answers} == {401}


async def test_console_cookies_are_secure_behind_a_tls_proxy_and_plain_on_loopback_http(server, seeded):
    def sign_in(headers: dict[str, str]) -> list[str]:
        """The Set-Cookie lines of the sign-in form and of a successful sign-in."""
        with httpx.Client(base_url=server.base, timeout=60, headers=headers) as http:
            form = http.get("/console/signin")
            pre = re.search(r'name="pre" value="([^"]+)"', form.text).group(1)
            # By hand: a client keeps a Secure cookie from a plain-HTTP request, but would not send it.
            signed = http.post("/console/signin", data={"pre": pre, "token": seeded["operator"]},
                               headers={"Cookie": f"sanctum_console_signin={form.cookies['sanctum_console_signin']}"})
            assert signed.status_code == 303, signed.text
            return form.headers.get_list("set-cookie") + [
                line for line in signed.headers.get_list("set-cookie") if line.startswith("sanctum_console=")]

    proxied = sign_in({"X-Forwarded-Proto": "https"})  # a TLS proxy on this machine (uvicorn trusts loopback)
    plain = sign_in({})
    assert len(proxied) == len(plain) == 2
    assert all("; secure" in line.lower() for line in proxied), proxied
    assert not any("secure" in line.lower() for line in plain), plain


async def test_hostile_console_requests_are_refused_in_bounded_time_and_change_nothing(db_path, server, seeded):
    http, csrf = http_sign_in(server, seeded["operator"])
    before = settings_rows(db_path)
    try:
        def chunked():
            yield b"f.smcp_port=1&o.smcp_port=9000&v.smcp_port=1"

        form = {**csrf, "content-type": "application/x-www-form-urlencoded"}
        assert http.post("/console/settings/apply", content=chunked(), headers=form).status_code == 411
        many = b"&".join(b"f.x%d=1" % i for i in range(5000))  # beyond MAX_FORM_FIELDS
        assert http.post("/console/settings/review", content=many, headers=form).status_code == 400
        # Refused from its stated length, before a byte of it is read. (Sending the 2 MiB would race
        # the refusal: a server that closes with the body unread may reset before the client reads.)
        oversized_form = (f"POST /console/settings/review HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                          f"Cookie: sanctum_console={http.cookies['sanctum_console']}\r\n"
                          f"X-CSRF-Token: {csrf['X-CSRF-Token']}\r\n"
                          f"Content-Type: application/x-www-form-urlencoded\r\n"
                          f"Content-Length: {2 * 1024 * 1024}\r\n\r\n").encode()
        with socket.create_connection((server.host, server.port), timeout=30) as raw:
            raw.sendall(oversized_form + b"x" * 100)
            assert raw.recv(65536).startswith(b"HTTP/1.1 413 ")
        upload = http.post("/console/settings/review", files={"f.smcp_port": ("x", b"1")}, headers=csrf)
        assert upload.status_code == 400
        assert http.get("/console/changes", params={"after": "-1"}).status_code == 400
        assert http.get("/console/changes", params={"after": "9" * 40}).status_code == 400
        long_key = http.get("/console/settings/history", params={"key": "k" * 10_000})
        assert long_key.status_code == 422 and "at most 128 characters" in long_key.text
        # A cookie the HTTP layer reads is not a session: back to sign-in.
        forged = httpx.get(server.base + "/console/settings", cookies={"sanctum_console": "x" * 10_000})
        assert forged.status_code == 303
        # Past h11's 16 KiB head limit the answer depends on how TCP splits the bytes: a head that
        # arrives whole is read (and not a session: 303); one that arrives in pieces is refused (431),
        # and the server's close can reset the connection before the client reads that answer (CI saw
        # it). Any of these is a refusal; what must hold is that the server answers the next request.
        try:
            oversized = httpx.get(server.base + "/console/settings", cookies={"sanctum_console": "x" * 100_000})
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            pass
        else:
            assert oversized.status_code in (303, 400, 431)
        assert httpx.get(server.base + "/console/signin").status_code == 200
    finally:
        http.close()
    assert settings_rows(db_path) == before
    assert "Traceback" not in server_log(server)


async def test_a_server_serving_only_some_tools_serves_no_other_through_the_console(db_path, seeded):
    # serve --read-only: the console on the same port changes nothing either, even for an admin, and
    # shows no control of a tool it does not serve; reads still work.
    with serving(db_path, "--read-only") as server:
        http, csrf = http_sign_in(server, seeded["operator"])
        try:
            users = http.get("/console/users")
            assert users.status_code == 200 and "vic" in users.text and 'id="new-user"' not in users.text
            created = http.post("/console/users/create", data={"username": "mallory", "role": "admin"},
                                headers={**csrf, "hx-request": "true"})
            assert created.status_code == 403, created.text
            assert "&#39;create_user&#39; is not a tool of this endpoint" in created.text, created.text
            listed = http.get("/console/users/list").text
        finally:
            http.close()
        assert "Traceback" not in server_log(server)
    assert "vic" in listed and "mallory" not in listed


@needs_browser
async def test_history_rolls_a_setting_back_and_a_json_setting_is_edited_in_a_validating_editor(
        db_path, server, seeded, browser):
    registry = await Registry.open(db_path)
    try:
        await registry.config.set(registry.operator, "feature_flags", '{"beta": false}', scope="system",
                                  value_type="json", category="general")
    finally:
        await registry.close()
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/settings")
        editor = page.locator(field("feature_flags"))
        assert await editor.evaluate("el => el.tagName") == "TEXTAREA"
        await editor.fill('{"beta": tru')
        assert "Not valid JSON yet" in await field_error(page, "feature_flags")
        await page.click("text=Review changes")  # the server says so too, in the domain's words
        # Wait for the server's words: the field already shows the browser's own (not empty).
        await page.locator('.field[data-key="feature_flags"] .field-error', has_text="holds JSON").wait_for()
        assert "feature_flags holds JSON" in await field_error(page, "feature_flags")
        await editor.fill('{"beta": true}')
        await page.click("text=Review changes")
        await page.click("text=Apply 1 change")
        await page.wait_for_url(re.compile(r".*saved=feature_flags$"))
        await page.click('.field[data-key="feature_flags"] >> text=History')
        await page.wait_for_selector(".history-table")
        rows = await page.inner_text(".history-table tbody")
        assert '{"beta": true}' in rows and '{"beta": false}' in rows
        # The page is already at ?saved=feature_flags: wait for the reload itself, not the URL.
        async with page.expect_navigation(url=re.compile(r".*saved=feature_flags$")):
            await page.locator(".history-table tr", has_text="operator").filter(
                has_text='{"beta": false}').locator("text=Roll back to this").click()
        assert await page.locator(field("feature_flags")).input_value() == '{"beta": false}'
    assert await stored(db_path, "feature_flags") == ('{"beta": false}', 3)
    assert [row.details["actor"] for row in await audit_rows(db_path, "config.rollback")] == ["operator"]


def test_console_link_refuses_a_port_that_is_not_one_in_one_line(db_path):
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", "console", "link", "--port", "70000"],
                          env=server_env(db_path), capture_output=True, text=True, cwd=str(REPO.parent), timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == "sanctum-mcp: --port 70000 is not a port number (1-65535)."
    assert not links.links_file(db_path).exists()


# --- environments on System Settings --------------------------------------------------------


async def env_row(db_path: Path, key: str, environment: str) -> tuple[str | None, int] | None:
    registry = await Registry.open(db_path)
    try:
        rows = [e for e in (await registry.config.list(scope="system", prefix=key)).entries
                if e.key == key and e.environment == environment]
        return (rows[0].value, rows[0].version) if rows else None
    finally:
        await registry.close()


async def set_staging_values(db_path: Path) -> None:
    registry = await Registry.open(db_path)
    try:
        op = registry.operator
        await registry.config.set(op, "smcp_port", "9400", scope="system", environment="staging")
        await registry.config.set(op, "openai_api_key", CANARY + "-staging", scope="system", environment="staging")
    finally:
        await registry.close()


@needs_browser
async def test_a_staging_value_set_on_the_page_shows_only_in_the_staging_view_until_the_general_value_is_used(
        db_path, server, seeded, browser):
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        await page.goto(server.base + "/console/settings")
        assert await page.locator(field("environment")).count() == 0  # it changes only through the switch
        await page.click('nav.environments >> text=staging')
        await page.wait_for_url(re.compile(r".*/console/settings\?environment=staging$"))
        port = page.locator('.field[data-key="smcp_port"]')
        assert await page.locator(field("smcp_port")).input_value() == "9000"
        assert "inherited from the general value" in await port.text_content()
        await page.fill(field("smcp_port"), "9400")
        await page.click("text=Review changes")
        await page.wait_for_selector("table.diff")
        assert re.search(r"smcp_port\s+9000\s+9400", await page.inner_text("table.diff"))
        await page.click("text=Apply 1 change")
        await page.wait_for_url(re.compile(r".*saved=smcp_port&environment=staging$"))
        assert await page.locator(field("smcp_port")).input_value() == "9400"
        assert "staging value" in await port.text_content()
        assert "inherited" not in await port.text_content()
        for view in ("", "?environment=production"):  # the general view and another environment's
            await page.goto(server.base + "/console/settings" + view)
            assert await page.locator(field("smcp_port")).input_value() == "9000"
        assert await stored(db_path, "smcp_port") == ("9000", 1)
        assert await env_row(db_path, "smcp_port", "staging") == ("9400", 1)
        # "Use the general value" deletes the staging value (delete_config with environment).
        await page.goto(server.base + "/console/settings?environment=staging")
        async with page.expect_navigation(url=re.compile(r".*environment=staging$")):
            await page.click('.field[data-key="smcp_port"] >> text=Use the general value')
        assert await page.locator(field("smcp_port")).input_value() == "9000"
        assert "inherited from the general value" in await port.text_content()
    assert await env_row(db_path, "smcp_port", "staging") is None
    deleted = await audit_rows(db_path, "config.delete")
    assert [(row.details["actor"], row.details.get("environment")) for row in deleted] == [("operator", "staging")]


@needs_browser
async def test_switching_the_environment_on_the_page_shows_its_preview_first_and_no_secret_reaches_the_browser(
        db_path, server, seeded, browser):
    await set_staging_values(db_path)
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        recorder = Recorder(page)
        await page.goto(server.base + "/console/settings?environment=staging")
        secret = page.locator('.field[data-key="openai_api_key"]')
        assert "staging value" in await secret.text_content()
        assert await page.locator(field("openai_api_key")).input_value() == ""
        await page.click('.field[data-key="openai_api_key"] >> text=History')
        await page.wait_for_selector(".history-table")
        await page.goto(server.base + "/console/settings")
        assert await page.text_content(".environment strong") == "development"
        before = settings_rows(db_path)
        await page.select_option("#switch-to", "staging")
        await page.click("text=Switch…")
        await page.wait_for_selector("table.switch-diff")
        shown = " ".join((await page.inner_text("table.switch-diff")).split())
        assert re.search(r"smcp_port system 9000 9400", shown)
        assert "openai_api_key" in shown
        assert settings_rows(db_path) == before  # the preview changes nothing
        async with page.expect_navigation(url=re.compile(r".*/console/settings\?switched=staging$")):
            await page.click("text=Switch to staging")
        assert await page.text_content(".environment strong") == "staging"
        bodies = await recorder.collect()
        leaks = [url for url, body in bodies if CANARY.encode() in body]
        assert leaks == []
    assert await stored(db_path, "environment") == ("staging", 2)
    switched = await audit_rows(db_path, "config.switch_environment")
    assert [row.details["actor"] for row in switched] == ["operator"]


@needs_browser
async def test_a_viewer_sees_no_switch_control_and_a_forged_switch_is_refused_as_the_tool_refuses_it(
        db_path, server, seeded, browser):
    await set_staging_values(db_path)
    async with signed_in(browser, server, seeded["vic"]) as (_context, page):
        await page.goto(server.base + "/console/settings")
        assert await page.text_content(".environment strong") == "development"
        assert await page.locator("text=Switch…").count() == 0
        assert await page.locator("#switch-to").count() == 0
        await page.goto(server.base + "/console/settings?environment=staging")
        assert await page.locator("text=Use the general value").count() == 0
        headers = {"X-CSRF-Token": await csrf_of(page), "HX-Request": "true"}
        before = settings_rows(db_path)
        refused = await page.request.post(server.base + "/console/settings/switch",
                                          form={"to": "staging", "confirm": "true"}, headers=headers)
        assert refused.status == 403
        shown = (await refused.text()).replace("&#39;", "'")
        assert settings_rows(db_path) == before
    assert await stored(db_path, "environment") == ("development", 1)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {seeded['vic']}"}, timeout=30) as http, \
            Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy") as client:
        tool_message = await call_error(client, "switch_environment", {"environment": "staging", "confirm": True})
    assert tool_message in shown


async def test_an_environment_that_is_not_one_is_refused_by_the_settings_pages_and_changes_nothing(
        db_path, server, seeded):
    http, csrf = http_sign_in(server, seeded["operator"])
    before = settings_rows(db_path)
    try:
        view = http.get("/console/settings", params={"environment": "prod"})
        assert view.status_code == 422
        assert "environment 'prod' is not one of development, staging, production" in view.text.replace("&#39;", "'")
        form = {"environment": "prod", "f.smcp_port": "9500", "o.smcp_port": "9000", "v.smcp_port": "0"}
        assert http.post("/console/settings/review", data=form, headers=csrf).status_code == 422
        inherit = http.post("/console/settings/inherit", data={"key": "smcp_port", "expected_version": "1"},
                            headers=csrf)
        assert inherit.status_code == 422 and "an environment" in inherit.text
        switch = http.post("/console/settings/switch", data={"to": "prod", "confirm": "true"}, headers=csrf)
        assert switch.status_code == 422 and "prod" in switch.text
        # A confirm without the preview's signature switches nothing: it shows the preview again.
        unsigned = http.post("/console/settings/switch", data={"to": "staging", "confirm": "true"}, headers=csrf)
        assert unsigned.status_code == 409 and "not what was previewed" in unsigned.text
    finally:
        http.close()
    assert settings_rows(db_path) == before
    assert "Traceback" not in server_log(server)


@needs_browser
async def test_reveal_is_offered_only_where_it_shows_the_value_on_screen(db_path, server, seeded, browser):
    """get_config reveals the value that applies now: with staging active and a staging secret, that
    is not the general value the general view shows, nor production's."""
    await set_staging_values(db_path)
    registry = await Registry.open(db_path)
    try:
        await registry.config.switch_environment(registry.operator, "staging", confirm=True)
    finally:
        await registry.close()
    reveal = '.field[data-key="openai_api_key"] >> text=Reveal'
    async with signed_in(browser, server, seeded["operator"]) as (_context, page):
        for view in ("", "?environment=production"):
            await page.goto(server.base + "/console/settings" + view)
            assert await page.locator(reveal).count() == 0
        await page.goto(server.base + "/console/settings?environment=staging")
        await page.click(reveal)
        await page.wait_for_selector("output.revealed")
        assert await page.text_content("output.revealed") == CANARY + "-staging"
