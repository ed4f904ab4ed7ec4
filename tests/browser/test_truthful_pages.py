"""Pages that tell the truth after every action (issue 19, items 2 and 3).

The reviewers' sequence that failed: after 通过初审 the page still showed 平台初审 with the
approve button (pressing it again said the page was stale), and the red 退回理由 box of
attempt 1 stayed on every page through attempt 2. And an applicant's 注销小程序 from the
console, its 12381 SMS verified on /verify, ending worded as what it is: 注销成功, never
备案成功.
"""

from __future__ import annotations

import re
import secrets

from playwright.async_api import expect

from filing.ids import uscc_check_char
from filing.masking import mask_mobile
from filing.models import Application
from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.people import open_filing, start_by_api, wait_stage
from tests.service.conftest import application, filed_long_ago, new_appid

ADDRESS = "subject.address.detail"


def own_company(appid: str) -> Application:
    """An application of a company of its own (a certificate no other test's filing holds: the
    registry knows a subject by its certificate, one subject number each)."""
    app = application(appid)
    first17 = f"91130000MA{secrets.randbelow(10**7):07d}"
    assert app.subject.unit_certificate is not None
    certificate = app.subject.unit_certificate.model_copy(update={"number": first17 + uscc_check_char(first17)})
    return app.model_copy(update={"subject": app.subject.model_copy(update={"unit_certificate": certificate})})


async def test_after_each_reviewer_action_the_page_shows_the_new_state(console: Console):
    stack = console.stack
    appid = new_appid()
    app = application(appid)
    await start_by_api(stack, app)

    # The platform reviewer returns the address.
    reviewer = await console.signed_in(Role.PLATFORM_REVIEWER, sub="r-11")
    await open_filing(reviewer, appid)
    await reviewer.select_option("#field_0", ADDRESS)
    await reviewer.fill("#error_0", "地址未写到门牌号")
    await reviewer.get_by_role("button", name=re.compile("^驳回")).click()
    await expect(reviewer.locator("#flash")).to_contain_text("已驳回：第 1 次提交")
    await expect(reviewer.locator("dd.stage")).to_have_text("已退回")  # the new state, at once
    await expect(reviewer.locator("#decision")).to_have_count(0)  # no form for a desk the filing left

    # The applicant sees the return: the red box names the field by its label, the path as a hint.
    applicant = await console.signed_in(Role.APPLICANT, sub="wx-admin-truth", appids=[appid])
    await open_filing(applicant, appid)
    await expect(applicant.locator("section.returned")).to_be_visible()
    await expect(applicant.locator("tr.named")).to_contain_text("详细通讯地址")
    await console.screenshot(applicant, "returned", docs="returned.png")
    await applicant.locator(f"input[name='f:{ADDRESS}']").fill("示例路1号示例大厦1201室")
    await applicant.get_by_role("button", name=re.compile("^重新提交")).click()
    await expect(applicant.locator("#flash")).to_contain_text("已重新提交：第 2 次提交")
    # Attempt 2: the reasons of attempt 1 are history, collapsed; no red box any more.
    await expect(applicant.locator("section.returned")).to_have_count(0)
    history = applicant.locator("details#earlier-reasons")
    await expect(history.locator("summary")).to_contain_text("第 1 次提交的退回理由（已重新提交")
    assert not await history.evaluate("d => d.open"), "earlier reasons are collapsed"
    await history.locator("summary").click()
    await expect(history).to_contain_text("详细通讯地址")
    await expect(history).to_contain_text("地址未写到门牌号")

    # The reviewer approves attempt 2: the page after the redirect is the filing's next stage
    # (or "已通过，正在流转…" while the engine sends the codes), never the approve button again.
    await wait_stage(stack, appid, "PLATFORM_REVIEW")
    await open_filing(reviewer, appid)
    await expect(reviewer.locator("dl.summary")).to_contain_text("第 2 次")
    await expect(reviewer.locator("section.returned")).to_have_count(0)
    await expect(reviewer.locator("details#earlier-reasons")).to_be_attached()
    await reviewer.get_by_role("button", name=re.compile("^通过初审")).click()
    await expect(reviewer.locator("#flash")).to_contain_text("已通过：第 2 次提交")
    await expect(reviewer.locator("dd.stage")).to_have_text(re.compile("^(工信部短信核验|已通过，正在流转…)$"))
    await expect(reviewer.get_by_role("button", name=re.compile("^通过初审"))).to_have_count(0)
    await expect(reviewer.locator("#decision")).to_have_count(0)


