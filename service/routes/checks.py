"""A draft application checked without starting anything (`POST /v1/applications/check`).

The console's form asks it as the person moves from field to field, and integrators may ask
it before they start: the answer is exactly what `POST /v1/filings` would answer for the
same body and caller (every rule R1–R10, the materials against the store and their owner,
R8 against the registry; 422 with every violation), except that nothing is started, no
Idempotency-Key is taken (a check has no effect to repeat) and another filing in flight for
the appid is not looked up (that is the start's 409, not a violation of the application).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from filing.models import Application, FilingKind
from filing.rules import MAX_APPLICATION_BYTES
from service.access import role_in
from service.context import Services, services
from service.idempotency import json_answer
from service.outside import rule_problem, start_violations
from service.principal import Principal, Role
from service.problems import Problem, problem_responses, violation

router = APIRouter(tags=["filings"])
Svc = Annotated[Services, Depends(services)]


class ApplicationChecked(BaseModel):
    """A draft that breaks no rule: a start with this body would be accepted (unless another
    filing of the appid is in flight)."""

    appid: str
    kind: FilingKind
    ok: bool = Field(default=True, description="Always true here: violations answer 422.")


@router.post(
    "/v1/applications/check", response_model=ApplicationChecked,
    summary="Check a draft application (R1–R10, R8, materials): nothing is started",
    responses=problem_responses(401, 403, 413, 422, 503),
)
async def check_application(
    application: Application, request: Request, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(Role.APPLICANT, Role.OPERATOR))],
) -> Response:
    """200 when a start would accept the body; 422 listing every violation as the start lists
    them (schema first, then the rules); 403 for an appid outside an applicant's token."""
    size = len(await request.body())
    if size > MAX_APPLICATION_BYTES:
        raise rule_problem([violation("application", "schema.too_large",
                                      f"申请内容过大（{size} 字节），上限为 {MAX_APPLICATION_BYTES} 字节",
                                      f"the application is {size} bytes; at most {MAX_APPLICATION_BYTES} are accepted")],
                           "nothing was started (a check starts nothing)")
    if principal.role is Role.APPLICANT and application.appid not in principal.appids:
        raise Problem(403, f"appid {application.appid} is not among the mini-programs of your token", kind="forbidden-appid")
    violations = await start_violations(application, svc.materials, svc.registry, principal, svc.province_lists.lists)
    if violations:
        raise rule_problem(violations, "nothing was started (a check starts nothing)")
    return json_answer(200, ApplicationChecked(appid=application.appid, kind=application.kind))
