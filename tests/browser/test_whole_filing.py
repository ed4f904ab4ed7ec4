"""A filing carried from its submission to APPROVED through the console's pages alone, over
the days it takes, by four people in four browsers: the applicant, the platform reviewer,
the verifier at the MIIT site and the provincial reviewer. Each signs in on the login page;
the reviewers work with the keyboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.async_api import expect
from sqlalchemy import create_engine, select

from filing.masking import mask_mobile
from registry.tables import audit_reads
from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.people import (
    access_key,
    application_file,
    focused_id,
    sign_in,
    subject_on_record,
    wait_stage,
    wait_status,
)
from tests.service.conftest import application, new_appid


def audit_actions(console: Console, appid: str) -> list[tuple[str, str]]:
    engine = create_engine(console.stack.settings.registry_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(audit_reads).where(audit_reads.c.appid == appid))
            return [(row.actor, row.action) for row in rows]
    finally:
        engine.dispose()


async def test_a_filing_from_submission_to_approved_through_the_pages(console: Console, tmp_path: Path):
    stack = console.stack
    appid = new_appid()
    subject_number = await subject_on_record(stack, new_appid(), company=appid)  # the company filed one years ago
    app = application(appid)
    app = app.model_copy(update={"subject": app.subject.model_copy(update={"subject_number": subject_number})})
    person = app.subject_principal

    # Day 1, morning: the applicant has uploaded the scans (`filings materials add`), signs in,
    # sees the mini-program not filed yet, and submits the file.
    await stack.upload_materials(stack.auth(Role.APPLICANT, sub="wx-admin-zhang", appids=[appid]))
    applicant = await console.page()
    await sign_in(applicant, Role.APPLICANT, "wx-admin-zhang", appids=appid)
    await expect(applicant).to_have_url(re.compile(r"/mine$"))
    await expect(applicant.locator("main table")).to_contain_text("尚未提交备案")
    await applicant.get_by_role("link", name="提交备案").first.click()
    # The first file gives the principal's own mobile as the emergency contact (R4): nothing starts,
    # the violation is named by its field's label, and the text stays for correcting in place.
    careless = app.model_copy(update={"subject_principal": person.model_copy(update={"emergency_mobile": person.mobile})})
    await applicant.set_input_files("#file", str(application_file(tmp_path, careless)))
    await access_key(applicant, "s")
    await expect(applicant.locator("ul.violations")).to_contain_text("应急联系人手机号码")
    await expect(applicant.locator("#application")).to_have_value(re.compile(re.escape(person.mobile)))
    await applicant.set_input_files("#file", str(application_file(tmp_path, app)))
    await access_key(applicant, "s")
    await expect(applicant.locator("#flash")).to_contain_text("已提交备案申请")
    await expect(applicant.locator("h1 .appid")).to_have_text(appid)

    # Day 1, afternoon: the platform reviewer finds it in the queue, reads it with its scans, approves.
    await wait_stage(stack, appid, "PLATFORM_REVIEW")
    platform = await console.page()
    await sign_in(platform, Role.PLATFORM_REVIEWER, "r-01")
    row = platform.locator("table.queue tbody tr").filter(has=platform.locator(f"a.appid:text-is('{appid}')"))
    await expect(row).to_contain_text("新增备案")
    await expect(row).to_contain_text("第 1 次")
    await expect(row).to_contain_text(re.compile(r"剩余 \d+ 天 \d+ 小时"))
    queue_html = await platform.content()
    assert person.mobile not in queue_html and person.name not in queue_html  # a queue shows no personal data
    await console.screenshot(platform, "queue", docs="queue.png")
    await row.locator("a.appid").click()
    for title in ("主体信息", "主体负责人", "小程序信息", "小程序负责人"):
        await expect(platform.locator("section.group h2", has_text=title)).to_be_visible()
    principal_group = platform.locator("#g-subject_principal")
    await expect(principal_group).to_contain_text(person.mobile)  # in clear, for the reviewer
    await expect(principal_group).to_contain_text(person.identity_document.number)
    scans = principal_group.locator("a.material img")
    await expect(scans).to_have_count(2)  # the identity card's front and back
    for scan in await scans.all():
        await expect(scan).to_be_visible()
        # A scan is fetched (and audited) after the page: wait for it to load, as the reviewer does.
        await scan.evaluate("img => img.complete ? null : new Promise(done => { img.onload = img.onerror = done; })")
        assert await scan.evaluate("img => img.complete && img.naturalWidth > 0"), "a scan did not load"
    await expect(platform.locator("section.timeline")).to_contain_text("进入平台初审")
    await console.screenshot(platform, "filing-platform")
    await access_key(platform, "a")  # 通过初审
    await expect(platform.locator("#flash")).to_contain_text("已通过：第 1 次提交")
    await expect(platform).to_have_url(re.compile(rf"/filings/{appid}$"))  # the same page, after the decision

    # Day 2: the 12381 SMS reaches the principal's phone; at the MIIT site they mistype it once.
    await wait_stage(stack, appid, "SMS_VERIFICATION")
    code = await stack.sms_code(person.mobile)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    site = await console.page()
    await sign_in(site, Role.VERIFICATION_SITE, "miit-site")
    await expect(site).to_have_url(re.compile(r"/verify$"))
    await expect(site.locator("#appid")).to_have_count(0)  # the verifier has the SMS, not the AppID
    await site.fill("#mobile", person.mobile)
    await site.fill("#code", wrong)
    await site.fill("#id_last6", person.identity_document.number[-6:])
    await site.keyboard.press("Enter")
    await expect(site.locator("#code-error")).to_have_text("验证码或证件号码后6位有误，您还可以输入 4 次")
    assert await focused_id(site) == "code"  # straight back to the code, the rest kept
    await console.screenshot(site, "verify-wrong-code")
    await expect(site.locator("#mobile")).to_have_value(person.mobile)

    # Unsure of the SMS, the applicant asks for a new code on the filing's page; the old one is void.
    await applicant.reload()
    await expect(applicant.locator("section.sms")).to_contain_text("待核验")
    await applicant.get_by_role("button", name="重发验证码（剩余 1 次）").click()
    await expect(applicant.locator("#flash")).to_contain_text(f"新验证码即将发送至 {mask_mobile(person.mobile)}")
    code = await stack.sms_code(person.mobile, nth=2)
    await wait_status(stack, appid, "the new code is out", lambda s: s["sms"]["verifiers"][0]["attempts_left"] == 5)
    await site.keyboard.type(code)
    await site.keyboard.press("Enter")
    await expect(site.locator("#flash")).to_contain_text("短信核验成功。全部核验人已完成核验")

    # Day 3: the provincial reviewer of 冀 is offered the subject's next number, sees its filing on
    # record, and approves from the keyboard.
    await wait_stage(stack, appid, "PROVINCIAL_REVIEW")
    province = await console.page()
    await sign_in(province, Role.PROVINCE_REVIEWER, "冀-07", province="冀")
    await province.locator(f"a.appid:text-is('{appid}')").click()
    await expect(province.locator("#filing_number")).to_have_value(f"{subject_number}-2X")
    await expect(province.locator("section.registry")).to_contain_text(f"{subject_number}-1X")
    await expect(province.locator("section.registry")).to_contain_text("示例旧小程序")
    await console.screenshot(province, "filing-province", docs="filing.png")
    # A slip first: the number of the subject's earlier mini-program. The registry refuses it (L8):
    # not applied, why at the number, the typing kept, the cursor there to correct it.
    await access_key(province, "a")
    assert await focused_id(province) == "filing_number"
    await province.fill("#filing_number", f"{subject_number}-1X")
    await province.keyboard.press("Enter")
    await expect(province.locator("[id='filing_number-error']")).to_contain_text("已发放给其他小程序")
    await expect(province.locator("#problem")).to_contain_text("未生效")
    await expect(province.locator("#filing_number")).to_have_value(f"{subject_number}-1X")
    assert await focused_id(province) == "filing_number"
    await province.fill("#filing_number", f"{subject_number}-2X")
    await province.keyboard.press("Enter")
    await expect(province.locator("#flash")).to_contain_text(f"备案号 {subject_number}-2X")

    # The applicant's page shows the number.
    await wait_stage(stack, appid, "APPROVED")
    await applicant.reload()
    await expect(applicant.locator("dd.stage")).to_have_text("备案成功")
    await expect(applicant.locator("dd.number")).to_have_text(f"{subject_number}-2X")

    # Every clear read was audited, under the reader's name.
    actions = audit_actions(console, appid)
    assert ("r-01", "read_application") in actions and ("r-01", "read_material") in actions
    assert ("冀-07", "read_application") in actions
    assert not any(actor == "miit-site" for actor, _ in actions)  # the verification site reads nothing
    log = stack.service.log.read_text(encoding="utf-8")
    for secret in (person.mobile, person.identity_document.number, code):
        assert secret not in log
    assert json.dumps(person.name)[1:-1] not in log
