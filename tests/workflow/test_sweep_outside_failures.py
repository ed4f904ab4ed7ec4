"""Every activity the workflow calls, each made to fail for good, one at a time: the filing
ends where the README says (returned, rejected, or waiting with the operators alerted),
never as a FAILED workflow, never with a failed workflow task, and its history replays.

A failure "for good" is what a real outside part answers when retrying cannot help: a
port raising `PermanentFailure` (the SMS gateway, the notifier, the review desk), or an
activity replaced by one that raises a non-retryable `ApplicationError` (the parts with no
port of their own here: the L1 check, the calendar, the SMS keys, the code check, L8).

`test_the_sweep_covers_every_activity` fails when an activity is added without a case.
On the time-skipping server: the deadline retries wait on durable timers of minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from activities.deadlines import DeadlineRequest
from activities.notify import NotifyActivities
from activities.review import ReviewActivities
from activities.sms import SmsActivities
from adapters.notifier import FileNotifier
from adapters.review_desk import FileReviewDesk
from adapters.sms_outbox import OutboxSmsGateway
from engine.updates import send_update
from engine.wiring import WORKFLOWS, engine_activities
from filing.calendar import Deadline
from filing.messages import ReturnedBy, Stage
from filing.models import CancellationRequest, FilingKind
from filing.ports import HandOver, Notice, PermanentFailure, SmsMessage
from filing.registry import RegistryChange, RegistryOutcome
from tests.conftest import TEST_CONVERTER
from tests.workflow.harness import Filing, launch_cancellation
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms

SWEPT = {
    "check_submission", "compute_deadline", "current_sms_key", "send_sms_code", "check_sms_code", "notify",
    "enqueue_platform_review", "hand_over_to_province", "record_approval",
}


def broken(name: str, why: str, *, while_: Callable[[], bool] = lambda: True) -> Callable[..., Any]:
    """An activity `name` that refuses for good (non-retryable), while `while_()` holds."""
    async def refuse(*_: Any) -> Any:
        if while_():
            raise ApplicationError(f"{name}: {why}", type="PermanentFailure", non_retryable=True)
        raise AssertionError("a test that lets the part work again replaces the activity instead")

    refuse.__name__ = name  # the worker serves `send_sms_code` on the SMS queue by this name
    return activity.defn(name=name)(refuse)


class Outage:
    """A part of the engine that is down (refusing for good) until `down` is cleared, and then
    works again as the engine's own activity: the calendar, the registry (L8)."""

    def __init__(self, settings: Any, name: str, why: str) -> None:
        self.down = True
        self.why = why
        self.working = next(fn for fn in engine_activities(settings) if fn.__name__ == name)

    def refuse_while_down(self) -> None:
        if self.down:
            raise ApplicationError(self.why, type="PermanentFailure", non_retryable=True)


def calendar_outage(settings: Any) -> tuple[Outage, Callable[..., Any]]:
    outage = Outage(settings, "compute_deadline", "calendar: data file unreadable")

    @activity.defn(name="compute_deadline")
    async def compute_deadline(request: DeadlineRequest) -> Deadline:
        outage.refuse_while_down()
        return await outage.working(request)

    return outage, compute_deadline


def registry_outage(settings: Any) -> tuple[Outage, Callable[..., Any]]:
    outage = Outage(settings, "record_approval", "registry: database refused the connection")

    @activity.defn(name="record_approval")
    async def record_approval(change: RegistryChange) -> RegistryOutcome:
        outage.refuse_while_down()
        return await outage.working(change)

    return outage, record_approval


class DownGateway(OutboxSmsGateway):
    async def send(self, message: SmsMessage) -> SmsMessage:
        raise PermanentFailure("12381 gateway: number barred from receiving verification SMS")


class RefusesResends(OutboxSmsGateway):
    """The first code goes out; a resend to the same number is refused for good."""

    async def send(self, message: SmsMessage) -> SmsMessage:
        if not message.idempotency_key.endswith(":0"):
            raise PermanentFailure("12381 gateway: number barred from receiving verification SMS")
        return await super().send(message)


class DownNotifier(FileNotifier):
    async def notify(self, notice: Notice) -> None:
        raise PermanentFailure("notifier: account closed")


class DownDesk(FileReviewDesk):
    """The platform queue or the province refuses the hand-over for good."""

    def __init__(self, data_dir: Any, which: str) -> None:
        super().__init__(data_dir)
        self.which = which

    async def enqueue_platform_review(self, handover: HandOver) -> str:
        if self.which == "platform":
            raise PermanentFailure("platform queue: kind not accepted")
        return await super().enqueue_platform_review(handover)

    async def hand_over_to_province(self, handover: HandOver) -> str:
        if self.which == "province":
            raise PermanentFailure("province: submission refused")
        return await super().hand_over_to_province(handover)


def replacing(settings: Any, *replacements: Callable[..., Any]) -> list[Callable[..., Any]]:
    by_name = {fn.__name__: fn for fn in replacements}
    return [by_name.get(fn.__name__, fn) for fn in engine_activities(settings)]


