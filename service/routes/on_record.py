"""A mini-program's filing on record as its applicant may know it, before a cancellation:
its numbers and state, and who the 12381 SMS of each cancellation kind would go to
(masked). The console's confirmation page says this before anything is started.

The people come from the registry (SPEC §2: who is texted comes from the registry, never
from the request); their mobiles are masked here and nothing else of them is answered,
so this read is not an audited clear read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from filing.masking import mask_mobile
from filing.models import FilingKind
from filing.registry import RecordState
from service.access import AppidPath, not_found, role_in
from service.context import Services, services
from service.outside import outside
from service.principal import Principal, Role
from service.problems import problem_responses
from service.schemas import OnRecord

router = APIRouter(tags=["filings"])
Svc = Annotated[Services, Depends(services)]


@router.get(
    "/v1/filings/{appid}/on-record", response_model=OnRecord,
    summary="The mini-program's filing on record and who a cancellation would text (masked)",
    responses=problem_responses(401, 403, 404, 503),
)
async def on_record(
    appid: AppidPath, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(Role.APPLICANT, Role.OPERATOR))],
) -> OnRecord:
    """404 when the registry holds no filing for the appid (or it is not among the caller's)."""
    if principal.role is Role.APPLICANT and appid not in principal.appids:
        raise not_found(appid)
    record = await outside(svc.registry.mini_program(appid), "registry")
    if record is None:
        raise not_found(appid)
    people = await outside(svc.registry.people_on_record(record.service_number), "registry")
    others = await outside(svc.registry.subject_mini_programs(record.subject_number), "registry")
    subject_to = [mask_mobile(people.subject_principal.mobile)] if people else []
    own_to = [mask_mobile(people.mini_program_principal.mobile)] if people else []
    return OnRecord(
        appid=appid, service_number=record.service_number, subject_number=record.subject_number,
        service_name=record.name, subject_name=record.subject_name, province=record.province, state=record.state,
        approved_at=record.approved_at,
        sms_to={FilingKind.CANCEL_SUBJECT: subject_to, FilingKind.CANCEL_MINI_PROGRAM: own_to,
                FilingKind.CANCEL_ACCESS: []},
        subject_mini_programs=sorted(m.service_number for m in others
                                     if m.service_number != record.service_number and m.state is not RecordState.CANCELLED),
    )
