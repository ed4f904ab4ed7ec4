"""Scope in the console is the API's scope: a provincial reviewer of 冀 cannot open a 粤 filing
(it answers exactly as for a filing that does not exist), nor its scans, nor decide it; the
reviewer of 粤 can. Personal data shows only to the roles that may read it."""

from __future__ import annotations

from playwright.async_api import expect

from service.principal import Role
from tests.browser.conftest import Console
from tests.browser.people import open_filing, start_by_api
from tests.service.conftest import application, new_appid


async def test_a_province_reviewer_of_ji_cannot_open_a_yue_filing(console: Console):
    stack = console.stack
    appid = new_appid()
    app = application(appid, province="广东省")
    await start_by_api(stack, app)
    scan = app.subject_principal.identity_document.front

    ji = await console.signed_in(Role.PROVINCE_REVIEWER, sub="冀-10", province="冀")
    opened = await ji.goto(f"/filings/{appid}")
    assert opened is not None and opened.status == 404
    await expect(ji.locator("h1")).to_have_text("没有找到该备案")
    page = await ji.content()
    for secret in (app.subject.name, app.subject_principal.mobile, app.subject_principal.name):
        assert secret not in page
    nowhere = await ji.goto(f"/filings/{new_appid()}")  # a filing that does not exist: the same answer
    assert nowhere is not None and nowhere.status == 404
    await expect(ji.locator("h1")).to_have_text("没有找到该备案")

    material = await ji.request.get(f"/filings/{appid}/materials/{scan}?preview=1")
    assert material.status == 404
    csrf = await ji.locator("form.logout input[name=csrf]").input_value()
    decided = await ji.request.post(f"/filings/{appid}/approve", form={"csrf": csrf, "idem": "scope-1", "attempt": "1"})
    assert decided.status == 404 and "没有找到该备案" in await decided.text()

    # The reviewer of 粤 opens it (it is not at the provincial desk yet: no decision form).
    yue = await console.signed_in(Role.PROVINCE_REVIEWER, sub="粤-01", province="广东")
    await open_filing(yue, appid)
    await expect(yue.locator("#g-subject")).to_contain_text(app.subject.name)
    await expect(yue.locator("form.reject")).to_have_count(0)
    await expect(yue.locator("aside")).to_contain_text("不在本岗位待审")

    # The operator sees where it stands, never the application.
    operator = await console.signed_in(Role.OPERATOR, sub="ops-1")
    await open_filing(operator, appid)
    await expect(operator.locator("dd.stage")).to_have_text("平台初审")
    assert app.subject_principal.mobile not in await operator.content()
    assert await operator.locator("section.group table.fields").count() == 0

    # Back on the 冀 desk: the queue lists 冀's filings only.
    await ji.goto("/queue")
    await expect(ji.locator("h1")).to_contain_text("河北（冀）")
    assert appid not in await ji.content()
