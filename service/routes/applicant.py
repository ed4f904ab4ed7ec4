"""The applicant's messages and the verification site's code entry (§7 updates over HTTP).

Each answers the update's own answer (200), or 409 with why when the filing refuses it
as it stands (its validator's `Refused`), or 422 naming every field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from filing.messages import (
    Resubmission,
    ResubmitResult,
    SmsCodeEntry,
    SmsResendRequest,
    SmsResendResult,
    SmsVerifyResult,
    WithdrawRequest,
    WithdrawResult,
)
from service.access import FilingAccess, filing_of
from service.context import Services, services
from service.updates import send_once
from service.outside import rule_problem, start_violations
from service.principal import Role
from service.problems import problem_responses
from service.routes.filings import IdempotencyKey

router = APIRouter(tags=["applicants and verification"])
Svc = Annotated[Services, Depends(services)]


@router.post(
    "/v1/filings/{appid}/sms/verify", response_model=SmsVerifyResult, summary="工信部短信核验: a verifier's code entry",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503, 504),
)
async def verify_sms_code(
    entry: SmsCodeEntry, key: IdempotencyKey, request: Request, svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(Role.VERIFICATION_SITE))],
) -> Response:
    """Rate-limited per mobile and per client (429 with Retry-After), on top of L3's 5 entries per code."""

    async def rate_limited() -> None:
        await svc.sms_limits.hit(entry.mobile, access.principal.sub)

    return await send_once(svc, request, access, key, "verify_sms_code", entry, SmsVerifyResult, before=rate_limited)


@router.post(
    "/v1/filings/{appid}/sms/resend", response_model=SmsResendResult, summary="Ask for a new SMS code (one per verifier)",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503, 504),
)
async def request_sms_resend(
    request_body: SmsResendRequest, key: IdempotencyKey, request: Request, svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(Role.APPLICANT))],
) -> Response:
    return await send_once(svc, request, access, key, "request_sms_resend", request_body, SmsResendResult)


@router.post(
    "/v1/filings/{appid}/resubmit", response_model=ResubmitResult, summary="Resubmit a returned filing, corrected",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503, 504),
)
async def resubmit(
    resubmission: Resubmission, key: IdempotencyKey, request: Request, svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(Role.APPLICANT))],
) -> Response:
    """Checked here by every rule first (422 naming each field), then by the filing (409 if
    it is not RETURNED, or names another appid or kind)."""

    async def checked() -> None:
        violations = await start_violations(resubmission.application, svc.materials, svc.registry, access.principal,
                                              svc.province_lists.lists)
        if violations:
            raise rule_problem(violations, "nothing was resubmitted")

    return await send_once(svc, request, access, key, "resubmit", resubmission, ResubmitResult, before=checked)


@router.post(
    "/v1/filings/{appid}/withdraw", response_model=WithdrawResult, summary="Withdraw (before platform approval)",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503, 504),
)
async def withdraw(
    body: WithdrawRequest, key: IdempotencyKey, request: Request, svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(Role.APPLICANT))],
) -> Response:
    return await send_once(svc, request, access, key, "withdraw", body, WithdrawResult)
