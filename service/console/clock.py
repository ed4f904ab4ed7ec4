"""Instants as reviewers read them: China time (SPEC §5), and the time left before a deadline.

Instants travel in UTC; every page shows them in Asia/Shanghai (UTC+8, no daylight
saving), with the zone named once in the page header rather than on every cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from filing.dates import CHINA_TZ, deadline_text


def china_time(instant: datetime | str | None, *, seconds: bool = False) -> str:
    if instant is None or instant == "":
        return "—"
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def deadline(instant: datetime | str | None) -> str:
    """A deadline, the one way every surface shows it: `2026-12-09 24:00（北京时间）`
    (`filing.dates.deadline_text`; at midnight, 24:00 of the day it closes)."""
    if instant is None or instant == "":
        return "—"
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    return deadline_text(instant)


@dataclass(frozen=True)
class TimeLeft:
    overdue: bool
    text: str  # 剩余 N 天 M 小时 / 已逾期


def time_left(due_at: datetime | str | None, now: datetime | None = None, *, breached: bool = False) -> TimeLeft | None:
    """"剩余 N 天 M 小时" until `due_at`, or "已逾期" (with by how much) once it is past or the
    filing says its SLA is breached."""
    if due_at is None or due_at == "":
        return None
    if isinstance(due_at, str):
        due_at = datetime.fromisoformat(due_at)
    if due_at.tzinfo is None:
        due_at = due_at.replace(tzinfo=UTC)
    seconds = int((due_at - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0 or breached:
        late = max(0, -seconds)
        days, hours = late // 86400, late % 86400 // 3600
        return TimeLeft(True, f"已逾期 {days} 天 {hours} 小时" if late >= 3600 else "已逾期")
    days, hours = seconds // 86400, seconds % 86400 // 3600
    if days == 0 and hours == 0:
        return TimeLeft(False, "剩余 不到 1 小时")
    return TimeLeft(False, f"剩余 {days} 天 {hours} 小时")
