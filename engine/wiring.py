"""Which implementation serves each port (SPEC §8), and the worker's registrations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.deadlines import CalendarActivities
from activities.notify import NotifyActivities
from activities.review import ReviewActivities
from activities.sms import SmsActivities
from activities.submission import SubmissionActivities
from adapters.face import RecordFaceVerifier
from adapters.notifier import FileNotifier
from adapters.review_desk import FileReviewDesk
from adapters.sms_outbox import OutboxSmsGateway
from engine.settings import Settings
from filing.calendar import BusinessCalendar
from workflows.filing import FilingWorkflow

WORKFLOWS = [FilingWorkflow]


def local_activities(settings: Settings, calendar: BusinessCalendar | None = None) -> list[Callable[..., Any]]:
    """The activities on the local adapters: files under the data dir, no network."""
    data = settings.data_dir
    calendar = calendar or BusinessCalendar(settings.calendar_path)
    sms = SmsActivities(OutboxSmsGateway(data), settings.sms_code_keys())
    review = ReviewActivities(FileReviewDesk(data))
    return [
        SubmissionActivities(RecordFaceVerifier()).check_submission,
        CalendarActivities(calendar).compute_deadline,
        sms.send_sms_code,
        sms.check_sms_code,
        NotifyActivities(FileNotifier(data)).notify,
        review.enqueue_platform_review,
        review.hand_over_to_province,
    ]
