"""Business calendar (SPEC §5): working days, business-day deadlines, yearly overrides."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from filing.calendar import BusinessCalendar, CalendarDataError, CalendarOverride, Deadline

CN = ZoneInfo("Asia/Shanghai")

# 国务院办公厅关于2027年部分节假日安排的通知 is not out yet: a plausible stand-in.
OVERRIDE_2027 = {
    "year": 2027,
    "holidays": ["2027-01-01", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12"],
    "workdays": ["2027-02-06", "2027-02-20"],
    "source": "test stand-in for 国办发明电〔2026〕N号",
}


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar()


def write(dir_: Path, name: str, payload: dict) -> Path:
    path = dir_ / name
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


# -- working days ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 1, 26), True),  # Sunday, make-up working day for Spring Festival
        (date(2026, 2, 28), True),  # Saturday, make-up working day
        (date(2025, 10, 8), False),  # Wednesday, National Day holiday
        (date(2026, 2, 23), False),  # Monday, Spring Festival holiday
        (date(2025, 10, 9), True),  # plain Thursday
        (date(2025, 10, 12), False),  # plain Sunday
    ],
)
def test_is_workday(cal: BusinessCalendar, day: date, expected: bool) -> None:
    assert cal.is_workday(day) is expected


def test_2026_agrees_with_the_holidays_package(cal: BusinessCalendar) -> None:
    # holidays.China lists the days off (including substituted weekdays, 调休) and, in
    # `weekend_workdays`, the make-up working days (补班): both sides are compared.
    cn = holidays.China(years=2026)
    assert cn.weekend_workdays, "holidays package lost its make-up working days"
    day = date(2026, 1, 1)
    while day.year == 2026:
        expected = (day.weekday() < 5 and day not in cn) or day in cn.weekend_workdays
        assert cal.is_workday(day) is expected, day
        assert cal.is_workday(day) is cn.is_working_day(day), day
        day += timedelta(days=1)


def test_is_workday_refuses_a_datetime(cal: BusinessCalendar) -> None:
    with pytest.raises(TypeError):
        cal.is_workday(datetime(2025, 10, 9, tzinfo=UTC))


# -- deadlines -------------------------------------------------------------------------


def test_twenty_business_days_over_national_day(cal: BusinessCalendar) -> None:
    start = datetime(2025, 9, 26, 10, 0, tzinfo=CN)
    d = cal.add_business_days(start, 20)
    assert d.due_at == datetime(2025, 10, 31, 0, 0, tzinfo=CN)
    assert d.due_at == datetime(2025, 10, 30, 16, 0, tzinfo=UTC)
    assert d.due_at.tzinfo == UTC and d.start.tzinfo == UTC
    assert d.start == start
    assert d.business_days == 20
    assert d.provisional is False
    assert d.calendar_version == cal.version


def test_two_business_days_across_the_golden_week(cal: BusinessCalendar) -> None:
    d = cal.add_business_days(datetime(2025, 9, 30, 9, 0, tzinfo=CN), 2)
    assert d.due_at.astimezone(CN) == datetime(2025, 10, 11, 0, 0, tzinfo=CN)  # end of 10-10


def test_late_evening_counts_from_the_china_calendar_day(cal: BusinessCalendar) -> None:
    # 23:30 China time is still 2025-09-26 in China, though 15:30 UTC; the day itself
    # never counts, whatever the hour.
    late = datetime(2025, 9, 26, 15, 30, tzinfo=UTC)
    assert late.astimezone(CN).date() == date(2025, 9, 26)
    assert cal.add_business_days(late, 20).due_at == datetime(2025, 10, 30, 16, 0, tzinfo=UTC)
    # ...and 00:30 China time on the 27th is the 27th (a Saturday): 09-28 is a make-up
    # working day, so the window moves by one working day.
    early = datetime(2025, 9, 26, 16, 30, tzinfo=UTC)
    assert cal.add_business_days(early, 1).due_at.astimezone(CN) == datetime(2025, 9, 29, tzinfo=CN)
    # Any offset is accepted; the result is in UTC.
    other = datetime(2025, 9, 26, 17, 30, tzinfo=timezone(timedelta(hours=-5)))  # 09-27 06:30 CN
    assert cal.add_business_days(other, 1).due_at == datetime(2025, 9, 28, 16, 0, tzinfo=UTC)


def test_deadline_round_trips_as_json(cal: BusinessCalendar) -> None:
    d = cal.add_business_days(datetime(2025, 9, 26, 2, 0, tzinfo=UTC), 20)
    assert Deadline.model_validate_json(d.model_dump_json()) == d


@pytest.mark.parametrize("n", [0, -1])
def test_n_below_one_is_an_error(cal: BusinessCalendar, n: int) -> None:
    with pytest.raises(ValueError):
        cal.add_business_days(datetime(2025, 9, 26, tzinfo=UTC), n)


def test_naive_start_is_an_error(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_business_days(datetime(2025, 9, 26, 10, 0), 2)


# -- unknown years and overrides -------------------------------------------------------


def test_window_into_2027_is_provisional_until_its_override_is_loaded(tmp_path: Path) -> None:
    cal = BusinessCalendar(tmp_path)
    assert not cal.knows(2027) and cal.source_of(2027) == "weekends-only"
    start = datetime(2026, 12, 20, 10, 0, tzinfo=CN)
    before = cal.add_business_days(start, 20)
    assert before.provisional is True
    # weekends only: 2027-01-01 (Friday) counts as a working day
    assert before.due_at.astimezone(CN) == datetime(2027, 1, 16, tzinfo=CN)
    old_version = cal.version
    assert old_version.endswith("+overrides:none")

    assert cal.reload() is False  # nothing on disk yet
    write(tmp_path, "2027.json", OVERRIDE_2027)
    assert cal.reload() is True
    assert cal.reload() is False  # idempotent

    assert cal.knows(2027) and cal.source_of(2027) == "override"
    assert cal.version != old_version
    after = cal.add_business_days(start, 20)
    assert after.provisional is False
    assert after.calendar_version == cal.version
    assert after.due_at.astimezone(CN) == datetime(2027, 1, 19, tzinfo=CN)  # 01-01 is off
    assert before.calendar_version == old_version  # recorded deadlines keep their version


def test_official_until_makes_later_years_unknown() -> None:
    cal = BusinessCalendar(official_until=2025)
    assert cal.knows(2025) and not cal.knows(2026)
    assert cal.source_of(2026) == "weekends-only"
    assert cal.add_business_days(datetime(2025, 12, 20, tzinfo=CN), 20).provisional is True
    assert cal.add_business_days(datetime(2025, 9, 26, tzinfo=CN), 20).provisional is False
    assert cal.is_workday(date(2026, 2, 28)) is False  # make-up Saturday not known: weekend
    assert cal.version != BusinessCalendar().version


def test_override_wins_over_official_data(tmp_path: Path) -> None:
    # A correction for a year the package knows: 2025-10-09 declared off as well.
    write(tmp_path, "2025.json", {
        "year": 2025,
        "holidays": ["2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07",
                     "2025-10-08", "2025-10-09"],
        "workdays": ["2025-09-28", "2025-10-11"],
        "source": "correction",
    })
    cal = BusinessCalendar(tmp_path)
    assert cal.source_of(2025) == "override" and cal.source_of(2026) == "official"
    assert cal.is_workday(date(2025, 10, 9)) is False
    assert cal.is_workday(date(2025, 1, 28)) is True  # the override replaces the whole year
    assert cal.is_workday(date(2026, 2, 23)) is False  # other years untouched


def test_version_ignores_formatting(tmp_path: Path) -> None:
    path = write(tmp_path, "2027.json", OVERRIDE_2027)
    cal = BusinessCalendar(tmp_path)
    version = cal.version
    path.write_text(json.dumps(OVERRIDE_2027, indent=4, ensure_ascii=False), encoding="utf-8")
    assert cal.reload() is False and cal.version == version


def test_year_days(cal: BusinessCalendar) -> None:
    days = cal.year_days(2026)
    assert len(days) == 365 and days[0].day == date(2026, 1, 1)
    assert {d.source for d in days} == {"official"}
    by_day = {d.day: d.is_workday for d in days}
    assert by_day[date(2026, 2, 28)] is True and by_day[date(2026, 2, 23)] is False
    assert {d.source for d in cal.year_days(2030)} == {"weekends-only"}


def test_missing_override_dir_is_empty(tmp_path: Path) -> None:
    cal = BusinessCalendar(tmp_path / "not-yet")
    assert cal.version.endswith("+overrides:none")


# -- override validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"holidays": ["2028-01-03"]}, "holidays", "not in 2027"),
        ({"workdays": ["2026-12-26"]}, "workdays", "not in 2027"),
        ({"holidays": ["2027-01-02"]}, "holidays", "weekday"),  # a Saturday
        ({"workdays": ["2027-01-04"]}, "workdays", "weekend"),  # a Monday
        ({"holidays": ["2027-01-04"], "workdays": ["2027-01-04"]}, "workdays", "both"),
        ({"holidays": ["2027-01-04", "2027-01-04"]}, "holidays", "duplicate"),
        ({"note": "x"}, "note", "Extra inputs"),
        ({"source": ""}, "source", "at least 1"),
    ],
)
def test_invalid_override_names_file_and_field(
    tmp_path: Path, change: dict, field: str, words: str
) -> None:
    path = write(tmp_path, "2027.json", {**OVERRIDE_2027, **change})
    with pytest.raises(CalendarDataError) as err:
        BusinessCalendar(tmp_path)
    message = str(err.value)
    assert str(path) in message and f"{field}:" in message and words in message


def test_year_must_match_file_name(tmp_path: Path) -> None:
    write(tmp_path, "2028.json", OVERRIDE_2027)
    with pytest.raises(CalendarDataError, match=r"2028\.json: year:"):
        BusinessCalendar(tmp_path)


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "2027.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CalendarDataError, match=r"2027\.json"):
        BusinessCalendar(tmp_path)


def test_bad_reload_keeps_the_previous_data(tmp_path: Path) -> None:
    write(tmp_path, "2027.json", OVERRIDE_2027)
    cal = BusinessCalendar(tmp_path)
    version = cal.version
    write(tmp_path, "2027.json", {**OVERRIDE_2027, "holidays": ["2027-01-02"]})
    with pytest.raises(CalendarDataError):
        cal.reload()
    assert cal.version == version and cal.source_of(2027) == "override"


def test_override_model_accepts_the_documented_format() -> None:
    o = CalendarOverride.model_validate(OVERRIDE_2027)
    assert o.year == 2027 and date(2027, 2, 6) in o.workdays
    assert isinstance(CalendarDataError("x"), ValueError)
