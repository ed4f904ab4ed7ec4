"""The decision forms with JavaScript turned off: plain HTML forms and links, round trips to
the server, nothing lost on the way. A platform reject with more reasons than the form
first shows, the applicant's correction, the platform's approval by access key, two wrong
codes at the verification page, and a provincial reject."""

from __future__ import annotations

import re

from playwright.async_api import expect

from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.people import access_key, focused_id, open_filing, start_by_api, wait_stage
from tests.browser.test_rejection import field_row
from tests.service.conftest import application, new_appid


async def test_the_decision_forms_work_without_javascript(console: Console):
    stack = console.stack
    appid = new_appid()
    app = application(appid)
    person = app.subject_principal
    await start_by_api(stack, app)

    platform = await console.signed_in(Role.PLATFORM_REVIEWER, sub="r-04", javascript=False)
    await open_filing(platform, appid)
    # "驳回此项" is a link: the page comes back with the row filled and the cursor on its problem
    # (a navigation: with scripts on, the row would be filled in place).
    async with platform.expect_navigation():
        await field_row(platform, "mini_program.name").locator("a.reject-this").click()
    await expect(platform.locator("#field_0")).to_have_value("mini_program.name")
    assert await focused_id(platform) == "error_0"
    await platform.keyboard.type("名称与小程序实际名称不符")
    # More rows than the form shows: a round trip, keeping what was typed.
    async with platform.expect_navigation():
        await platform.click("form.reject button.more")
    await expect(platform.locator("[data-reason]")).to_have_count(6)
    await expect(platform.locator("#error_0")).to_have_value("名称与小程序实际名称不符")
    assert await focused_id(platform) == "field_3"
    await platform.select_option("#field_3", "mini_program.service_categories[0]")
    await platform.fill("#error_3", "服务类目与小程序内容不符")
    await platform.click("form.reject button.danger")
    await expect(platform.locator("#flash")).to_contain_text("已驳回：第 1 次提交")

    # The applicant corrects the name (the category stays as it is) and resubmits.
    await wait_stage(stack, appid, "RETURNED")
    applicant = await console.signed_in(Role.APPLICANT, sub="wx-admin", appids=[appid], javascript=False)
    await open_filing(applicant, appid)
    assert await applicant.locator("input[name^='f:'], select[name^='f:']").count() == 2
    await applicant.fill("input[name='f:mini_program.name']", "示例小程序正式版")
    await applicant.click("#resubmit button[type=submit]")
    await expect(applicant.locator("#flash")).to_contain_text("已重新提交：第 2 次提交")

    # The platform reviewer approves the second attempt by its access key.
    await wait_stage(stack, appid, "PLATFORM_REVIEW")
    await platform.reload()
    await expect(field_row(platform, "mini_program.name")).to_contain_text("示例小程序正式版")
    await access_key(platform, "a")
    await expect(platform.locator("#flash")).to_contain_text("已通过：第 2 次提交")

    # Two wrong codes at the verification page: attempts left each time, the typing kept.
    await wait_stage(stack, appid, "SMS_VERIFICATION")
    code = await stack.sms_code(person.mobile)
    site = await console.signed_in(Role.VERIFICATION_SITE, sub="miit-site-2", javascript=False)
    await site.goto(f"/filings/{appid}")  # a link to the filing leads the verification site to the page
    await expect(site).to_have_url(re.compile(r"/verify$"))
    await expect(site.locator("#appid")).to_have_count(0)  # no AppID asked: the mobile finds the filing
    assert await focused_id(site) == "mobile"
    await site.fill("#mobile", person.mobile)
    await site.fill("#id_last6", person.identity_document.number[-6:])
    for left in (4, 3):
        await site.fill("#code", f"{(int(code) + left) % 10**6:06d}")
        await site.click("form.stack button[type=submit]")
        await expect(site.locator("#code-error")).to_have_text(f"验证码或证件号码后6位有误，您还可以输入 {left} 次")
        await expect(site.locator("#code")).to_have_value("")
        await expect(site.locator("#id_last6")).to_have_value(person.identity_document.number[-6:])
    await site.fill("#code", code)
    await site.click("form.stack button[type=submit]")
    await expect(site.locator("#flash")).to_contain_text("短信核验成功")

    # The provincial reviewer rejects, with the reason's field picked from the list.
    await wait_stage(stack, appid, "PROVINCIAL_REVIEW")
    province = await console.signed_in(Role.PROVINCE_REVIEWER, sub="冀-09", province="冀", javascript=False)
    await open_filing(province, appid)
    await province.select_option("#field_0", "subject.address.detail")
    await province.fill("#error_0", "通讯地址与营业执照不一致")
    await province.fill("#suggestion_0", "请按营业执照填写住所")
    await province.click("form.reject button.danger")
    await expect(province.locator("#flash")).to_contain_text("已驳回：第 2 次提交")
    returned = await wait_stage(stack, appid, "RETURNED")
    assert returned["returned"]["by"] == "PROVINCE"
    await applicant.reload()
    await expect(applicant.locator("#returned-title")).to_contain_text("通管局审核")
    await expect(field_row(applicant, "subject.address.detail")).to_contain_text("通讯地址与营业执照不一致")
    await expect(applicant).to_have_url(re.compile(rf"/filings/{appid}$"))
