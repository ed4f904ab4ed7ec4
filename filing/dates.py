"""Date arithmetic the rules share: China's calendar day of an instant, and month steps.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for
any submission and needs no tz database (which the Temporal workflow sandbox would
otherwise have to load when the resubmit validator runs the rules).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
#: How every deadline names its zone, in the console, the CLI, the notices and the API docs.
CHINA_ZONE_WORDS = "（北京时间）"


def as_utc(instant: datetime) -> datetime:
    """Instants are stored in UTC (SPEC §5); a naive one is taken to be UTC already."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def china_date(instant: datetime) -> date:
    """The calendar day in China time on which `instant` falls."""
    return as_utc(instant).astimezone(CHINA_TZ).date()


def add_months(day: date, months: int) -> date:
    """Same day-of-month `months` later, clamped to the month's end (Jan 31 + 1 = Feb 28/29)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    next_year, next_month0 = divmod(year * 12 + month0 + 1, 12)
    month_length = (date(next_year, next_month0 + 1, 1) - timedelta(days=1)).day
    return date(year, month0 + 1, min(day.day, month_length))


def deadline_text(instant: datetime, *, zone: bool = True) -> str:
    """A deadline as people read it, the one way the console, the CLI, the notices and the
    API docs show it: `2026-12-09 24:00（北京时间）`.

    Business-day deadlines end at midnight China time (SPEC §5); an instant at midnight is
    said as 24:00 of the day it closes, never 00:00 of the next one, so the last day to act
    is the day written. Other instants keep their minute. `zone=False` leaves the zone off
    where a page names it once for all its times.
    """
    local = as_utc(instant).astimezone(CHINA_TZ)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        text = f"{(local.date() - timedelta(days=1)).isoformat()} 24:00"
    else:
        text = local.strftime("%Y-%m-%d %H:%M")
    return text + (CHINA_ZONE_WORDS if zone else "")
