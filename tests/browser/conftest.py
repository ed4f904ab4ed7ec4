"""The console in a real browser: Debian's Chromium driven by Playwright, against the real
filing service process of `tests/service/conftest.py` (its dev server, worker and data dir).

Never a browser download: Playwright is pointed at /usr/bin/chromium (`make system`
installs it). Each test's last page is saved as a screenshot under tests/screenshots/;
with FILINGS_UPDATE_SCREENSHOTS=1 the queue and a filing's page are also copied to
docs/screenshots/ (the pictures the README shows).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from service.principal import Role
from tests.service.conftest import Stack
from tests.service.console_login import sign_in

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "tests" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
#: Every wait of a page (navigation, a selector) gives up after this many milliseconds.
PAGE_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="session")
async def chromium(playwright: Playwright) -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make system` installs Debian's chromium (and fonts-wqy-zenhei), "
                    "the browser these tests drive; they never download one")
    browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        await browser.close()


class Console:
    """Browser contexts for people signed in to the console; remembers the last page shown."""

    def __init__(self, service: Stack, browser: Browser, name: str) -> None:
        self.stack = service
        self.browser = browser
        self.name = name
        self.contexts: list[BrowserContext] = []
        self.last: Page | None = None

    @property
    def url(self) -> str:
        return self.stack.service.url

    async def page(self, *, javascript: bool = True, base_url: str | None = None) -> Page:
        """A fresh browser (context) with no session."""
        context = await self.browser.new_context(
            base_url=base_url or self.url, java_script_enabled=javascript, locale="zh-CN",
            timezone_id="Asia/Shanghai", viewport={"width": 1360, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("load", lambda p: setattr(self, "last", p))
        self.last = page
        return page

    async def signed_in(self, role: Role, *, javascript: bool = True, sub: str | None = None,
                        province: str | None = None, appids: Iterable[str] = ()) -> Page:
        """A browser signed in as `role` by the development login (its session cookie, as the login page sets it)."""
        page = await self.page(javascript=javascript)
        session = await sign_in(self.url, role, sub=sub or f"{Role(role).value}-{secrets.token_hex(3)}",
                                province=province, appids=appids)
        await page.context.add_cookies([{"name": "filings_session", "value": session, "url": self.url,
                                         "httpOnly": True, "sameSite": "Lax"}])
        return page

    async def screenshot(self, page: Page, name: str, *, docs: str | None = None) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        if docs and os.environ.get("FILINGS_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / docs)
        return path

    async def close(self) -> None:
        try:
            if self.last is not None and not self.last.is_closed():
                await self.screenshot(self.last, self.name)
        except PlaywrightError as err:  # a failed test's page may be mid-navigation: keep its own error
            print(f"no screenshot of {self.name}: {err}")
        finally:
            for context in self.contexts:
                await context.close()


@pytest.fixture
async def console(started: Stack, chromium: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Console]:  # noqa: F811
    """The test's browsers; at the end (also on failure) its last page becomes a screenshot."""
    helper = Console(started, chromium, re.sub(r"[^\w.-]+", "_", request.node.name))
    try:
        yield helper
    finally:
        await helper.close()