def escalations(filing: Filing) -> list[str]:
    return [n["event"] for n in filing.notifications() if n["channels"] == ["operator"]]


async def never_failed(filing: Filing) -> None:
    """Not FAILED, no workflow task failed on the way, and the history replays. (Read from
    the history: the test server's `describe` cannot decode an unset Datetime attribute.)"""
    history = await filing.handle.fetch_history()
    failed = {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED}
    assert not [e for e in history.events if e.event_type in failed]
    await Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER).replay_workflow(history)


async def test_the_sweep_covers_every_activity(make_engine):
    engine, _ = make_engine()
    assert {fn.__name__ for fn in engine_activities(engine.settings)} == SWEPT


# --- L1 ------------------------------------------------------------------------------


async def test_check_submission_down_returns_an_application_and_alerts_operators(env, make_engine):
    engine, _ = make_engine()
    engine, worker = make_engine(activities=replacing(engine.settings, broken("check_submission", "registry gone")))
    async with worker:
        filing = await new_filing(env, engine)
        status = await filing.wait_stage(Stage.RETURNED)
        assert status.returned.by is ReturnedBy.SUBMISSION
        assert [r.error for r in status.returned.reasons] == ["check_unavailable"]
        await filing.wait_for(lambda _: "check_unavailable" in escalations(filing))
        await never_failed(filing)


async def test_check_submission_down_rejects_a_cancellation(env, make_engine):
    engine, _ = make_engine()
    engine, worker = make_engine(activities=replacing(engine.settings, broken("check_submission", "registry gone")))
    async with worker:
        request = CancellationRequest(kind=FilingKind.CANCEL_MINI_PROGRAM, appid="wx00000000000000c1",
                                      filing_number=NUMBER, reason="停止运营")
        filing = await launch_cancellation(env, engine.task_queue, engine.data_dir, request, [])
        outcome = await filing.result()
        assert outcome.stage is Stage.REJECTED
        assert outcome.returned is not None and outcome.returned.by is ReturnedBy.SUBMISSION
        assert [r.error for r in outcome.returned.reasons] == ["check_unavailable"]
        assert "check_unavailable" in escalations(filing)
        await never_failed(filing)


# --- the calendar (local) ------------------------------------------------------------


