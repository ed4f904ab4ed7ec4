"""Every page each role reaches reads in Chinese and passes axe-core, and the applicant's
form works by keyboard alone (issue 19, items 4 and 6).

One walk over the stack: a returned filing, a filing at the platform desk that moves on to
SMS verification and the province, and a mini-program on record (for its change and
cancellation pages). Each person signs in and opens the pages of their role; on each page
the visible text is scanned for English (tests/browser/pages_scan.py: codes, appids,
numbers and field paths allowed) and axe-core (the npm package, never a CDN) must find no
serious or critical violation. Every page's findings are collected first, so one run
names them all.
"""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.pages_scan import check_page
from tests.browser.people import start_by_api, subject_on_record, wait_stage
from tests.service.conftest import application, key, new_appid


async def visit(page: Page, path: str, seen: dict[str, list[str]], *, status: int | None = None) -> None:
    """Open `path` as the person of `page` and check it, recorded under their role."""
    answer = await page.goto(path)
    assert answer is not None
    if status is not None:
        assert answer.status == status, f"{path}: HTTP {answer.status}"
    await check_page(page, seen, who=str(await page.evaluate("() => document.querySelector('header .who')?.textContent.split('·')[0].trim() || '未登录'")))


async def keyboard_walk(page: Page) -> None:
    """From the top of the applicant's form, Tab alone reaches every control of the form in
    order (none is skipped or trapped), and the skip link takes Enter to the main content."""
    await page.goto("/apply")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent.trim()") == "跳到正文"
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/apply#main$"))
    # A radio group is one Tab stop (arrows move inside it), as in every browser.
    name_of = """e => e.type === 'radio' ? 'radio:' + e.name : (e.id || e.name || e.textContent.trim())"""
    controls = await page.evaluate(f"""() => [...new Set([...document.querySelectorAll(
        'main form input:not([type=hidden]), main form select, main form textarea, main form button')]
        .filter(e => !e.disabled && e.offsetParent !== null && e.tabIndex >= 0).map({name_of}))]""")
    assert controls, "the form has no controls"
    await page.evaluate(f"""() => {{ window.__reached = [];
        document.addEventListener('focusin', ev => {{ if (ev.target.closest('main form'))
            window.__reached.push(({name_of})(ev.target)); }}); }}""")
    reached: list[str] = []
    for _ in range(8):  # in batches: a control may hold several stops (a file input, a link in a hint)
        for _ in range(len(controls)):
            await page.keyboard.press("Tab")
        reached = await page.evaluate("() => window.__reached")
        if set(controls) <= set(reached):
            break
    missing = [c for c in controls if c not in reached]
    assert not missing, f"Tab never reaches {missing} of the form's {len(controls)} controls"
    await page.keyboard.press("Shift+Tab")  # back into the form: focus lands on a control
    # Focus is visible where it lands: the browser draws an outline (or the page its own ring).
    outline = await page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return s.outlineStyle !== 'none' && s.outlineWidth !== '0px' || s.boxShadow !== 'none'; }""")
    assert outline, "the focused control shows no focus ring"


async def test_every_page_of_every_role_is_chinese_and_passes_axe(console: Console):
    stack = console.stack
    returned_id, desk_id, on_record_id = new_appid(), new_appid(), new_appid()
    returned_app, desk_app = application(returned_id), application(desk_id)
    await start_by_api(stack, returned_app)
    await start_by_api(stack, desk_app)
    await subject_on_record(stack, on_record_id)
    platform_headers = stack.auth(Role.PLATFORM_REVIEWER, sub="r-scan-01")
    rejected = await stack.http.post(
        f"/v1/filings/{returned_id}/platform-decision", headers=platform_headers | key(),
        json={"decision": "reject", "reasons": [{"field": "subject.address.detail", "error": "地址未写到门牌号",
                                                  "suggestion": "请填写到门牌号"}]})
    assert rejected.status_code == 200, rejected.text
    await wait_stage(stack, returned_id, "RETURNED")
    seen: dict[str, list[str]] = {}

    anonymous = await console.page()
    await visit(anonymous, "/", seen)
    await expect(anonymous).to_have_url(re.compile(r"/login"))

    platform = await console.signed_in(Role.PLATFORM_REVIEWER, sub="r-scan-02")
    for path in ("/queue", f"/filings/{desk_id}", f"/filings/{returned_id}"):
        await visit(platform, path, seen, status=200)
    await visit(platform, "/no-such-page", seen, status=404)

    operator = await console.signed_in(Role.OPERATOR, sub="ops-scan")
    await visit(operator, "/queue", seen, status=200)

    applicant = await console.signed_in(Role.APPLICANT, sub="wx-admin-scan",
                                        appids=[returned_id, desk_id, on_record_id])
    for path in ("/mine", f"/filings/{returned_id}", f"/filings/{desk_id}", "/apply", "/submit",
                 f"/filings/{on_record_id}/change", f"/filings/{on_record_id}/cancel"):
        await visit(applicant, path, seen)
    await keyboard_walk(applicant)

    # The desk's filing moves on: the platform approves, the verifier's page, then the province's.
    approved = await stack.http.post(f"/v1/filings/{desk_id}/platform-decision", headers=platform_headers | key(),
                                     json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    site = await console.signed_in(Role.VERIFICATION_SITE, sub="miit-scan")
    await visit(site, "/verify", seen, status=200)
    await wait_stage(stack, desk_id, "SMS_VERIFICATION")
    person = desk_app.subject_principal
    code = await stack.sms_code(person.mobile)
    verified = await stack.http.post(
        "/v1/sms/verify", headers=stack.auth(Role.VERIFICATION_SITE, sub="miit-scan") | key(),
        json={"mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]})
    assert verified.status_code == 200, verified.text
    await wait_stage(stack, desk_id, "PROVINCIAL_REVIEW")
    province = await console.signed_in(Role.PROVINCE_REVIEWER, sub="冀-scan", province="冀")
    for path in ("/queue", f"/filings/{desk_id}"):
        await visit(province, path, seen, status=200)
    await visit(applicant, f"/filings/{desk_id}", seen)

    found = {path: problems for path, problems in seen.items() if problems}
    assert not found, "\n".join(f"{path}:\n  " + "\n  ".join(problems) for path, problems in found.items())
    assert len(seen) >= 16, sorted(seen)
