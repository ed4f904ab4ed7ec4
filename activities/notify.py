"""Notifications to applicants (站内信, 模板消息, 短信) and escalations to operators.

Each notice leaves with the Chinese text the person reads, rendered here from its event's
template (`filing.notice_texts`): rendering is pure, and doing it in the activity keeps the
workflow's commands as they were, so filings of earlier versions replay unchanged.
"""

from __future__ import annotations

from temporalio import activity

from activities.errors import permanent_failures_are_final
from activities.metrics import notice_delivered
from filing.notice_texts import render
from filing.ports import Notice, Notifier


class NotifyActivities:
    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    @activity.defn(name="notify")
    async def notify(self, notice: Notice) -> None:
        if notice.text is None:
            notice = notice.model_copy(update={"text": render(notice)})
        with permanent_failures_are_final():
            await self._notifier.notify(notice)
        notice_delivered(notice)