async def test_compute_deadline_down_retries_on_durable_timers_and_alerts_once(env, make_engine):
    """Over a long weekend the calendar stays broken: the filing waits in SUBMITTED, retried
    on timers of 1, 2, 4... minutes, with one escalation; once it works, the filing moves on."""
    engine, _ = make_engine()
    calendar, compute_deadline = calendar_outage(engine.settings)
    engine, worker = make_engine(activities=replacing(engine.settings, compute_deadline))
    async with worker:
        filing = await new_filing(env, engine)
        await filing.wait_for(lambda _: "deadline_unavailable" in escalations(filing))
        await filing.skip(timedelta(minutes=30))  # several retries, all failing
        status = await filing.status()
        assert status.stage is Stage.SUBMITTED
        timers = [e async for e in filing.handle.fetch_history_events()
                  if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
        assert len(timers) >= 3, "retried on durable timers"
        assert escalations(filing).count("deadline_unavailable") == 1
        calendar.down = False
        await filing.skip(timedelta(hours=1))
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await never_failed(filing)


# --- SMS -------------------------------------------------------------------------------


async def test_current_sms_key_down_returns_the_filing_as_undeliverable(env, make_engine):
    engine, _ = make_engine()
    engine, worker = make_engine(activities=replacing(engine.settings, broken("current_sms_key", "key store sealed")))
    async with worker:
        filing = await new_filing(env, engine)
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("approve")
        status = await filing.wait_stage(Stage.RETURNED)
        assert status.returned.by is ReturnedBy.MIIT_SMS
        assert [r.error for r in status.returned.reasons] == ["sms_undeliverable"]
        assert any(e.event == "sms_failed" and "no SMS key" in (e.detail or "") for e in status.timeline)
        await filing.wait_for(lambda _: "sms_undeliverable" in escalations(filing))
        assert filing.outbox() == []
        await never_failed(filing)


async def test_sms_gateway_down_for_good_returns_the_filing_as_undeliverable(env, make_engine):
    engine, _ = make_engine()
    sms = SmsActivities(DownGateway(engine.data_dir), engine.settings.sms_code_keys())
    engine, worker = make_engine(activities=replacing(engine.settings, sms.send_sms_code))
    async with worker:
        filing = await new_filing(env, engine)
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("approve")
        status = await filing.wait_stage(Stage.RETURNED)
        assert status.returned.by is ReturnedBy.MIIT_SMS
        assert [r.error for r in status.returned.reasons] == ["sms_undeliverable"]
        await filing.wait_for(lambda _: "sms_undeliverable" in escalations(filing))
        await never_failed(filing)


async def test_sms_gateway_refusing_a_resend_for_good_returns_the_filing_once(env, make_engine):
    """The verifier asks for a resend and the gateway refuses it for good: the filing is
    returned (sms_undeliverable) and operators alerted, once; the refused send is not tried
    again and again (it was, at once and for ever, before `runs-bounded`)."""
    engine, _ = make_engine()
    sms = SmsActivities(RefusesResends(engine.data_dir), engine.settings.sms_code_keys())
    engine, worker = make_engine(activities=replacing(engine.settings, sms.send_sms_code))
    async with worker:
        filing = await new_filing(env, engine)
        await to_sms(filing)
        (person,) = filing.people
        assert (await filing.resend(person.mobile, wait_sent=False))["sent"] is True
        status = await filing.wait_stage(Stage.RETURNED)
        assert status.returned.by is ReturnedBy.MIIT_SMS
        assert [r.error for r in status.returned.reasons] == ["sms_undeliverable"]
        assert [e.event for e in status.timeline].count("sms_failed") == 1
        await filing.wait_for(lambda _: "sms_undeliverable" in escalations(filing))
        assert escalations(filing).count("sms_undeliverable") == 1
        await never_failed(filing)


async def test_check_sms_code_down_fails_the_entry_and_spends_nothing(env, make_engine):
    engine, _ = make_engine()
    engine, worker = make_engine(activities=replacing(engine.settings, broken("check_sms_code", "HSM offline")))
    async with worker:
        filing = await new_filing(env, engine)
        await to_sms(filing)
        (person,) = filing.people
        entry = {"mobile": person.mobile, "code": filing.latest_code(person.mobile),
                 "id_last6": person.identity_document.number[-6:]}
        with pytest.raises(WorkflowUpdateFailedError):
            await send_update(filing.handle, "verify_sms_code", entry)
        status = await filing.status()
        assert status.stage is Stage.SMS_VERIFICATION  # still waiting, its window running
        assert [(v.verified, v.attempts_left) for v in status.sms.verifiers] == [(False, 5)]
        assert not any(e.event == "sms_wrong_code" for e in status.timeline)
        await never_failed(filing)


# --- notices ---------------------------------------------------------------------------


async def test_notifier_down_for_good_is_recorded_and_the_filing_goes_on(env, make_engine):
    engine, _ = make_engine()
    notify = NotifyActivities(DownNotifier(engine.data_dir)).notify
    engine, worker = make_engine(activities=replacing(engine.settings, notify))
    async with worker:
        filing = await new_filing(env, engine)
        await to_sms(filing)
        await filing.verify_all()
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
        await filing.province("approve", filing_number=NUMBER)
        outcome = await filing.result()
        assert outcome.stage is Stage.APPROVED
        failed = [e.detail for e in (await filing.status()).timeline if e.event == "notification_failed"]
        assert any(d.startswith("platform_approved") for d in failed) and any(d.startswith("filing_approved") for d in failed)
        assert filing.notifications() == []
        await never_failed(filing)


# --- review desks ------------------------------------------------------------------------


@pytest.mark.parametrize(("desk", "returned_by"), [("platform", ReturnedBy.PLATFORM), ("province", ReturnedBy.PROVINCE)])
async def test_review_desk_refusing_the_hand_over_returns_the_filing(env, make_engine, desk: str, returned_by: ReturnedBy):
    engine, _ = make_engine()
    review = ReviewActivities(DownDesk(engine.data_dir, desk))
    engine, worker = make_engine(activities=replacing(
        engine.settings, review.enqueue_platform_review, review.hand_over_to_province))
    async with worker:
        filing = await new_filing(env, engine)
        if desk == "province":
            await to_sms(filing)
            await filing.verify_all()
        status = await filing.wait_stage(Stage.RETURNED)
        assert status.returned.by is returned_by
        assert [r.error for r in status.returned.reasons] == ["handover_failed"]
        await filing.wait_for(lambda _: "handover_failed" in escalations(filing))
        await never_failed(filing)


# --- L8 ------------------------------------------------------------------------------------


async def test_registry_down_at_approval_keeps_the_filing_waiting_until_it_is_back(env, make_engine):
    engine, _ = make_engine()
    registry, record_approval = registry_outage(engine.settings)
    engine, worker = make_engine(activities=replacing(engine.settings, record_approval))
    async with worker:
        filing = await new_filing(env, engine)
        await to_sms(filing)
        await filing.verify_all()
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
        decision = {"decision": "approve", "reviewer": "冀-07", "filing_number": NUMBER}
        answer = await send_update(filing.handle, "decide_province", decision)
        assert answer["applied"] is False and "registry" in answer["why"], answer
        status = await filing.status()
        assert status.stage is Stage.PROVINCIAL_REVIEW and status.filing_number is None
        await filing.wait_for(lambda _: "registry_unavailable" in escalations(filing))

        registry.down = False  # the next morning the registry is back; the reviewer sends the decision again
        answer = await send_update(filing.handle, "decide_province", decision)
        assert answer["applied"] is True, answer
        outcome = await filing.result()
        assert outcome.stage is Stage.APPROVED and outcome.filing_number == NUMBER
        await never_failed(filing)
