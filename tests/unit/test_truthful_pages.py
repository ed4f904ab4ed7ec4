"""The console's words for where a filing stands (issue 19, items 2 and 3), rendered without
a server: a cancellation's ending is what it is (注销成功 / 已取消接入), never 备案成功; an
applied 平台初审 approval shows as "已通过，正在流转…" with no decision form until the engine
moves the filing on; a return's reasons are the red box only while the filing is returned,
then history of the attempt they were about, the fields named by their Chinese labels."""

from __future__ import annotations

from datetime import UTC, datetime

from filing.messages import FilingStatus, Reason, ReturnedBy, ReturnedView, Stage, TimelineEntry
from filing.models import FilingKind
from service.console import labels
from service.console.filing_view import FilingView
from service.console.render import environment
from service.principal import Principal, Role

AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REVIEWER = Principal(role=Role.PLATFORM_REVIEWER, sub="r-01")


def status(stage: Stage, *, kind: FilingKind = FilingKind.NEW, attempt: int = 1, events: tuple[str, ...] = (),
           returned: bool = False) -> FilingStatus:
    return FilingStatus(
        filing_id="filing-wx1234567890abcdef", kind=kind, stage=stage, attempt=attempt,
        timeline=[TimelineEntry(at=AT, event=e) for e in events],
        returned=ReturnedView(by=ReturnedBy.PLATFORM, reasons=[Reason(field="subject.address.detail", error="地址未写到门牌号")])
        if returned else None)


def returned_html(view: FilingView) -> str:
    template = environment().from_string('{% import "_filing.html" as f %}{{ f.returned(view, status_) }}')
    return template.render(view=view, status_=view.status)


def test_a_cancellation_ends_as_what_it_is_never_as_an_approved_filing():
    assert labels.stage(Stage.APPROVED, FilingKind.NEW) == "备案成功"
    assert labels.stage(Stage.APPROVED, FilingKind.CANCEL_MINI_PROGRAM) == "注销成功"
    assert labels.stage(Stage.APPROVED, FilingKind.CANCEL_SUBJECT) == "注销成功"
    assert labels.stage(Stage.APPROVED, FilingKind.CANCEL_ACCESS) == "已取消接入"
    assert labels.stage(Stage.WITHDRAWN, FilingKind.CANCEL_MINI_PROGRAM) == "注销已终止"
    assert labels.event("approved", FilingKind.CANCEL_SUBJECT) == "注销成功"
    for kind in (FilingKind.CANCEL_SUBJECT, FilingKind.CANCEL_MINI_PROGRAM, FilingKind.CANCEL_ACCESS):
        view = FilingView("wx1234567890abcdef", status(Stage.APPROVED, kind=kind, events=("approved",)))
        assert "备案成功" not in view.stage_words
        progress = environment().from_string(
            '{% import "_cancellation.html" as c %}{{ c.progress(view, status_) }}').render(view=view, status_=view.status)
        assert "备案成功" not in progress and labels.CANCELLED_OUTCOME[kind] in progress


def test_an_applied_platform_approval_is_shown_as_moving_on_without_the_decision_form():
    waiting = FilingView("wx1234567890abcdef", status(Stage.PLATFORM_REVIEW, events=("submitted", "platform_review_started")))
    assert waiting.at_desk(REVIEWER) and not waiting.moving_on
    approved = FilingView("wx1234567890abcdef", status(
        Stage.PLATFORM_REVIEW, events=("submitted", "platform_review_started", "platform_approved", "sms_sent")))
    assert approved.moving_on and not approved.at_desk(REVIEWER)
    assert approved.stage_words == "已通过，正在流转…"
    # An approval of an earlier attempt does not count for the attempt now at the desk.
    again = FilingView("wx1234567890abcdef", status(
        Stage.PLATFORM_REVIEW, attempt=2,
        events=("platform_review_started", "platform_approved", "filing_returned", "resubmitted", "platform_review_started")))
    assert again.at_desk(REVIEWER) and not again.moving_on


def test_return_reasons_are_the_red_box_while_returned_then_collapsed_history():
    now = FilingView("wx1234567890abcdef", status(Stage.RETURNED, returned=True))
    html = returned_html(now)
    assert 'class="returned"' in html and "<details" not in html
    assert "详细通讯地址" in html and '<small class="path">subject.address.detail</small>' in html

    later = FilingView("wx1234567890abcdef", status(Stage.SMS_VERIFICATION, attempt=2, returned=True))
    html = returned_html(later)
    assert 'class="returned"' not in html
    assert "<details" in html and " open" not in html  # collapsed
    assert "第 1 次提交的退回理由（已重新提交" in html and "详细通讯地址" in html

    ended = FilingView("wx1234567890abcdef", status(Stage.EXPIRED, returned=True))
    assert "第 1 次提交的退回理由（未重新提交" in returned_html(ended)
