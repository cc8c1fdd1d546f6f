"""Screenshots of the browser console's main pages, from the real console, into docs/img/.

    .venv/bin/python docs/screenshots.py

Creates a registry with the example Sanctum in a temporary folder (`sanctum-mcp init --example`),
starts `sanctum-mcp serve --transport http` on a free 127.0.0.1 port, signs in with a new admin
token in Debian's chromium (Playwright with executable_path; no browser download) and saves:
signin.png, overview.png, settings.png (System Settings, a refused value next to its field) and
settings-review.png (the diff before Apply); then the pages after it: objects.png (an agent's
settings with where each value comes from), plugins.png (the cascade shown before a disable),
jobs.png, logs.png, backups.png (the typed confirmation of a restore) and users.png (a new token,
shown once). Colour emoji need fonts-noto-color-emoji.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "img"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "sanctum_mcp", *args], env=env, capture_output=True, text=True,
                          check=True, timeout=120)
    return done.stdout


async def shoot(base: str, token: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await page.goto(base + "/")
        await page.screenshot(path=OUT / "signin.png")
        await page.fill("#token", token)
        await page.click("button[type=submit]")
        await page.wait_for_url(base + "/")
        await page.screenshot(path=OUT / "overview.png", full_page=True)
        await page.goto(base + "/console/settings")
        await page.fill('[name="f.flask_port"]', "5050")
        await page.fill('[name="f.smcp_port"]', "70000")
        await page.click("text=Review changes")
        await page.wait_for_selector(".field-error:not(:empty)")
        await page.screenshot(path=OUT / "settings.png", full_page=True)
        await page.fill('[name="f.smcp_port"]', "9001")
        await page.click("text=Review changes")
        await page.wait_for_selector("table.diff")
        await page.locator("#review").scroll_into_view_if_needed()
        await page.screenshot(path=OUT / "settings-review.png")
        await shoot_pages(base, page)
        await browser.close()


async def shoot_pages(base: str, page) -> None:
    """The pages after System Settings (console/pages/: objects, plugins, jobs, logs, backups, users)."""
    await page.goto(base + "/console/objects?agent=athena")
    await page.screenshot(path=OUT / "objects.png", full_page=True)
    await page.goto(base + "/console/plugins?plugin=core")
    await page.click("text=Disable…")
    await page.wait_for_selector(".cascade")
    await page.screenshot(path=OUT / "plugins.png", full_page=True)
    await page.goto(base + "/console/jobs")
    await page.screenshot(path=OUT / "jobs.png", full_page=True)
    await page.goto(base + "/console/logs?limit=25")
    await page.screenshot(path=OUT / "logs.png")
    await page.goto(base + "/console/backups")
    await page.fill('#create input[name="name"]', "before-upgrade")
    await page.click("text=Create backup")
    await page.wait_for_selector('.backup[data-name="before-upgrade"]')
    await page.click('.backup[data-name="before-upgrade"] >> text=Restore…')
    await page.fill('#restore input[name="typed"]', "before-upgr")
    await page.screenshot(path=OUT / "backups.png", full_page=True)
    await page.goto(base + "/console/users")
    await page.fill('.user-row[data-name="operator"] input[name="name"]', "letta")
    await page.click('.user-row[data-name="operator"] >> button:has-text("New token")')
    await page.wait_for_selector("#result .new-token")
    # The token is a real one of a throwaway registry; the picture shows its shape, not its value, so
    # that no credential-looking string is committed.
    await page.eval_on_selector("#result .new-token", "e => e.textContent = 'sanctum_' + '•'.repeat(43)")
    await page.screenshot(path=OUT / "users.png", full_page=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")}
        env["SANCTUM_MCP_DB"] = str(Path(folder) / "registry.db")
        cli(env, "init", "--example")
        # Plugins for the plugins page: ui needs core (the example has none).
        cli(env, "plugins", "register", "core", "--type", "extension", "--version", "1.2.0")
        cli(env, "plugins", "register", "ui", "--type", "extension", "--version", "0.3.0", "--dependencies", "core>=1.0")
        token = cli(env, "user", "token", "operator").split()[0]
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "sanctum_mcp", "serve", "--transport", "http", "--port",
                                   str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            asyncio.run(shoot(base, token))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print("\n".join(str(path.relative_to(REPO)) for path in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
