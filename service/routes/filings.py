"""Starting filings and cancellations, the reviewers' desks, a filing's status and its
application in clear (SPEC §12)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from engine import deadline_pages
from engine.visibility import build_query
from engine import launch
from filing.messages import FilingStatus, Stage
from filing.models import Application, CancellationRequest, FilingKind
from filing.rules import MAX_APPLICATION_BYTES
from service.access import FilingAccess, filing_of, role_in
from service.audit import READ_APPLICATION, field_paths
from service.context import Services, services
from service.idempotency import Answer, json_answer, once
from service.outside import rule_problem, start_violations
from service.principal import Principal, Role, canonical_province
from service.problems import IDEMPOTENCY_HEADER, Problem, problem_responses, violation
from service.schemas import (
    ApplicationRead,
    FilingListItem,
    FilingPage,
    FilingStarted,
    MaterialLink,
    ScreenFlag,
)

router = APIRouter(tags=["filings"])
Svc = Annotated[Services, Depends(services)]
IdempotencyKey = Annotated[str, Header(
    alias=IDEMPOTENCY_HEADER, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="Required on every mutating call: the same key and body answer the same result, never a second "
                "effect; another body under the same key is refused (422).")]

R = Role


@router.post(
    "/v1/filings", status_code=201, response_model=FilingStarted, summary="Start a filing (R1–R10, R9)",
    responses={200: {"model": FilingStarted, "description": "The same submission is already running (R9)."},
               **problem_responses(400, 401, 403, 409, 413, 422, 503, 504)},
)
async def start_filing(
    application: Application, key: IdempotencyKey, request: Request, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(R.APPLICANT, R.OPERATOR))],
) -> Response:
    """The application is checked by every rule first (422 with each violation, nothing started);
    another filing in flight for the appid answers 409 naming its stage."""

    async def size_checked() -> None:
        size = len(await request.body())
        if size > MAX_APPLICATION_BYTES:
            raise rule_problem([violation("application", "schema.too_large",
                                          f"申请内容过大（{size} 字节），上限为 {MAX_APPLICATION_BYTES} 字节",
                                          f"the application is {size} bytes; at most {MAX_APPLICATION_BYTES} are accepted")])

    return await _start_once(svc, request, principal, key, application, before=size_checked)


async def _start_once(
    svc: Services, request: Request, principal: Principal, key: str, started_by: Application | CancellationRequest,
    before: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Check (rules, R10, R8 against the registry: 422 with every violation) and start, once
    per Idempotency-Key; another filing in flight for the appid answers 409 naming its stage."""
    if principal.role is R.APPLICANT and started_by.appid not in principal.appids:
        raise Problem(403, f"appid {started_by.appid} is not among the mini-programs of your token", kind="forbidden-appid")

    async def effect() -> Answer:
        if before is not None:
            await before()
        violations = await start_violations(started_by, svc.materials, svc.registry, principal,
                                              svc.province_lists.lists)
        if violations:
            raise rule_problem(violations)
        start = launch.start_cancellation if isinstance(started_by, CancellationRequest) else launch.start_filing
        try:
            started = await svc.temporal.call(
                start(svc.temporal.client, started_by, task_queue=svc.settings.task_queue,  # type: ignore[arg-type]
                      policy=svc.settings.policy, codec_endpoint=svc.settings.codec_url),
                filing_id=launch.filing_id_for(started_by.appid), what="the start")
        except launch.FilingInFlight as err:
            raise Problem(409, str(err), kind="filing-in-flight", stage=err.stage, filing_id=err.filing_id) from None
        return await _started(svc, started)

    return await once(svc.idempotency, request, principal, key, effect)


async def _started(svc: Services, started: launch.Started) -> Answer:
    if started.status == "started":
        return 201, FilingStarted(filing_id=started.filing_id, stage=Stage.SUBMITTED.value, status="started")
    stage = await svc.temporal.stage_of(started.filing_id)
    return 200, FilingStarted(filing_id=started.filing_id, stage=stage, status="already_running")


@router.post(
    "/v1/cancellations", status_code=201, response_model=FilingStarted, summary="Start a cancellation (注销 / 取消接入)",
    responses={200: {"model": FilingStarted, "description": "The same request is already running (R9)."},
               **problem_responses(400, 401, 403, 409, 413, 422, 503, 504)},
)
async def start_cancellation(
    cancellation: CancellationRequest, key: IdempotencyKey, request: Request, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(R.APPLICANT, R.OPERATOR))],
) -> Response:
    """`{kind, appid, filing_number, reason}`; who is texted comes from the registry, never from here."""
    return await _start_once(svc, request, principal, key, cancellation)


# --- the desks ----------------------------------------------------------------------------

def _desk(principal: Principal, stages: list[Stage], provinces: list[str]) -> tuple[list[Stage], list[str], bool]:
    """A reviewer's desk: platform reviewers PLATFORM_REVIEW across provinces, provincial
    reviewers PROVINCIAL_REVIEW of their province; filters outside it are refused (403)."""
    if principal.role is R.OPERATOR:
        return stages, provinces, False
    desk = Stage.PLATFORM_REVIEW if principal.role is R.PLATFORM_REVIEWER else Stage.PROVINCIAL_REVIEW
    if any(s is not desk for s in stages):
        raise Problem(403, f"a {principal.role.value} lists the {desk.value} desk only", kind="outside-desk")
    if principal.role is R.PROVINCE_REVIEWER:
        if any(p != principal.province for p in provinces):
            raise Problem(403, f"a province_reviewer lists the filings of province {principal.province} only",
                          kind="outside-desk")
        provinces = [str(principal.province)]
    return [desk], provinces, True


