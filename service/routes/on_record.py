"""A mini-program's filing on record as its applicant may know it, before a cancellation:
its numbers and state, and who the 12381 SMS of each cancellation kind would go to
(masked). The console's confirmation page says this before anything is started.

The people come from the registry (SPEC §2: who is texted comes from the registry, never
from the request); their mobiles are masked here and nothing else of them is answered,
so this read is not an audited clear read.

`/on-record/application` is one: once a filing's workflow is past the namespace's retention,
it is what the registry holds of the approved application, in clear, for its applicant's
CHANGE (`filing.on_record`), served only after the read is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from filing.masking import mask_mobile
from filing.models import FilingKind
from filing.on_record import application_on_record
from filing.registry import RecordState
from service.access import AppidPath, not_found, role_in
from service.audit import READ_APPLICATION
from service.context import Services, services
from service.outside import outside
from service.principal import Principal, Role
from service.problems import Problem, problem_responses
from service.schemas import OnRecord, OnRecordApplication

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


def _paths(value: object, prefix: str) -> list[str]:
    """The leaf fields served (the audit row's `fields`)."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _paths(item, f"{prefix}.{key}" if prefix else key)]
    return [prefix]


@router.get(
    "/v1/filings/{appid}/on-record/application", response_model=OnRecordApplication,
    summary="What the registry holds of the approved filing, in clear, to prefill a CHANGE (audited)",
    responses=problem_responses(401, 403, 404, 409, 503),
)
async def on_record_application(
    appid: AppidPath, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(Role.APPLICANT))],
) -> OnRecordApplication:
    """The CHANGE's prefill once the filing's workflow is past retention (`filing.on_record`):
    404 as for the record itself; 409 when the filing on record is not ACTIVE (nothing to
    change). Served only after the read is written to the audit log."""
    if appid not in principal.appids:
        raise not_found(appid)
    record = await outside(svc.registry.mini_program(appid), "registry")
    if record is None:
        raise not_found(appid)
    if record.state is not RecordState.ACTIVE:
        raise Problem(409, f"the filing on record {record.service_number} is {record.state.value}: "
                           "only an ACTIVE filing can be changed", kind="filing-finished")
    subject = await outside(svc.registry.subject(record.subject_number), "registry")
    people = await outside(svc.registry.people_on_record(record.service_number), "registry")
    application, missing = application_on_record(record, subject, people)
    filing_id = record.last_filing_id or f"filing-{appid}"
    await svc.audit.record(principal, READ_APPLICATION, filing_id, appid, _paths(application, "application"))
    svc.metrics.audited_reads.labels(READ_APPLICATION, principal.role.value).inc()
    return OnRecordApplication(appid=appid, filing_number=record.service_number, approved_at=record.approved_at,
                               application=application, missing=missing)
