"""The provincial-review forecast's arithmetic: business days across a holiday, nearest-rank
percentiles, the sliding window, "数据不足" below 20, the expected days on the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from filing.calendar import CHINA_TZ, BusinessCalendar
from filing.forecast import ReviewSample, business_days_taken, expected_decision, forecast
from filing.models import FilingKind

CAL = BusinessCalendar()


def china(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA_TZ).astimezone(UTC)


def test_business_days_skip_weekends_and_the_national_day_holiday() -> None:
    # 2025-09-30 (Tue) → 2025-10-09 (Thu): 10-01..10-08 are off, 09-28 and 10-11 are make-up days.
    assert business_days_taken(CAL, china(date(2025, 9, 30)), china(date(2025, 10, 9), 16)) == 1
    assert business_days_taken(CAL, china(date(2025, 9, 30)), china(date(2025, 10, 11), 16)) == 3  # a make-up Saturday
    assert business_days_taken(CAL, china(date(2025, 9, 30)), china(date(2025, 9, 30), 18)) == 0  # the same day
    # The count agrees with the deadlines: decided on the last day of an n-day deadline took n.
    start = china(date(2025, 9, 26))
    due = CAL.add_business_days(start, 7).due_at
    assert business_days_taken(CAL, start, due - timedelta(hours=1)) == 7


def samples(province: str, days: list[int], now: datetime, *, age: int = 40) -> list[ReviewSample]:
    start = now - timedelta(days=age)
    return [ReviewSample(province=province, kind=FilingKind.NEW, started_at=start,
                         decided_at=CAL.add_business_days(start, n).due_at - timedelta(hours=2)) for n in days]


def test_figures_per_province_median_and_90th_percentile_and_too_few() -> None:
    now = datetime(2026, 3, 20, 4, tzinfo=UTC)
    days = [3] * 4 + [5] * 6 + [6] * 6 + [9] * 6 + [11] * 3  # 25 reviews
    seeded = (samples("冀", days, now) + samples("冀", [40, 40], now, age=200)  # outside the 90 days
              + samples("粤", [2, 4, 8, 8, 9], now))
    hebei = forecast(seeded, CAL, now, "冀", FilingKind.NEW)
    assert (hebei.count, hebei.p50, hebei.p90, hebei.enough) == (25, 6, 11, True)
    assert hebei.text == "河北通管局近 90 天：中位 6 个工作日，90% 在 11 个工作日内"
    guangdong = forecast(seeded, CAL, now, "粤", FilingKind.NEW)
    assert (guangdong.count, guangdong.p50, guangdong.p90, guangdong.enough) == (5, None, None, False)
    assert guangdong.text.startswith("广东通管局近 90 天：数据不足（仅 5 件")
    assert forecast(seeded, CAL, now, "冀", FilingKind.CHANGE).count == 0  # per kind


def test_expected_days_are_counted_on_the_business_calendar() -> None:
    now = datetime(2025, 11, 1, tzinfo=UTC)
    figures = forecast(samples("冀", [6] * 15 + [11] * 5, now), CAL, now, "冀", FilingKind.NEW)
    assert (figures.p50, figures.p90) == (6, 11)
    expected = expected_decision(CAL, china(date(2025, 9, 29)), figures)  # Monday before the holiday
    assert expected is not None and expected.started_on == date(2025, 9, 29)
    # Workdays after 09-29: 09-30, 10-09, 10-10, 10-11 (make-up), 10-13, 10-14 → the 6th is 10-14.
    assert expected.median_by == date(2025, 10, 14)
    assert expected.p90_by == date(2025, 10, 21)
    too_few = forecast([], CAL, now, "冀", FilingKind.NEW)
    assert expected_decision(CAL, china(date(2025, 9, 29)), too_few) is None
