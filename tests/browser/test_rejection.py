"""A per-field return, as the people involved live it: a platform reviewer rejects the address
(first forgetting to describe a second field: the page keeps everything and puts the cursor
where the problem is), a colleague's page has gone stale meanwhile (not applied, with why),
and the applicant sees the reason next to the field, gets one correction wrong, then right,
and resubmits."""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.people import access_key, focused_id, open_filing, start_by_api, wait_stage
from tests.service.conftest import application, new_appid

ADDRESS = "subject.address.detail"


def field_row(page: Page, path: str) -> Locator:
    return page.locator("table.fields tr").filter(has=page.locator("small.path", has_text=re.compile(rf"^{re.escape(path)}$")))


async def test_a_returned_field_is_corrected_next_to_its_reason_and_resubmitted(console: Console):
    stack = console.stack
    appid = new_appid()
    app = application(appid)
    await start_by_api(stack, app)

    # Two platform reviewers have the filing open.
    reviewer = await console.signed_in(Role.PLATFORM_REVIEWER, sub="r-02")
    colleague = await console.signed_in(Role.PLATFORM_REVIEWER, sub="r-03")
    await open_filing(reviewer, appid)
    await open_filing(colleague, appid)

    # r-02 returns the address: "驳回此项" fills a reason row and puts the cursor on its problem.
    await field_row(reviewer, ADDRESS).locator("a.reject-this").click()
    await expect(reviewer.locator("#field_0")).to_have_value(ADDRESS)
    assert await focused_id(reviewer) == "error_0"
    await reviewer.keyboard.type("地址未写到门牌号")
    await reviewer.fill("#suggestion_0", "请填写到门牌号，如 示例路1号示例大厦1201室")
    await reviewer.select_option("#field_1", "subject_principal.email")  # ... and forgets to say what is wrong
    await reviewer.locator("#suggestion_0").press("Control+Enter")
    await expect(reviewer.locator("#problem")).to_contain_text("请更正标出的内容")
    assert await focused_id(reviewer) == "error_1"
    await expect(reviewer.locator("#error_0")).to_have_value("地址未写到门牌号")
    await expect(reviewer.locator("#field_1")).to_have_value("subject_principal.email")
    await console.screenshot(reviewer, "reject-input-kept")
    await reviewer.select_option("#field_1", "")  # the e-mail is fine after all
    await reviewer.locator("#error_0").press("Control+Enter")
    await expect(reviewer.locator("#flash")).to_contain_text("已驳回：第 1 次提交")
    await expect(reviewer).to_have_url(re.compile(rf"/filings/{appid}$"))

    # r-03's page still shows the filing under review: the approval is not applied, says why,
    # and the page shows the filing as it is now.
    await wait_stage(stack, appid, "RETURNED")
    await access_key(colleague, "a")
    await expect(colleague.locator("#problem")).to_contain_text("未生效：备案当前处于「已退回」阶段")
    await expect(colleague.locator("dd.stage")).to_have_text("已退回")

    # The applicant sees the reason at the field it names; only that field can be edited.
    applicant = await console.signed_in(Role.APPLICANT, sub="wx-admin", appids=[appid])
    await open_filing(applicant, appid)
    returned = field_row(applicant, ADDRESS)
    await expect(returned).to_have_class(re.compile("named"))
    await expect(returned).to_contain_text("退回理由：地址未写到门牌号")
    await expect(returned).to_contain_text("修改建议：请填写到门牌号")
    detail = applicant.locator(f"input[name='f:{ADDRESS}']")
    await expect(detail).to_have_value(app.subject.address.detail)
    assert await applicant.locator("input[name^='f:'], select[name^='f:']").count() == 1

    # Clearing it breaks R5: the violation appears at the field, with the focus; nothing is resubmitted.
    await detail.fill("")
    await access_key(applicant, "s")
    await expect(applicant.locator(f"[id='f:{ADDRESS}-error']")).to_be_visible()
    assert await focused_id(applicant) == f"f:{ADDRESS}"
    await console.screenshot(applicant, "resubmit-violation-at-field")
    assert (await wait_stage(stack, appid, "RETURNED"))["attempt"] == 1

    await detail.fill("示例路1号示例大厦1201室")
    await access_key(applicant, "s")
    await expect(applicant.locator("#flash")).to_contain_text("已重新提交：第 2 次提交")
    assert (await wait_stage(stack, appid, "PLATFORM_REVIEW"))["attempt"] == 2

    # The reviewer's page, reloaded, is the second attempt with the corrected address.
    await reviewer.reload()
    await expect(reviewer.locator("dl.summary")).to_contain_text("第 2 次")
    await expect(field_row(reviewer, ADDRESS)).to_contain_text("示例路1号示例大厦1201室")