async def test_an_applicant_cancels_a_mini_program_from_the_console(console: Console):
    stack = console.stack
    appid = new_appid()
    app = own_company(appid)
    number = await filed_long_ago(stack, app)
    person = app.subject_principal  # also the mini-program's principal on record

    # 我的备案 lists the filing on record with its cancellations.
    applicant = await console.signed_in(Role.APPLICANT, sub="wx-admin-cancel", appids=[appid])
    await applicant.goto("/mine")
    row = applicant.locator("#on-record tbody tr").filter(has_text=number)
    await row.get_by_role("link", name="注销小程序").click()
    await expect(applicant.locator("#kind-CANCEL_MINI_PROGRAM")).to_be_checked()

    # 下一步 without a reason: each field named with what is valid; nothing is started.
    await applicant.get_by_role("button", name=re.compile("^下一步")).click()
    await expect(applicant.locator("[id='reason_type-error']")).to_contain_text("不再运营该小程序")
    await expect(applicant.locator("[id='reason-error']")).to_contain_text("注销原因：必填")
    await applicant.select_option("#reason_type", "NO_LONGER_OPERATED")
    await applicant.fill("#reason", "业务调整，停止运营")
    await applicant.get_by_role("button", name=re.compile("^下一步")).click()

    # The confirmation says what will happen: the SMS to the principal on record (masked), no withdrawal.
    facts = applicant.locator("#what-happens")
    await expect(facts).to_contain_text(number)
    await expect(applicant.locator("#sms-to")).to_contain_text(f"小程序负责人（备案库中登记的手机 {mask_mobile(person.mobile)}）")
    await expect(applicant.locator("#no-withdraw")).to_contain_text("不能撤回")
    assert person.mobile not in await applicant.content()
    await applicant.locator("#confirm").click()
    await expect(applicant.locator("#flash")).to_contain_text("已提交注销小程序申请")
    await expect(applicant.locator("#cancellation-progress")).to_be_visible()
    await expect(applicant.locator("dd.stage")).to_have_text(re.compile("^(已提交|工信部短信核验)$"))

    # The 12381 SMS reaches the principal; the MIIT site verifies mobile + code + id_last6.
    await wait_stage(stack, appid, "SMS_VERIFICATION")
    code = await stack.sms_code(person.mobile)
    site = await console.signed_in(Role.VERIFICATION_SITE, sub="miit-cancel")
    await site.goto("/verify")
    await site.fill("#mobile", person.mobile)
    await site.fill("#code", code)
    await site.fill("#id_last6", person.identity_document.number[-6:])
    await site.keyboard.press("Enter")
    await expect(site.locator("#flash")).to_contain_text("短信核验成功")

    # The province approves the cancellation; its page and the applicant's say 注销成功, not 备案成功.
    await wait_stage(stack, appid, "PROVINCIAL_REVIEW")
    province = await console.signed_in(Role.PROVINCE_REVIEWER, sub="冀-cancel", province="冀")
    await open_filing(province, appid)
    await province.get_by_role("button", name=re.compile("^通过")).click()
    await expect(province.locator("#flash")).to_contain_text("注销成功")
    await expect(province.locator("dd.stage")).to_have_text("注销成功")
    await wait_stage(stack, appid, "APPROVED")
    await applicant.reload()
    await expect(applicant.locator("dd.stage")).to_have_text("注销成功")
    await expect(applicant.locator("#cancellation-outcome")).to_contain_text("该小程序的备案已注销")
    assert "备案成功" not in await applicant.locator("main").inner_text()
    await applicant.goto("/mine")
    await expect(applicant.locator("main table").first).to_contain_text("注销成功")
    await expect(applicant.locator("#on-record")).to_contain_text("已注销")
