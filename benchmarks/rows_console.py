"""P8, the browser console over HTTP (sanctum_mcp/console/), on one `serve --transport http`
process and one signed-in session (keep-alive, as a browser):

- the System Settings page (GET /console/settings: every system setting through list_config, a
  widget each; ~75 settings of every kind on a database of its own, PAGE_SETTINGS) against a
  trivial page of the same app (GET /console/signin: a template, no registry read), target <= 3x;
- a settings save (POST /console/settings/apply: the session, the form, the settings read again,
  set_config with check-and-set) against the set_config tool call over HTTP (one Streamable HTTP
  session, the same check-and-set), target <= 1.25x. The review before each save is not timed.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from pathlib import Path

import bench_writes
import httpx
import httpx2
from harness import Setup, check, server_env
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from report import Row
from rows_http import http_server

from sanctum_mcp.domain.registry import Registry


# The page's own settings, added to the defaults on a database of its own, so the figure does not
# depend on which other families ran first (P5 leaves its counters on the shared small database).
# Every widget the form draws, across the four categories: ~75 settings with the defaults.
PAGE_SETTINGS = [
    *[(f"bench_port_{i:02d}", str(20000 + i), "integer", "ports", False) for i in range(15)],
    *[(f"bench_path_{i:02d}", f"/srv/sanctum/bench/{i}", "string", "paths", False) for i in range(15)],
    *[(f"bench_flag_{i:02d}", "true" if i % 2 else "false", "boolean", "general", False) for i in range(8)],
    *[(f"bench_json_{i:02d}", '{"enabled": true, "limit": %d}' % i, "json", "general", False) for i in range(7)],
    *[(f"bench_api_key_{i:02d}", f"bench-secret-{i:02d}-value", "string", "api_keys", True) for i in range(15)],
]


async def _console_db(setup: Setup) -> tuple[Path, str]:
    """A database for the page alone: the defaults and PAGE_SETTINGS; and an admin token for it."""
    path = setup.workdir / "console.db"
    registry = await Registry.open(path)
    try:
        for key, value, value_type, category, sensitive in PAGE_SETTINGS:
            await registry.config.set(registry.operator, key, value, scope="system", value_type=value_type,
                                      category=category, sensitive=sensitive, create=True)
        token = (await registry.users.create_token(registry.operator, registry.operator.username, "bench")).token
        return path, token
    finally:
        await registry.close()


async def _sign_in(http: httpx.AsyncClient, token: str) -> str:
    """Signs the client in; returns the session's CSRF token."""
    form = await http.get("/console/signin")
    pre = re.search(r'name="pre" value="([^"]+)"', form.text).group(1)
    signed = await http.post("/console/signin", data={"pre": pre, "token": token})
    assert signed.status_code == 303, signed.text
    page = await http.get("/console/settings")
    assert page.status_code == 200
    return json.loads(re.search(r"hx-headers='([^']+)'", page.text).group(1))["X-CSRF-Token"]


async def console_rows(setup: Setup, pages: int, saves: int) -> list[Row]:
    db, token = await _console_db(setup)
    port = bench_writes.free_port()
    argv = [sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--host", "127.0.0.1",
            "--port", str(port), "--no-scheduler"]
    base = f"http://127.0.0.1:{port}"
    samples: dict[str, list[float]] = {"trivial": [], "settings": [], "save": [], "set_config": []}
    with http_server(argv, server_env(db), port) as mcp_url:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http, \
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as bearer, \
                Client(streamable_http_client(mcp_url, http_client=bearer), mode="legacy") as client:
            csrf = await _sign_in(http, token)
            headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
            for i in range(pages + 10):  # alternating; the first 10 rounds warm up
                for name, path in (("trivial", "/console/signin"), ("settings", "/console/settings")):
                    started = time.perf_counter()
                    response = await http.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, path
                    if i >= 10:
                        samples[name].append(elapsed)
            version = {"smcp_port": 1, "flask_port": 1}
            for i in range(saves + 5):
                value = str(20000 + i)
                form = {"f.smcp_port": value, "o.smcp_port": "x", "v.smcp_port": str(version["smcp_port"])}
                review = await http.post("/console/settings/review", data=form, headers=headers)
                form["reviewed"] = re.search(r'name="reviewed" value="([0-9a-f]+)"', review.text).group(1)
                started = time.perf_counter()
                saved = await http.post("/console/settings/apply", data=form, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert saved.status_code == 204, saved.text
                version["smcp_port"] += 1
                if i >= 5:
                    samples["save"].append(elapsed)
                started = time.perf_counter()
                result = await client.call_tool("set_config", {"key": "flask_port", "value": value,
                                                               "expected_version": version["flask_port"]})
                elapsed = (time.perf_counter() - started) * 1000
                check(result, "set_config")
                version["flask_port"] += 1
                if i >= 5:
                    samples["set_config"].append(elapsed)
    m = {name: statistics.median(values) for name, values in samples.items()}
    return [
        Row("P8 console: System Settings page", m["settings"],
            baseline="the sign-in page, same app", base=m["trivial"], limit=3.0),
        Row("P8 console: settings save (one key)", m["save"],
            baseline="set_config over HTTP (a session)", base=m["set_config"], limit=1.25),
    ]
