"""`GET /v1/forecasts/provincial-review`: when will the province decide.

Aggregates only (counts and business days per province and kind), no filing and nothing
personal, so every signed-in role may read them: the applicant for their filing's page, the
provincial desk for its own figure, operators for their dashboards (the same figures are the
`filings_provincial_review_*` gauges on `/metrics`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from filing.forecast import MIN_SAMPLES, PROVINCIAL_KINDS, ExpectedDecision, ProvincialForecast, province_prefix
from filing.models import FilingKind
from service.access import role_in
from service.context import Services, services
from service.idempotency import json_answer
from service.outside import outside
from service.principal import Principal, Role
from service.problems import Problem, problem_responses, violation

router = APIRouter()
Svc = Annotated[Services, Depends(services)]
READERS = role_in(Role.APPLICANT, Role.PLATFORM_REVIEWER, Role.PROVINCE_REVIEWER, Role.VERIFICATION_SITE, Role.OPERATOR)


class ForecastEntry(ProvincialForecast):
    expected: ExpectedDecision | None = Field(
        default=None, description="With `started_at`: the China days the decision is expected by (median, 90%).")


class ForecastAnswer(BaseModel):
    window_days: int
    min_samples: int = Field(description="Fewer finished reviews than this: no figure (数据不足).")
    forecasts: list[ForecastEntry]


@router.get(
    "/v1/forecasts/provincial-review", response_model=ForecastAnswer, tags=["forecasts"],
    summary="Business days provincial reviews took (p50, p90, count) per province and kind, over 90 days",
    responses=problem_responses(401, 403, 422, 503),
)
async def provincial_review(
    svc: Svc,
    _: Annotated[Principal, Depends(READERS)],
    province: Annotated[str | None, Query(min_length=1, max_length=10, description=(
        "A province: filing-number prefix (冀), short or full name (河北); omitted: every province with a "
        "finished review in the window."))] = None,
    kind: Annotated[FilingKind | None, Query(description="One kind; omitted: every kind the provinces review.")] = None,
    started_at: Annotated[datetime | None, Query(description=(
        "A filing's provincial review start (ISO 8601 with offset): each entry then carries `expected`."))] = None,
) -> Response:
    """Reviews approved in the window whose start the registry recorded (from migration 0008 on)."""
    prefixes = None
    if province is not None:
        prefix = province_prefix(province)
        if prefix is None:
            raise Problem(422, f"unknown province {province!r}", kind="validation", errors=[violation(
                "query.province", "schema.unknown_province", "未知的省份（请填写备案号前缀如“冀”，或省份名称如“河北”）",
                "unknown province: give a filing-number prefix such as 冀 or a name such as 河北")])
        prefixes = [prefix]
    if kind is not None and kind not in PROVINCIAL_KINDS:
        raise Problem(422, f"{kind.value} is not reviewed by a province", kind="validation", errors=[violation(
            "query.kind", "schema.not_provincial", "取消接入不经通管局审核，没有该项预计",
            f"{kind.value} is not reviewed by a province; use one of "
            + ", ".join(k.value for k in PROVINCIAL_KINDS))])
    if started_at is not None and (started_at.tzinfo is None or started_at.utcoffset() is None):
        raise Problem(422, "started_at needs an offset", kind="validation", errors=[violation(
            "query.started_at", "schema.naive_instant", "started_at 须带时区（如 2026-12-01T09:00:00+08:00）",
            "started_at needs an offset, e.g. 2026-12-01T09:00:00+08:00")])
    board = svc.forecasts
    figures = await outside(asyncio.to_thread(board.figures, prefixes, [kind] if kind else None), "registry")
    entries = [
        ForecastEntry(**f.model_dump(), expected=board.expected(started_at, f) if started_at else None)
        for f in figures
    ]
    answer = ForecastAnswer(window_days=board.window_days, min_samples=board.min_samples or MIN_SAMPLES,
                            forecasts=entries)
    return json_answer(200, answer.model_dump(mode="json"))
