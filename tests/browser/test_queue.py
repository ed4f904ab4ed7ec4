"""A desk's queue: oldest deadline first, page by page, filtered by kind and by overdue."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.people import start_by_api
from tests.service.conftest import application, new_appid


async def rows(page: Page) -> list[tuple[str, str]]:
    """(deadline, appid) of each row, as shown."""
    cells = page.locator("table.queue tbody tr")
    return [(await row.locator("td").nth(0).inner_text(), await row.locator("a.appid").inner_text())
            for row in await cells.all()]


async def test_the_platform_queue_pages_by_deadline_and_filters(console: Console):
    stack = console.stack
    mine = {new_appid(), new_appid()}
    for appid in sorted(mine):
        await start_by_api(stack, application(appid))
    reviewer = await console.signed_in(Role.PLATFORM_REVIEWER, sub="r-09")

    await reviewer.goto("/queue?size=1")
    await expect(reviewer.locator("#size")).to_have_value("1")
    seen: list[tuple[str, str]] = []
    while True:
        page_rows = await rows(reviewer)
        assert len(page_rows) == 1
        seen += page_rows
        following = reviewer.locator("a[rel=next]")
        if not await following.count():
            break
        await following.click()
        await expect(reviewer.locator("a[rel=first]")).to_be_visible()
    assert mine <= {appid for _, appid in seen}
    assert len({appid for _, appid in seen}) == len(seen)  # no filing twice across pages
    # `2026-12-09 24:00（北京时间）`: a day's 24:00 sorts after its other times and before the next day.
    deadlines = [re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", text)[0] for text, _ in seen]  # type: ignore[index]
    assert deadlines == sorted(deadlines)  # oldest deadline first

    await reviewer.select_option("#kind", "CHANGE")
    await reviewer.click("form.filters button[type=submit]")
    await expect(reviewer.locator("#kind")).to_have_value("CHANGE")
    assert not mine & {appid for _, appid in await rows(reviewer)}
    await reviewer.goto("/queue?overdue=1")
    await expect(reviewer.locator("input[name=overdue]")).to_be_checked()
    assert not mine & {appid for _, appid in await rows(reviewer)}  # new filings are far from their deadline
