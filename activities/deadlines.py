"""§5: deadlines are computed here, on the worker's calendar, and recorded in the history."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from filing.calendar import BusinessCalendar, Deadline
from filing.models import Model


class DeadlineRequest(Model):
    start: datetime
    business_days: int
    #: Re-read the override files first (after the operators signalled `calendar_updated`).
    reload: bool = False


class CalendarActivities:
    def __init__(self, calendar: BusinessCalendar) -> None:
        self._calendar = calendar

    @activity.defn(name="compute_deadline")
    async def compute_deadline(self, request: DeadlineRequest) -> Deadline:
        if request.reload:
            self._calendar.reload()
        return self._calendar.add_business_days(request.start, request.business_days)
