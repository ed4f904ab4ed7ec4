"""When will the province decide: the business days provincial reviews actually took.

No anchor (WeChat, MIIT, the provinces) tells an applicant when *their* province will
decide; the SLA (20 business days) is an upper bound nobody reads as an estimate. This module
turns finished reviews — each a provincial review's start and its approval, as the registry
records them (`registry_changes.review_started_at`, `approved_at`) — into per-province,
per-kind figures over a sliding window: the median and the 90th percentile of the business
days taken, and how many reviews they stand on. Below `MIN_SAMPLES` finished reviews a figure
would be noise, so the forecast says "数据不足" instead of a number.

Pure domain code: the calendar is passed in, the samples are read by `registry/forecasts.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from pydantic import Field

from filing.calendar import BusinessCalendar
from filing.dates import china_date
from filing.models import FilingKind, Model
from filing.provinces import find_province, province_by_prefix

#: Fewer finished reviews than this in the window: no figure (数据不足).
MIN_SAMPLES = 20
#: The sliding window, in calendar days, counted back from now by the approval's instant.
WINDOW_DAYS = 90
#: Kinds that go through provincial review (取消接入 is the platform's own act).
PROVINCIAL_KINDS = (FilingKind.NEW, FilingKind.CHANGE, FilingKind.CANCEL_SUBJECT, FilingKind.CANCEL_MINI_PROGRAM)
#: How a kind is named in a sentence.
KIND_WORDS = {
    FilingKind.NEW: "新增备案", FilingKind.CHANGE: "变更备案", FilingKind.CANCEL_SUBJECT: "注销主体",
    FilingKind.CANCEL_MINI_PROGRAM: "注销小程序", FilingKind.CANCEL_ACCESS: "取消接入",
}


class ReviewSample(Model):
    """One finished provincial review: the province (filing-number prefix), the kind, when
    the review started and when it was decided."""

    province: str
    kind: FilingKind
    started_at: datetime
    decided_at: datetime


class ProvincialForecast(Model):
    """The figures of one province and kind (the API's answer, the gauge's values)."""

    province: str = Field(description="Filing-number prefix of the province (冀).")
    province_name: str = Field(description="The province's short name (河北).")
    kind: FilingKind
    window_days: int = Field(description="The sliding window: reviews approved in the last this many days.")
    count: int = Field(description="Finished provincial reviews in the window.")
    enough: bool = Field(description=f"Whether there are at least {MIN_SAMPLES} (else no figure: 数据不足).")
    p50: int | None = Field(description="Median business days the review took; null when not enough.")
    p90: int | None = Field(description="90% of the reviews took at most this many business days; null when not enough.")
    text: str = Field(description="The figure as the console says it, in Chinese.")


class ExpectedDecision(Model):
    """The days a filing's decision is expected by, from its provincial review's start."""

    started_on: date
    median_by: date
    p90_by: date


def business_days_taken(calendar: BusinessCalendar, started_at: datetime, decided_at: datetime) -> int:
    """Working days after the start's China day up to and including the decision's China day:
    the `n` for which `add_business_days(start, n)` is the first deadline the decision met
    (a decision on the start's day, or on the weekend after, took 0)."""
    first, last = china_date(started_at), china_date(decided_at)
    days, day = 0, first + timedelta(days=1)
    while day <= last:
        days += calendar.is_workday(day)
        day += timedelta(days=1)
    return days


def nearest_rank(sorted_values: list[int], fraction: float) -> int:
    """The nearest-rank percentile: the smallest value at least `fraction` of the values do
    not exceed ("90% 在 11 个工作日内" holds exactly)."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def province_prefix(text: str) -> str | None:
    """A province named by prefix, alias, short or full name → its canonical prefix."""
    province = find_province(text)
    return province.prefix if province else None


def forecast(
    samples: Iterable[ReviewSample], calendar: BusinessCalendar, now: datetime, province: str, kind: FilingKind,
    *, window_days: int = WINDOW_DAYS, min_samples: int = MIN_SAMPLES,
) -> ProvincialForecast:
    """The figures of `province` (a canonical prefix) and `kind` from the samples decided in
    the window ending `now`."""
    since = now - timedelta(days=window_days)
    taken = sorted(
        business_days_taken(calendar, s.started_at, s.decided_at)
        for s in samples
        if s.province == province and s.kind is kind and since <= s.decided_at <= now and s.started_at <= s.decided_at
    )
    enough = len(taken) >= min_samples
    p50 = nearest_rank(taken, 0.5) if enough else None
    p90 = nearest_rank(taken, 0.9) if enough else None
    named = province_by_prefix(province)
    name = named.short_name if named else province
    result = ProvincialForecast(province=province, province_name=name, kind=kind, window_days=window_days,
                                count=len(taken), enough=enough, p50=p50, p90=p90, text="")
    return result.model_copy(update={"text": sentence(result, min_samples)})


def sentence(figures: ProvincialForecast, min_samples: int = MIN_SAMPLES) -> str:
    """`河北通管局近 90 天：中位 6 个工作日，90% 在 11 个工作日内`, or why there is no figure."""
    head = f"{figures.province_name}通管局近 {figures.window_days} 天"
    if not figures.enough:
        return (f"{head}：数据不足（仅 {figures.count} 件已完成的{KIND_WORDS[figures.kind]}审核，"
                f"至少 {min_samples} 件才给出预计）")
    return f"{head}：中位 {figures.p50} 个工作日，90% 在 {figures.p90} 个工作日内"


def expected_decision(calendar: BusinessCalendar, started_at: datetime, figures: ProvincialForecast) -> ExpectedDecision | None:
    """The China days by which the decision is expected (median) and 90% likely, counted on
    the business calendar from the review's start; None without a figure."""
    if not figures.enough or figures.p50 is None or figures.p90 is None:
        return None

    def by(days: int) -> date:
        if days < 1:
            return china_date(started_at)
        # `due_at` is 24:00 of the last counted day, i.e. 00:00 of the next one.
        return china_date(calendar.add_business_days(started_at, days).due_at) - timedelta(days=1)

    return ExpectedDecision(started_on=china_date(started_at), median_by=by(figures.p50), p90_by=by(figures.p90))
