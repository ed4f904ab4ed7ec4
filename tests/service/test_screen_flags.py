"""前置审批提示 (R6's keyword screen, issue 17): an application that answered "以上都不涉及"
though its remark speaks of 在线问诊 is accepted (a keyword is a hint), and the platform
reviewer is told so, in the API's application read and on the console's review page."""

from __future__ import annotations

import httpx

from service.principal import Role
from tests.service.conftest import Stack, application, as_json, key, new_appid
from tests.service.console_login import SESSION_COOKIE, sign_in

REMARK = "本小程序为用户提供生活缴费服务，并提供合作医院在线问诊的预约入口"
FLAG = {"field": "mini_program.remark", "label_zh": "小程序备注", "keyword": "在线问诊", "category": "医疗保健"}


async def test_a_declared_answer_over_a_screened_word_is_flagged_to_the_reviewer(started: Stack) -> None:
    stack = started
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="screen-applicant", appids=[appid])
    await stack.upload_materials(applicant)
    body = as_json(application(appid))
    body["mini_program"]["remark"] = REMARK
    assert body["mini_program"]["no_pre_approval_needed"] is True and not body["mini_program"].get("pre_approvals")
    started_filing = await stack.http.post("/v1/filings", json=body, headers=applicant | key())
    assert started_filing.status_code == 201, started_filing.text  # declared: accepted, not refused
    await stack.stage(appid, "PLATFORM_REVIEW", applicant)

    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="r-screen")
    read = await stack.http.get(f"/v1/filings/{appid}/application", headers=platform)
    assert read.status_code == 200, read.text
    assert read.json()["screen_flags"] == [FLAG]

    session = await sign_in(stack.service.url, Role.PLATFORM_REVIEWER, sub="r-screen")
    async with httpx.AsyncClient(base_url=stack.service.url, cookies={SESSION_COOKIE: session}, timeout=30) as console:
        page = await console.get(f"/filings/{appid}")
    assert page.status_code == 200, page.text[:500]
    assert '<section class="group" id="screen-flags"><h2>前置审批提示</h2>' in page.text
    assert '<li data-field="mini_program.remark">小程序备注含“在线问诊”，可能属于“医疗保健”类</li>' in page.text
