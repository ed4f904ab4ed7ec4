"""The reviewers' decisions, answered synchronously, and the next free filing number.

A decision is the workflow's `decide_platform` / `decide_province` update: 200 when it
was applied, 409 with why when it was not (out of turn, stale attempt, a reject
without reasons, a number the registry refuses: L8, L9). The reviewer recorded is the
token's `sub`: the body has no reviewer field (one sent is refused, 422).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from filing.messages import DecisionResult, PlatformDecision, ProvinceDecision
from filing.registry import SubjectCertificate
from service.access import FilingAccess, filing_of
from service.context import Services, services
from service.idempotency import Answer, json_answer
from service.updates import send_once
from service.outside import outside
from service.principal import Role
from service.problems import Problem, problem_responses
from service.routes.filings import IdempotencyKey
from service.schemas import NextNumber, PlatformDecisionBody, ProvinceDecisionBody

router = APIRouter(tags=["reviews"])
Svc = Annotated[Services, Depends(services)]


def _answer(result: DecisionResult, filing_id: str) -> Answer:
    if not result.applied:
        raise Problem(409, f"not applied: {result.why}", kind="not-applied", title="Not applied", why=result.why,
                      stage=result.stage.value, filing_id=filing_id)
    return 200, result


@router.post(
    "/v1/filings/{appid}/platform-decision", response_model=DecisionResult, summary="平台初审: approve or reject",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503, 504),
)
async def platform_decision(
    body: PlatformDecisionBody, key: IdempotencyKey, request: Request, svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(Role.PLATFORM_REVIEWER))],
) -> Response:
    decision = PlatformDecision(reviewer=access.principal.sub, **body.model_dump())
    return await send_once(svc, request, access, key, "decide_platform", decision, DecisionResult,
                           answer=lambda result: _answer(result, access.filing_id))


@router.post(
    "/v1/filings/{appid}/province-decision", response_model=DecisionResult,
    summary="通管局审核: approve with the filing number, or reject",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503, 504),
)
async def province_decision(
    body: ProvinceDecisionBody, key: IdempotencyKey, request: Request, svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(Role.PROVINCE_REVIEWER))],
) -> Response:
    decision = ProvinceDecision(reviewer=access.principal.sub, **body.model_dump())
    return await send_once(svc, request, access, key, "decide_province", decision, DecisionResult,
                           answer=lambda result: _answer(result, access.filing_id))


@router.get(
    "/v1/filings/{appid}/next-number", response_model=NextNumber,
    summary="The next free service number under the subject's number (for the approval)",
    responses=problem_responses(401, 403, 404, 422, 503, 504),
)
async def next_number(svc: Svc, access: Annotated[FilingAccess, Depends(filing_of(Role.PROVINCE_REVIEWER))]) -> Response:
    """The subject's number is the one the registry holds for the subject's certificate (a
    subject has one, issue 17), else the one the application names (`subject.subject_number`,
    a subject recorded before the registry knew certificates), else the one the registry holds
    for the appid; with none, a new subject: `number` is null."""
    view = await svc.temporal.application(access.appid)
    application = view.application
    certificate = SubjectCertificate.of(application) if application is not None else None
    on_record = await outside(svc.registry.subject_of(certificate), "registry") if certificate is not None else None
    subject_number = on_record.subject_number if on_record is not None else (
        application.subject.subject_number if application is not None else None)
    if subject_number is None:
        record = await outside(svc.registry.mini_program(access.appid), "registry")
        subject_number = record.subject_number if record is not None else None
    number = await outside(svc.registry.next_number(subject_number), "registry") if subject_number else None
    return json_answer(200, NextNumber(subject_number=subject_number, number=number))
