"""The applicant's form in Debian's Chromium: a NEW filed entirely in the browser (typed,
real JPEG/PNG/PDF files uploaded as they are chosen, a file refused at once, a violation
shown as the person moves on and again on 提交 with everything kept, then corrected and
submitted), carried to approval through the API, then a CHANGE from the filing on record;
and the form walked by keyboard alone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from playwright.async_api import Page, expect

from filing.dates import CHINA_TZ
from filing.examples import example_jpeg, example_pdf, example_png
from service.console import apply_form as af
from service.principal import Role
from tests.browser.conftest import PAGE_TIMEOUT_MS, Console
from tests.service.conftest import Stack, application, as_json, fresh_subject_number, key, new_appid

FILES = {
    "subject.unit_certificate.scan": ("营业执照.jpg", "image/jpeg", lambda: example_jpeg((238, 214, 190))),
    "subject_principal.identity_document.front": ("身份证人像面.png", "image/png", lambda: example_png((190, 214, 246))),
    "subject_principal.identity_document.back": ("身份证国徽面.png", "image/png", lambda: example_png((176, 226, 190))),
}


def _id(name: str) -> str:
    return af.Field(name, "text").id


async def fill(page: Page, values: dict[str, Any]) -> None:
    """Types the values as a person would: selects, radios and boxes by what they show."""
    for name, value in values.items():
        if re.fullmatch(r"[0-9a-f]{64}", str(value)) or name.startswith("extra:") or name == "kind":
            continue  # materials are chosen as files
        target = page.locator(f"[name='{name}']:not([type=hidden])")
        if name == "mini_program.service_categories":
            for category in value:
                await page.locator(f"input[name='{name}'][value='{category}']").check()
            continue
        kind = await target.first.evaluate("el => el.tagName + ':' + (el.type || '')")
        if kind.startswith("SELECT"):
            await target.select_option(str(value))
        elif kind.endswith(":radio"):
            await page.locator(f"input[name='{name}'][value='{value}']").check()
        elif kind.endswith(":checkbox"):
            await target.check()
        else:
            await target.fill(str(value))


async def choose(page: Page, name: str, filename: str, mime: str, content: bytes) -> None:
    """A file chosen in the slot's input: uploaded at once, shown as a tile."""
    await page.set_input_files(f"input[type=file][data-slot-name='{name}']",
                               files=[{"name": filename, "mimeType": mime, "buffer": content}])
    slot = await page.locator(f"input[type=file][data-slot-name='{name}']").get_attribute("id")
    await expect(page.locator(f"#{slot}-tile")).to_contain_text("已上传", timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator(f"input[type=hidden][name='{name}']")).to_have_value(re.compile(r"^[0-9a-f]{64}$"), timeout=PAGE_TIMEOUT_MS)


