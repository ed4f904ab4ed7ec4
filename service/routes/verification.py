"""工信部短信核验 with only what the verifier has: mobile, code, last 6 of their document.

The verifier holds the 12381 SMS, not the mini-program's AppID. The filing is found from
the mobile's open verification (`filing.ports.OpenVerifications`, written by the SMS
activity when it sends the code, keyed by an HMAC of the mobile), then the code entry goes
to that filing exactly as `POST /v1/filings/{appid}/sms/verify` sends it: the filing judges
the code, the digits and the window, and counts a wrong code or wrong digits as one wrong
entry. Rate-limited per mobile and per client as the AppID route is, counted before the
lookup, so asking about a mobile costs the same whatever the answer.

Answers (200): `verified`, `wrong_code` (with the entries left), `no_valid_code` (the
filing has no code waiting: expired, used up, being resent), `no_open_verification` (no
filing waits for this mobile). Each carries `message_zh`, the sentence the verification
page shows. Nothing in an answer names a filing or another mobile. When several filings
wait for the same mobile, the mobile alone cannot say which code is whose: 409
`several-open-verifications`, nothing counted on any filing, and the AppID route decides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from filing.messages import SmsCodeEntry, SmsVerifyResult
from service.access import role_in
from service.context import Services, services
from service.idempotency import Answer, once
from service.principal import Principal, Role
from service.problems import Problem, problem_responses
from service.routes.filings import IdempotencyKey
from service.schemas import MobileVerifyResult
from service.temporal import update_id

router = APIRouter(tags=["applicants and verification"])
Svc = Annotated[Services, Depends(services)]

NO_OPEN = "该手机号没有待核验的备案申请，或已完成核验。"


def message_for(result: str, attempts_left: int, all_verified: bool) -> str:
    if result == "verified":
        return "短信核验成功。" + ("全部核验人已完成核验，备案申请将提交通管局审核。" if all_verified
                                  else "请等待其他核验人进行短信核验。")
    if result == "wrong_code":
        if attempts_left:
            return f"验证码或证件号码后6位有误，您还可以输入 {attempts_left} 次"
        return "验证码或证件号码后6位有误，输入次数已用完，该验证码已失效；如有重发机会，请申请人申请重发。"
    if result == "no_valid_code":
        return "验证码无效或已过期，请申请重发后使用新验证码。"
    return NO_OPEN


def _answer(result: SmsVerifyResult | None) -> MobileVerifyResult:
    if result is None:
        return MobileVerifyResult(result="no_open_verification", attempts_left=0, all_verified=False, message_zh=NO_OPEN)
    return MobileVerifyResult(result=result.result, attempts_left=result.attempts_left, all_verified=result.all_verified,
                              message_zh=message_for(result.result, result.attempts_left, result.all_verified))


@router.post(
    "/v1/sms/verify", response_model=MobileVerifyResult,
    summary="工信部短信核验 by mobile: code and last 6 of the document, no AppID",
    responses=problem_responses(400, 401, 403, 409, 413, 422, 429, 503, 504),
)
async def verify_by_mobile(
    entry: SmsCodeEntry, key: IdempotencyKey, request: Request, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(Role.VERIFICATION_SITE))],
) -> Response:
    """The filing is the one whose code was sent to `mobile` and is still open."""

    async def effect() -> Answer:
        await svc.sms_limits.hit(entry.mobile, principal.sub)
        found = await svc.verifications.find(entry.mobile, datetime.now(UTC))
        if not found:
            return 200, _answer(None)
        if len(found) > 1:
            raise Problem(409, f"{len(found)} filings wait for a code sent to this mobile: the mobile alone cannot "
                          "say whose code this is; verify through POST /v1/filings/{appid}/sms/verify",
                          kind="several-open-verifications", why="several_open_verifications")
        filing_id = found[0].filing_id
        appid = filing_id.removeprefix("filing-")
        try:
            result = await svc.temporal.update(appid, "verify_sms_code", entry, SmsVerifyResult,
                                               update_id(principal.key, key, "verify_sms_code"))
        except Problem as problem:
            answer = problem.extensions.get("answer") if problem.status == 409 else None
            if isinstance(answer, dict):  # the filing's own answer to a refused entry (no valid code, verified)
                result = SmsVerifyResult.model_validate(answer)
            elif problem.status in (404, 409):  # the filing is gone or finished: nothing waits any more
                await svc.verifications.close(entry.mobile, filing_id)
                return 200, _answer(None)
            else:
                raise
        if result.result == "verified":
            await svc.verifications.close(entry.mobile, filing_id)
        return 200, _answer(result)

    return await once(svc.idempotency, request, principal, key, effect)
