"""The applicant's page in Chromium while the province reviews: 通管局预计何时作出决定 with the
province's figure and the expected day. Its page is docs/screenshots/forecast.png
(FILINGS_UPDATE_SCREENSHOTS=1), the picture the README shows."""

from __future__ import annotations

import pytest

from service.principal import Role
from tests.browser.conftest import Console
from tests.service.conftest import new_appid
from tests.service.test_forecast import DAYS, seed, to_provincial_review

pytestmark = pytest.mark.integration


async def test_the_applicant_sees_when_the_province_will_decide(console: Console) -> None:
    stack = console.stack
    seed(stack, "琼", DAYS)
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="hn-admin", appids=[appid])
    await to_provincial_review(stack, appid, "海南省", applicant)
    page = await console.signed_in(Role.APPLICANT, sub="hn-admin", appids=[appid])
    await page.goto(f"/filings/{appid}")
    section = page.locator("#forecast")
    await section.wait_for()
    said = await section.inner_text()
    assert "海南通管局近 90 天：中位 6 个工作日，90% 在 11 个工作日内" in said
    assert "按工作日历预计" in said and "前后作出决定" in said
    await console.screenshot(page, "forecast", docs="forecast.png")