async def pick_regions(page: Page) -> None:
    """Province -> city -> district picked from the selects: each list follows the choice above it
    (the script's; the no-script 更新 button is gone), and the example's address is chosen again."""
    province, city, district = (page.locator("#" + _id(f"subject.address.{part}")) for part in ("province", "city", "district"))
    await expect(page.locator("#regions-update")).to_have_count(0, timeout=PAGE_TIMEOUT_MS)
    await province.select_option("北京市")
    await expect(city.locator("option")).to_have_text(["请选择", "北京市"], timeout=PAGE_TIMEOUT_MS)
    await expect(district.locator("option")).to_have_count(1)  # 请先选择城市
    await city.select_option("北京市")
    await expect(district.locator("option[value='海淀区']")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
    await province.select_option("河北省")
    await expect(city.locator("option[value='北京市']")).to_have_count(0, timeout=PAGE_TIMEOUT_MS)
    await city.select_option("石家庄市")
    await expect(district.locator("option[value='海淀区']")).to_have_count(0, timeout=PAGE_TIMEOUT_MS)
    await district.select_option("长安区")
    await expect(district).to_have_value("长安区")


def _now_in_china() -> str:
    return (datetime.now(CHINA_TZ) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")


async def approve(stack: Stack, appid: str, mobile: str, id_last6: str) -> str:
    """Platform, SMS and province, through the API (the browser tests of review cover the pages)."""
    await stack.stage(appid, "PLATFORM_REVIEW", stack.auth(Role.OPERATOR))
    platform = await stack.http.post(f"/v1/filings/{appid}/platform-decision", json={"decision": "approve"},
                                     headers=stack.auth(Role.PLATFORM_REVIEWER, sub="r-apply") | key())
    assert platform.status_code == 200, platform.text
    code = await stack.sms_code(mobile)
    await stack.stage(appid, "SMS_VERIFICATION", stack.auth(Role.OPERATOR))
    verified = await stack.http.post(f"/v1/filings/{appid}/sms/verify", json={"mobile": mobile, "code": code, "id_last6": id_last6},
                                     headers=stack.auth(Role.VERIFICATION_SITE, sub="miit-apply") | key())
    assert verified.status_code == 200 and verified.json()["result"] == "verified", verified.text
    await stack.stage(appid, "PROVINCIAL_REVIEW", stack.auth(Role.OPERATOR))
    province = stack.auth(Role.PROVINCE_REVIEWER, sub="冀-apply", province="河北")
    proposed = (await stack.http.get(f"/v1/filings/{appid}/next-number", headers=province)).json().get("number")
    number = proposed or f"{fresh_subject_number('冀')}-1X"
    approved = await stack.http.post(f"/v1/filings/{appid}/province-decision", headers=province | key(),
                                     json={"decision": "approve", "filing_number": number})
    assert approved.status_code == 200, approved.text
    await stack.stage(appid, "APPROVED", stack.auth(Role.OPERATOR))
    return number


async def test_an_applicant_files_a_new_in_the_browser_then_a_change(console: Console):
    stack = console.stack
    appid = new_appid()
    app = application(appid)
    page = await console.signed_in(Role.APPLICANT, sub="form-wang", appids=[appid])
    await page.goto("/mine")
    await page.get_by_role("link", name="填写备案申请").first.click()
    await expect(page.locator("h1")).to_have_text("填写小程序备案申请", timeout=PAGE_TIMEOUT_MS)
    for title in ("1. 主体信息", "2. 主体负责人", "3. 小程序信息", "4. 小程序负责人"):
        await expect(page.locator("section h2", has_text=title)).to_have_count(1)

    # A file that is no scan is refused at once, saying why; nothing is stored for the slot.
    await page.set_input_files("#" + _id("subject.unit_certificate.scan"),
                               files=[{"name": "说明.txt", "mimeType": "text/plain", "buffer": b"not a scan"}])
    await expect(page.locator("#" + _id("subject.unit_certificate.scan") + "-error")).to_contain_text("只接受 JPEG/PNG/PDF", timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator("input[type=hidden][name='subject.unit_certificate.scan']")).to_have_value("")

    values = af.from_application(as_json(app))
    values["mini_program_principal.face_verification.verified_at"] = _now_in_china()
    remark = values.pop("mini_program.remark")
    await fill(page, values)
    await pick_regions(page)
    await expect(page.locator("#group-unit")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator("#group-own")).to_be_hidden()  # the subject principal is reused
    for name, (filename, mime, make) in FILES.items():
        await choose(page, name, filename, mime, make())
    await expect(page.locator(".extra[data-province='冀']").first).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    await choose(page, "extra:冀:备案承诺书", "备案承诺书.pdf", "application/pdf", example_pdf("Commitment letter"))

    # Too short a remark: the API's check says so when the person moves on, at the field.
    remark_id = "#" + _id("mini_program.remark")
    await page.fill(remark_id, "小程序备注太短")
    await page.press(remark_id, "Tab")
    await expect(page.locator(remark_id + "-error")).to_contain_text("20", timeout=PAGE_TIMEOUT_MS)
    await page.click("#submit-application")
    await expect(page.locator("#problem")).to_contain_text("未提交", timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator(remark_id)).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(remark_id)).to_be_focused(timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator("#" + _id("subject_principal.name"))).to_have_value("张三")  # kept
    await expect(page.locator("#" + _id("subject.unit_certificate.scan") + "-tile")).to_contain_text("营业执照.jpg")
    await console.screenshot(page, "apply-form", docs="apply.png")

    await page.fill(remark_id, remark)
    await page.click("#submit-application")
    await expect(page.locator("#flash")).to_contain_text("已提交备案申请", timeout=PAGE_TIMEOUT_MS)
    await expect(page).to_have_url(re.compile(f"/filings/{appid}$"))

    person = app.subject_principal
    number = await approve(stack, appid, person.mobile, person.identity_document.number[-6:])

    # A CHANGE of the filing on record: the form comes prefilled, materials as they were filed.
    await page.goto("/mine")
    await page.get_by_role("link", name="变更备案").click()
    await expect(page.locator("h1")).to_have_text("变更备案", timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator("#f-filing_number")).to_have_value(number)
    await expect(page.locator("#" + _id("subject_principal.name"))).to_have_value("张三")
    await expect(page.locator("#" + _id("subject.unit_certificate.scan") + "-tile")).to_contain_text("备案时上传的材料")
    await page.fill("#" + _id("mini_program.name"), "示例小程序新版")
    await page.fill("#" + _id("mini_program_principal.face_verification.record_id"), "face-change-0002")
    await page.fill("#" + _id("mini_program_principal.face_verification.verified_at"), _now_in_china())
    await page.click("#submit-application")
    await expect(page.locator("#flash")).to_contain_text("已提交备案申请", timeout=PAGE_TIMEOUT_MS)
    status = await stack.stage(appid, "PLATFORM_REVIEW", stack.auth(Role.OPERATOR))
    assert status["kind"] == "CHANGE"


async def test_the_form_by_keyboard_alone(console: Console):
    appid = new_appid()
    page = await console.signed_in(Role.APPLICANT, sub="form-keys", appids=[appid])
    await page.goto("/apply")
    # The walk starts once the page's script has its region lists and took the 更新 button out:
    # a button removed under the walk's feet sent the focus back to the page's start.
    await expect(page.locator("#regions-update")).to_have_count(0, timeout=PAGE_TIMEOUT_MS)
    await page.locator("#main").focus()
    reached: list[str] = []
    chooser_seen = False
    for _ in range(400):
        await page.keyboard.press("Tab")
        name = await page.evaluate("document.activeElement && (document.activeElement.name || document.activeElement.id)")
        if name == "subject.name":
            await page.keyboard.type("河北键盘科技有限公司")
        if name == "file:subject.unit_certificate.scan" and not chooser_seen:
            async with page.expect_file_chooser() as chosen:
                await page.keyboard.press("Space")
            await (await chosen.value).set_files(files=[{"name": "执照.png", "mimeType": "image/png",
                                                          "buffer": example_png((240, 230, 200))}])
            await expect(page.locator("#" + _id("subject.unit_certificate.scan") + "-tile")).to_contain_text("已上传", timeout=PAGE_TIMEOUT_MS)
            chooser_seen = True
        reached.append(str(name))
        if name == "action" and await page.evaluate("document.activeElement.value") == "check":
            break
    visible = await page.evaluate("""Array.from(document.querySelectorAll('#apply input:not([type=hidden]), #apply select, #apply textarea'))
        .filter(el => el.offsetParent !== null).map(el => el.name)""")
    assert [n for n in dict.fromkeys(visible)] == [n for n in dict.fromkeys(reached) if n not in ("action", "main", "")]
    assert chooser_seen
    await page.keyboard.press("Enter")  # 检查: every violation at once, the first field focused
    await expect(page.locator("#violations")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    await expect(page.locator("#" + _id("subject.name"))).to_have_value("河北键盘科技有限公司")
    await expect(page.locator("#" + _id("subject.type"))).to_be_focused(timeout=PAGE_TIMEOUT_MS)
