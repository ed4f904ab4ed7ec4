"""What needs no token: the public lookup (备案查询), liveness and readiness (`/livez`,
`/readyz`, and `/healthz`, readiness's deprecated name), metrics; and the operators'
calendar refresh."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.visibility import build_query
from filing.calendar import BusinessCalendar, CalendarDataError
from filing.messages import CalendarUpdated
from filing.registry import PublicEntry
from registry.calendar_overrides import CalendarOverrideStore
from service.access import role_in
from service.context import Services, services
from service.idempotency import Answer, json_answer, once
from service.outside import outside
from service.principal import APPID, Principal, Role
from service.problems import Problem, problem_responses, violation
from service.routes.filings import IdempotencyKey
from service.schemas import CalendarRefreshed, Health, HealthCheck

router = APIRouter()
Svc = Annotated[Services, Depends(services)]


@router.get(
    "/v1/registry", response_model=list[PublicEntry], tags=["public"],
    summary="备案查询: by filing number, appid, subject name or a unit's certificate number (no token)",
    responses=problem_responses(422, 503),
)
async def lookup(
    svc: Svc,
    number: Annotated[str | None, Query(min_length=1, max_length=40, description=(
        "A service or subject number: 冀ICP备18021892号-2X, or an operating licence's (粤B2-20090059-1626X, "
        "京ICP证000000号-1X)."))] = None,
    appid: Annotated[str | None, Query(pattern=APPID.pattern)] = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=100, description=(
        "The subject's name (主办单位名称): a unit's also in part (at least 2 characters), a person's in full."))] = None,
    certificate: Annotated[str | None, Query(min_length=1, max_length=40, description=(
        "A unit's certificate number (统一社会信用代码 or its other unit certificate's); never a person's."))] = None,
    include_cancelled: Annotated[bool, Query(description="Also the cancelled filings (注销).")] = False,
) -> Response:
    """Only what MIIT publishes: 主办单位名称, 主办单位性质, 主体备案号, 服务备案号, 服务名称, 审核日期,
    服务前置审批项, 是否限制接入, and the record's state; no personal data."""
    given = {name: value for name, value in (("number", number), ("appid", appid), ("subject", subject),
                                             ("certificate", certificate)) if value}
    if len(given) != 1:
        raise Problem(422, "give exactly one of number, appid, subject or certificate", kind="validation", errors=[
            violation(f"query.{name}", "schema.one_of", "请只提供备案号（number）、AppID（appid）、主体名称（subject）、证件号码（certificate）之一",
                      "give exactly one of number, appid, subject or certificate")
            for name in (given or {"number": ""})])
    try:
        entries = await outside(svc.registry.lookup(**given, include_cancelled=include_cancelled), "registry")
    except ValueError as err:  # the registry refuses what names nothing (a malformed number, a short name)
        (name,) = given
        message_zh = getattr(err, "message_zh", "查询条件无效（备案号格式如 冀ICP备18021892号-2X）")
        raise Problem(422, str(err), kind="validation", errors=[
            violation(f"query.{name}", "schema.lookup_refused", message_zh, str(err))
        ]) from None
    return json_answer(200, [e.model_dump(mode="json") for e in entries])


@router.post(
    "/v1/calendar/refresh", response_model=CalendarRefreshed, tags=["operators"],
    summary="Load the imported calendar overrides, then tell filings with a provisional deadline",
    responses=problem_responses(400, 401, 403, 413, 422, 503, 504),
)
async def refresh_calendar(
    key: IdempotencyKey, request: Request, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(Role.OPERATOR))],
) -> Response:
    """Overrides that do not validate are refused (422 naming the year) and no filing is
    told: the workers would fail to recompute on them too."""

    async def effect() -> Answer:
        try:
            # The overrides every worker reads: the registry database's (`filings calendar import`).
            store = CalendarOverrideStore(svc.settings.registry_database_url, engine=svc.engine)
            calendar = await outside(asyncio.to_thread(BusinessCalendar, store), "registry")
        except CalendarDataError as err:
            raise Problem(422, f"calendar data: {err}", kind="calendar-invalid", errors=[
                violation("calendar", "calendar.invalid_override", "日历覆盖数据无效，未导入（原因见 message_en）", str(err))]) from None
        query = build_query(svc.settings.task_queue, provisional=True)
        signalled, finished = [], []
        for row in await svc.temporal.rows(query, svc.settings.api.list_limit):
            told = await svc.temporal.signal(row.filing_id, row.run_id, "calendar_updated", CalendarUpdated())
            (signalled if told else finished).append(row.filing_id)
        return 200, CalendarRefreshed(calendar_version=calendar.version, signalled=len(signalled), filings=signalled,
                                      finished_meanwhile=finished)

    return await once(svc.idempotency, request, principal, key, effect)


@router.get("/livez", response_model=Health, tags=["monitoring"], summary="Liveness: the process answers")
async def live() -> Response:
    """Answered by the service's event loop and nothing else: never Temporal or the registry,
    whose outage a restart would not cure (a probe restarting every replica for it would)."""
    return json_answer(200, Health(status="ok", checks={"loop": HealthCheck(ok=True, detail="answering")}))


@router.get("/readyz", response_model=Health, tags=["monitoring"], summary="Readiness: Temporal and the registry",
            responses=problem_responses(503))
async def ready(svc: Svc) -> Response:
    """200 when Temporal answers its health call and the registry `SELECT 1`; else 503 naming which."""
    return await _readiness(svc)


@router.get("/healthz", response_model=Health, tags=["monitoring"], deprecated=True,
            summary="Deprecated: the same as /readyz", responses=problem_responses(503))
async def health(svc: Svc) -> Response:
    """Kept for probes written before /livez and /readyz; answers exactly what /readyz answers."""
    return await _readiness(svc)


async def _readiness(svc: Services) -> Response:
    temporal_ok, temporal_detail = await svc.temporal.healthy()
    registry_ok, registry_detail = await asyncio.to_thread(_registry_health, svc)
    checks = {"temporal": HealthCheck(ok=temporal_ok, detail=temporal_detail),
              "registry": HealthCheck(ok=registry_ok, detail=registry_detail)}
    if temporal_ok and registry_ok:
        return json_answer(200, Health(status="ok", checks=checks))
    down = ", ".join(name for name, check in checks.items() if not check.ok)
    raise Problem(503, f"unavailable: {down}", kind="unhealthy",
                  checks={name: check.model_dump() for name, check in checks.items()})


def _registry_health(svc: Services) -> tuple[bool, str]:
    try:
        with svc.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as err:
        return False, f"unreachable ({type(err.orig).__name__ if err.orig else type(err).__name__})"
    return True, "reachable"


@router.get("/metrics", tags=["monitoring"], summary="Prometheus metrics", response_class=Response,
            responses={200: {"description": "Prometheus text format.",
                             "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}})
async def metrics(svc: Svc) -> Response:
    with contextlib.suppress(RuntimeError):  # the forecast's gauges; a registry outage leaves them as they were
        await svc.forecasts.refresh_gauges()
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