def _after(seal: deadline_pages.Seal, cursor: str) -> deadline_pages.Key:
    try:
        return seal.open(cursor)
    except ValueError:
        raise Problem(422, "cursor is not one this service gave (pass the `next` of the previous page)", kind="validation",
                      errors=[violation("query.cursor", "schema.cursor_invalid", "分页游标无效，请使用上一页返回的 next",
                                        "not a cursor of this service: pass the previous page's `next`")]) from None


@router.get(
    "/v1/filings", response_model=FilingPage, summary="The reviewers' desk, or every filing (operators)",
    responses=problem_responses(401, 403, 422, 503, 504),
)
async def list_filings(
    svc: Svc,
    principal: Annotated[Principal, Depends(role_in(R.PLATFORM_REVIEWER, R.PROVINCE_REVIEWER, R.OPERATOR))],
    stage: Annotated[list[Stage], Query(description="Repeatable.")] = [],  # noqa: B006 (FastAPI reads it)
    province: Annotated[list[str], Query(max_length=20, description="冀 or 河北; repeatable.")] = [],  # noqa: B006
    kind: Annotated[list[FilingKind], Query(description="Repeatable.")] = [],  # noqa: B006
    overdue: Annotated[bool, Query(description="Running, SLA breached or deadline past.")] = False,
    provisional: Annotated[bool, Query(description="Running, deadline provisional.")] = False,
    running: Annotated[bool, Query(description="Running filings only (else finished filings too, by their last run).")] = False,
    size: Annotated[int | None, Query(ge=1, le=1000, description="Filings per page (default FILINGS_API__PAGE_SIZE).")] = None,
    cursor: Annotated[str | None, Query(max_length=1200, description="The previous page's `next`.")] = None,
) -> Response:
    """Each filing once, oldest deadline first (ms grain; none last; one deadline's filings newest
    first, as the store lists them), paged by an opaque cursor (`next`): the server counts and reads
    at most a few times `size` filings per page, however long the list (`engine.deadline_pages`)."""
    api = svc.settings.api
    if size is not None and size > api.max_page_size:
        raise Problem(422, f"size may be at most {api.max_page_size}", kind="validation",
                      errors=[violation("query.size", "schema.less_than_equal", f"每页最多 {api.max_page_size} 条",
                                        f"at most {api.max_page_size} per page")])
    try:
        wanted = [canonical_province(p) for p in province]
    except ValueError as err:
        raise Problem(422, str(err), kind="validation",
                      errors=[violation("query.province", "schema.unknown_province", "不是大陆省级行政区（如 冀 或 河北）",
                                        "not a mainland province (use a prefix such as 冀 or a name such as 河北)")]) from None
    stages, provinces, desk = _desk(principal, stage, wanted)
    after = _after(svc.temporal.cursors, cursor) if cursor else None
    now = datetime.now(UTC)
    query = build_query(svc.settings.task_queue, stages=stages, provinces=provinces, kinds=kind, overdue=overdue,
                        provisional=provisional, running=running or desk, now=now)
    page, total = await svc.temporal.page(query, after, size or api.page_size)
    return json_answer(200, FilingPage(
        items=[FilingListItem.model_validate(r.as_json(now)) for r in page.rows],
        total=total, next=svc.temporal.cursors.token(page.next) if page.next else None))


# --- one filing -----------------------------------------------------------------------------

@router.get(
    "/v1/filings/{appid}", response_model=FilingStatus, summary="The §7 status (personal data masked)",
    responses=problem_responses(401, 403, 404, 422, 503, 504),
)
async def filing_status(
    svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(R.APPLICANT, R.PLATFORM_REVIEWER, R.PROVINCE_REVIEWER, R.OPERATOR))],
) -> Response:
    status = access.status or await svc.temporal.status(access.appid)
    return json_answer(200, status)


@router.get(
    "/v1/filings/{appid}/application", response_model=ApplicationRead,
    summary="The current application in clear, with links to its materials (audited)",
    responses=problem_responses(401, 403, 404, 422, 503, 504),
)
async def filing_application(
    svc: Svc,
    access: Annotated[FilingAccess, Depends(filing_of(R.PLATFORM_REVIEWER, R.PROVINCE_REVIEWER, R.APPLICANT))],
) -> Response:
    """Served only after the read is written to the audit log (who, role, when, which fields)."""
    view = await svc.temporal.application(access.appid)
    named = view.application.materials() if view.application is not None else []
    links = [MaterialLink(sha256=sha, field=field, href=f"/v1/materials/{sha}?appid={access.appid}") for field, sha in named]
    fields = field_paths(view.application, "application") + field_paths(view.cancellation, "cancellation")
    await svc.audit.record(access.principal, READ_APPLICATION, view.filing_id, access.appid, fields)
    svc.metrics.audited_reads.labels(READ_APPLICATION, access.principal.role.value).inc()
    return json_answer(200, ApplicationRead(
        filing_id=view.filing_id, kind=view.kind, stage=view.stage, attempt=view.attempt,
        application=view.application, cancellation=view.cancellation, materials=links,
        screen_flags=ScreenFlag.of(view.application)))
