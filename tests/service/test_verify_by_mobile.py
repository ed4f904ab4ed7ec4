"""工信部短信核验 as the verifier does it: with the 12381 SMS in hand and no AppID.

`POST /v1/sms/verify` {mobile, code, id_last6} finds the filing from the mobile's open
verification (written when the code was sent). Two filings whose verifiers share nothing
are each verified by mobile alone; a wrong code and wrong document digits each spend one
entry, with the combined message; a mobile with no open verification gets an answer of the
same shape that names nothing.
"""

from __future__ import annotations

import json

from filing.examples import example_resident_id
from filing.models import Application
from service.principal import Role
from tests.processes import wait_until
from tests.service.conftest import Stack, application, as_json, key, new_appid, service_log


def with_own_identity(app: Application, number: str) -> Application:
    """The principal gets an identity document of their own (another person than the example's)."""
    person = app.subject_principal
    document = person.identity_document.model_copy(update={"number": number})
    return app.model_copy(update={"subject_principal": person.model_copy(update={"identity_document": document})})


async def to_sms(stack: Stack, app: Application, applicant: dict[str, str], platform: dict[str, str]) -> None:
    created = await stack.http.post("/v1/filings", json=as_json(app), headers=applicant | key())
    assert created.status_code == 201, created.text
    await stack.stage(app.appid, "PLATFORM_REVIEW", applicant)
    approved = await stack.http.post(f"/v1/filings/{app.appid}/platform-decision", headers=platform | key(),
                                     json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    await stack.stage(app.appid, "SMS_VERIFICATION", applicant)


async def test_two_filings_are_verified_by_mobile_code_and_id_last6_without_an_appid(started: Stack):
    stack = started
    first = application(new_appid())
    second = with_own_identity(application(new_appid()), example_resident_id("13", "19851120", "456"))
    a, b = first.subject_principal, second.subject_principal
    assert a.mobile != b.mobile and a.identity_document.number[-6:] != b.identity_document.number[-6:]
    applicant = stack.auth(Role.APPLICANT, appids=[first.appid, second.appid])
    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="r-01")
    site = stack.auth(Role.VERIFICATION_SITE, sub="miit-site")
    await stack.upload_materials(applicant)
    await to_sms(stack, first, applicant, platform)
    await to_sms(stack, second, applicant, platform)

    async def enter(mobile: str, code: str, id_last6: str) -> dict:
        answer = await stack.http.post("/v1/sms/verify", headers=site | key(),
                                       json={"mobile": mobile, "code": code, "id_last6": id_last6})
        assert answer.status_code == 200, answer.text
        return answer.json()

    code_a, code_b = await stack.sms_code(a.mobile), await stack.sms_code(b.mobile)
    last6_a, last6_b = a.identity_document.number[-6:], b.identity_document.number[-6:]
    # A wrong code, then the right code with wrong digits: each one wrong entry, one message.
    wrong_code = await enter(a.mobile, f"{(int(code_a) + 1) % 10**6:06d}", last6_a)
    assert wrong_code == {"result": "wrong_code", "attempts_left": 4, "all_verified": False,
                          "message_zh": "验证码或证件号码后6位有误，您还可以输入 4 次"}
    wrong_digits = await enter(a.mobile, code_a, last6_b)
    assert wrong_digits["result"] == "wrong_code" and wrong_digits["attempts_left"] == 3
    assert wrong_digits["message_zh"] == "验证码或证件号码后6位有误，您还可以输入 3 次"
    # B's code typed with A's mobile is A's wrong entry, never B's verification.
    crossed = await enter(a.mobile, code_b, last6_b)
    assert crossed["result"] == "wrong_code" and crossed["attempts_left"] == 2
    assert (await enter(a.mobile, code_a, last6_a))["result"] == "verified"
    verified_b = await enter(b.mobile, code_b, last6_b)
    assert verified_b == {"result": "verified", "attempts_left": 5, "all_verified": True,
                          "message_zh": "短信核验成功。全部核验人已完成核验，备案申请将提交通管局审核。"}
    await stack.stage(first.appid, "PROVINCIAL_REVIEW", applicant)
    await stack.stage(second.appid, "PROVINCIAL_REVIEW", applicant)

    # Verified: nothing waits for A's mobile any more; a mobile never sent a code gets the same shape.
    done = await enter(a.mobile, code_a, last6_a)
    never = await enter("13700001234", "123456", "12345X")
    expected = {"result": "no_open_verification", "attempts_left": 0, "all_verified": False,
                "message_zh": "该手机号没有待核验的备案申请，或已完成核验。"}
    assert done == expected and never == expected

    # The 12381 text says where to verify; the code and the mobile never reach the service's log.
    outbox = [json.loads(line) for line in (stack.data_dir / "sms-outbox.jsonl").read_text().splitlines()]
    text = next(m["text"] for m in outbox if m["to"] == a.mobile)
    assert text.startswith(f"【工业和信息化部】验证码：{code_a}。") and "https://beian.miit.gov.cn/" in text
    log = service_log(stack)
    assert f'"{code_a}"' not in log and a.mobile not in log

    # The applicant's notice of the platform's approval carries its Chinese text, deadline included.
    def approved_notice() -> dict | None:
        path = stack.data_dir / "notifications.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return next((n for n in map(json.loads, lines)
                     if n["event"] == "platform_approved" and n["appid"] == first.appid), None)

    notice = await wait_until(approved_notice, 20, "the platform_approved notice")
    assert notice["text"].startswith("【小程序备案】您的新增备案申请已通过平台初审。")
    assert first.mini_program.name in notice["text"] and "（北京时间）前登录工信部备案管理系统" in notice["text"]


async def test_several_filings_waiting_for_one_mobile_are_not_guessed_between(started: Stack):
    """The same principal verifies two filings at once: the mobile alone cannot say whose code
    it is, so nothing is counted on either and the AppID route decides."""
    stack = started
    first = application(new_appid())
    second = application(new_appid())
    second = second.model_copy(update={"subject_principal": first.subject_principal})
    applicant = stack.auth(Role.APPLICANT, appids=[first.appid, second.appid])
    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="r-01")
    site = stack.auth(Role.VERIFICATION_SITE, sub="miit-site")
    await stack.upload_materials(applicant)
    await to_sms(stack, first, applicant, platform)
    await to_sms(stack, second, applicant, platform)
    person = first.subject_principal
    code = await stack.sms_code(person.mobile, 2)
    body = {"mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]}
    several = await stack.http.post("/v1/sms/verify", headers=site | key(), json=body)
    assert several.status_code == 409 and several.json()["type"] == "/problems/several-open-verifications", several.text
    by_appid = await stack.http.post(f"/v1/filings/{second.appid}/sms/verify", headers=site | key(), json=body)
    assert by_appid.status_code == 200 and by_appid.json()["attempts_left"] == 5, by_appid.text
    assert by_appid.json()["result"] == "verified"
