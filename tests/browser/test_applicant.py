"""The applicant's own acts on the filing's page: a withdrawal before review, and one that
comes too late — the platform approved while the reason was being typed: the page says why,
shows where the filing is now, and keeps the typing."""

from __future__ import annotations

from playwright.async_api import expect

from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.people import open_filing, start_by_api, wait_stage
from tests.service.conftest import application, key, new_appid

REASON = "信息填写有误，撤回后重新申请"


async def test_an_applicant_withdraws_before_review_and_is_told_why_not_after(console: Console):
    stack = console.stack
    early, late = new_appid(), new_appid()
    await start_by_api(stack, application(early))
    await start_by_api(stack, application(late))
    applicant = await console.signed_in(Role.APPLICANT, sub="wx-admin-li", appids=[early, late])
    await applicant.goto("/mine")
    for appid in (early, late):
        await expect(applicant.locator("main tr").filter(has_text=appid)).to_contain_text("平台初审")

    # Late: the platform approves while the applicant is typing the reason.
    await open_filing(applicant, late)
    await applicant.fill("#reason", REASON)
    approved = await stack.http.post(f"/v1/filings/{late}/platform-decision", json={"decision": "approve"},
                                     headers=stack.auth(Role.PLATFORM_REVIEWER, sub="r-08") | key())
    assert approved.status_code == 200, approved.text
    await wait_stage(stack, late, "SMS_VERIFICATION")
    await applicant.click("section.withdraw button[type=submit]")
    await expect(applicant.locator("#problem")).to_contain_text(
        "未生效：只有已提交、平台初审（通过前）和已退回的备案可以撤回；备案当前处于「工信部短信核验」")
    await expect(applicant.locator("dd.stage")).to_have_text("工信部短信核验")
    await expect(applicant.locator("#reason")).to_have_value(REASON)

    # Early: withdrawn; the page says so and offers nothing more.
    await open_filing(applicant, early)
    await applicant.fill("#reason", REASON)
    await applicant.click("section.withdraw button[type=submit]")
    await expect(applicant.locator("#flash")).to_contain_text("已撤回该备案申请")
    await wait_stage(stack, early, "WITHDRAWN")
    await applicant.reload()
    await expect(applicant.locator("dd.stage")).to_have_text("已撤回")
    await expect(applicant.locator("section.withdraw")).to_have_count(0)
    await expect(applicant.locator("section.timeline")).to_contain_text(REASON)
