"""What the console's browser tests share: Debian's chromium driven by Playwright (never a
downloaded browser build), the skip that says why when either is missing, one browser per test,
and the CSRF token a signed-in page carries."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

try:
    from playwright.async_api import BrowserContext, Page, async_playwright
except ImportError:  # pragma: no cover - the reason is reported by the skip below
    async_playwright = None  # type: ignore[assignment]
    BrowserContext = Page = Any  # type: ignore[assignment,misc]

needs_browser = pytest.mark.skipif(
    async_playwright is None or CHROMIUM is None,
    reason="browser tests need Playwright's Python package (pip install -e '.[test]') and Debian's chromium "
           "(apt-get install -y chromium; .ci/run does it): "
           + ("playwright is not installed" if async_playwright is None else "no chromium on PATH"),
)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


async def csrf_of(page: Page) -> str:
    return json.loads(await page.get_attribute("body", "hx-headers"))["X-CSRF-Token"]
