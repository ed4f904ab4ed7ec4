"""§5: deadlines are computed here, on the worker's calendar, and recorded in the history.

Every computation first asks the calendar's overrides whether they changed (the registry
database's `calendar_overrides`, one small read), so every worker answers with the data
the operators imported, not only the one that handled a `calendar_updated`, and none
needs a restart. Overrides that do not validate are refused, never fatal: the deadline
says so (`calendar_problem`) and the workflow escalates it. A database that cannot answer
fails the activity, which Temporal retries.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import activity

from filing.calendar import BusinessCalendar, Deadline
from filing.models import Model


class DeadlineRequest(Model):
    start: datetime
    business_days: int
    #: Sent by filings started before every computation refreshed the calendar; ignored.
    reload: bool = False


class CalendarActivities:
    def __init__(self, calendar: BusinessCalendar) -> None:
        self._calendar = calendar

    @activity.defn(name="compute_deadline")
    async def compute_deadline(self, request: DeadlineRequest) -> Deadline:
        # Reading the overrides is blocking I/O: off the event loop.
        return await asyncio.to_thread(self._calendar.deadline, request.start, request.business_days)
