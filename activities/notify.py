"""Notifications to applicants (站内信, 模板消息, 短信) and escalations to operators."""

from __future__ import annotations

from temporalio import activity

from activities.errors import permanent_failures_are_final
from activities.metrics import notice_delivered
from filing.ports import Notice, Notifier


class NotifyActivities:
    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    @activity.defn(name="notify")
    async def notify(self, notice: Notice) -> None:
        with permanent_failures_are_final():
            await self._notifier.notify(notice)
        notice_delivered(notice)
