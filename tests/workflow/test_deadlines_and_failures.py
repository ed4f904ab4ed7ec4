"""§5 provisional deadlines and the outside services failing (transient and permanent)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from filing.calendar import CHINA_TZ, BusinessCalendar
from filing.messages import ReturnedBy, Stage
from filing.ports import HandOver, Notice, PermanentFailure
from adapters.notifier import FileNotifier
from adapters.review_desk import FileReviewDesk
from activities.notify import NotifyActivities
from activities.review import ReviewActivities
from engine.wiring import engine_activities
from filing.policy import FilingPolicy
from tests.processes import wait_until
from tests.workflow.test_lifecycle import new_filing
from workflows import search_attributes as sa


async def test_provisional_deadline_is_recomputed_after_calendar_update(env, make_engine, tmp_path):
    now = await env.get_current_time()
    calendar_dir = tmp_path / "calendar"
    # Pretend the packaged official data stops before this year: the deadline is provisional.
    calendar = BusinessCalendar(calendar_dir, official_until=min(now.year - 1, 2026))
    engine, worker = make_engine(calendar=calendar)
    async with worker:
        filing = await new_filing(env, engine)
        status = await filing.wait_stage(Stage.PLATFORM_REVIEW)
        provisional_due = status.deadline.due_at
        assert status.deadline.provisional
        assert (await filing.handle.describe()).typed_search_attributes.get(sa.DEADLINE_PROVISIONAL) is True

        # The operators load the year's data: the next three days are a public holiday.
        today = now.astimezone(CHINA_TZ).date()
        days_off = [d for d in (today + timedelta(days=i) for i in range(1, 4)) if d.weekday() < 5]
        write_overrides(calendar_dir, {today.year, today.year + 1}, days_off)
        await filing.handle.signal("calendar_updated", {})
        status = await filing.wait_for(lambda s: not s.deadline.provisional)
        assert status.deadline.due_at > provisional_due  # the holidays push it out
        assert any(e.event == "deadline_recomputed" for e in status.timeline)
        assert (await filing.handle.describe()).typed_search_attributes.get(sa.DEADLINE_PROVISIONAL) is False


def write_overrides(directory, years, holidays: list[date]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for year in years:
        days = [d.isoformat() for d in holidays if d.year == year]
        (directory / f"{year}.json").write_text(
            json.dumps({"year": year, "holidays": days, "workdays": [], "source": "test notice"}), encoding="utf-8"
        )


class FlakyDesk(FileReviewDesk):
    """Fails the first `transient` platform hand-overs, or every one for good."""

    def __init__(self, data_dir, *, transient: int = 0, permanent: bool = False) -> None:
        super().__init__(data_dir)
        self.calls = 0
        self.transient = transient
        self.permanent = permanent

    async def enqueue_platform_review(self, handover: HandOver) -> str:
        self.calls += 1
        if self.permanent:
            raise PermanentFailure("platform queue rejected the filing: unknown kind")
        if self.calls <= self.transient:
            raise ConnectionError("queue unavailable")
        return await super().enqueue_platform_review(handover)


def activities_with(engine_settings, desk) -> list:
    review = ReviewActivities(desk)
    replaced = {"enqueue_platform_review": review.enqueue_platform_review, "hand_over_to_province": review.hand_over_to_province}
    return [replaced.get(fn.__name__, fn) for fn in engine_activities(engine_settings)]


async def test_transient_handover_failure_is_retried(env, make_engine, tmp_path):
    engine, _ = make_engine()
    desk = FlakyDesk(engine.data_dir, transient=2)
    engine, worker = make_engine(activities=activities_with(engine.settings, desk))
    async with worker:
        filing = await new_filing(env, engine)
        await filing.wait_for(lambda s: any(e.event == "handed_over" for e in s.timeline))
        assert desk.calls == 3
        assert (await filing.status()).stage is Stage.PLATFORM_REVIEW


async def test_permanent_handover_failure_escalates_and_returns(env, make_engine):
    engine, _ = make_engine()
    desk = FlakyDesk(engine.data_dir, permanent=True)
    engine, worker = make_engine(activities=activities_with(engine.settings, desk))
    async with worker:
        filing = await new_filing(env, engine)
        status = await filing.wait_stage(Stage.RETURNED)
        assert status.returned.by is ReturnedBy.PLATFORM
        assert status.returned.reasons[0].error == "handover_failed"
        assert desk.calls == 1, "a permanent failure is not retried"
        await filing.wait_for(lambda s: s.timeline[-1].event == "notified")
        escalations = [n for n in filing.notifications() if n["channels"] == ["operator"]]
        assert [n["event"] for n in escalations] == ["handover_failed"]


async def test_outside_service_down_past_the_policy_timeout_escalates(env, make_engine):
    engine, _ = make_engine()
    desk = FlakyDesk(engine.data_dir, transient=10**6)
    engine, worker = make_engine(activities=activities_with(engine.settings, desk))
    async with worker:
        # Local activities time out on the worker's clock, not the test server's: keep it short.
        policy = FilingPolicy(outside_service_timeout=timedelta(seconds=3))
        filing = await new_filing(env, engine, policy=policy)
        status = await filing.wait_stage(Stage.RETURNED, timeout=30)
        assert status.returned.reasons[0].error == "handover_failed"
        assert desk.calls >= 2, "retried before giving up"
        await filing.wait_for(lambda s: s.timeline[-1].event == "notified")
        assert [n["event"] for n in filing.notifications() if n["channels"] == ["operator"]] == ["handover_failed"]


class LateReturnNotice(FileNotifier):
    """The 'filing returned' notice fails until the test lets it through: its retries are on
    durable timers while the applicant resubmits. (It used to fail for 8 s of wall time,
    which the retries' backoff stretched to ~15 s of the suite's.)"""

    def __init__(self, data_dir) -> None:
        super().__init__(data_dir)
        self.refused = 0
        self.released = False

    async def notify(self, notice: Notice) -> None:
        if notice.event == "filing_returned" and not self.released:
            self.refused += 1
            raise ConnectionError("notifier unavailable")
        await super().notify(notice)


async def test_a_resubmission_while_the_return_notice_is_pending(env, make_engine):
    engine, _ = make_engine()
    notifier = LateReturnNotice(engine.data_dir)
    notify = NotifyActivities(notifier).notify
    activities = [notify if fn.__name__ == "notify" else fn for fn in engine_activities(engine.settings)]
    engine, worker = make_engine(activities=activities)
    async with worker:
        filing = await new_filing(env, engine)
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("reject", reasons=[{"field": "subject.name", "error": "与证件不符"}])
        await filing.wait_stage(Stage.RETURNED, timeout=30)
        await wait_until(lambda: notifier.refused, 30, "the return notice to fail once (now pending, retried)")
        corrected = filing.application.model_copy(deep=True)
        corrected.subject.name = corrected.subject.name + "有限公司"
        answer = await filing.handle.execute_update("resubmit", {"application": corrected.model_dump(mode="json")})
        assert answer == {"attempt": 2}
        notifier.released = True  # the notice's next retry goes through, after the resubmission
        await filing.wait_for(lambda s: s.attempt == 2 and s.stage is Stage.PLATFORM_REVIEW, timeout=30)
        await filing.wait_for(lambda s: any(e.detail and "filing_returned" in e.detail for e in s.timeline), timeout=30)
        history = [e async for e in filing.handle.fetch_history_events()]
        assert not [e for e in history if e.HasField("workflow_task_failed_event_attributes")]
        assert (await filing.status()).stage is Stage.PLATFORM_REVIEW
