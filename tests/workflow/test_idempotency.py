"""Outside effects reach the outside once, although activities run at least once (SPEC §8).

The nasty failure is the one *after* the effect: the SMS left, the notice was written,
the desk took the filing, and then the connection dropped, so the activity fails and is
retried. Each port below does its real work and then fails the first call for every
idempotency key; the filing must still go through with exactly one effect per key, and
the code the verifier received must be the one that verifies.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from activities.notify import NotifyActivities
from activities.review import ReviewActivities
from activities.sms import SmsActivities
from adapters.notifier import FileNotifier
from adapters.review_desk import FileReviewDesk
from adapters.sms_outbox import OutboxSmsGateway
from engine.wiring import engine_activities
from filing.messages import Stage
from filing.ports import HandOver, Notice, SmsMessage
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms


class FailAfterEffect:
    """Counts calls per idempotency key and fails the first one, after the effect."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def after_effect(self, key: str) -> None:
        self.calls[key] += 1
        if self.calls[key] == 1:
            raise ConnectionResetError("connection reset after the effect was made")


class SmsFailingAfterSend(FailAfterEffect):
    def __init__(self, inner: OutboxSmsGateway) -> None:
        super().__init__()
        self.inner = inner

    async def send(self, message: SmsMessage) -> SmsMessage:
        delivered = await self.inner.send(message)
        self.after_effect(message.idempotency_key)
        return delivered


class NotifierFailingAfterWrite(FailAfterEffect):
    def __init__(self, inner: FileNotifier) -> None:
        super().__init__()
        self.inner = inner

    async def notify(self, notice: Notice) -> None:
        await self.inner.notify(notice)
        self.after_effect(notice.idempotency_key)


class DeskFailingAfterHandOver(FailAfterEffect):
    def __init__(self, inner: FileReviewDesk) -> None:
        super().__init__()
        self.inner = inner

    async def enqueue_platform_review(self, handover: HandOver) -> str:
        ticket = await self.inner.enqueue_platform_review(handover)
        self.after_effect(handover.idempotency_key)
        return ticket

    async def hand_over_to_province(self, handover: HandOver) -> str:
        ticket = await self.inner.hand_over_to_province(handover)
        self.after_effect(handover.idempotency_key)
        return ticket


@pytest.fixture
async def flaky(make_engine):
    """An engine whose SMS gateway, notifier and review desk all fail once after each effect."""
    engine, _ = make_engine()
    data, settings = engine.data_dir, engine.settings
    ports = {
        "sms": SmsFailingAfterSend(OutboxSmsGateway(data)),
        "notifier": NotifierFailingAfterWrite(FileNotifier(data)),
        "desk": DeskFailingAfterHandOver(FileReviewDesk(data)),
    }
    sms = SmsActivities(ports["sms"], settings.sms_code_keys())  # type: ignore[arg-type]
    review = ReviewActivities(ports["desk"])  # type: ignore[arg-type]
    replaced: dict[str, Any] = {
        "send_sms_code": sms.send_sms_code,
        "check_sms_code": sms.check_sms_code,
        "notify": NotifyActivities(ports["notifier"]).notify,  # type: ignore[arg-type]
        "enqueue_platform_review": review.enqueue_platform_review,
        "hand_over_to_province": review.hand_over_to_province,
    }
    activities = [replaced.get(fn.__name__, fn) for fn in engine_activities(settings)]
    engine, worker = make_engine(activities=activities)
    async with worker:
        yield engine, ports


async def test_effects_retried_after_failing_late_reach_the_outside_once(env, flaky):
    engine, ports = flaky
    filing = await new_filing(env, engine, own_mini_program_principal=True)
    fid = filing.key
    first, second = (p.mobile for p in filing.application.verifiers())

    # Attempt 1 is rejected, so that attempt 2 shows the attempt in every key.
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("reject", reasons=[{"field": "mini_program.name", "error": "名称不规范"}], attempt=1)
    await filing.wait_stage(Stage.RETURNED)
    corrected = filing.application.model_dump(mode="json")
    await filing.handle.execute_update("resubmit", {"application": corrected}, result_type=dict)
    await filing.wait_for(lambda s: s.stage is Stage.PLATFORM_REVIEW and s.attempt == 2)
    await to_sms(filing)
    resent = await filing.resend(first)
    assert resent["sent"] is True
    assert (await filing.verify(first))["result"] == "verified"  # the resent code works
    assert (await filing.verify(second))["result"] == "verified"
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number=NUMBER, attempt=2)
    assert (await filing.result()).stage is Stage.APPROVED

    # Every effect was made, failed after the fact, and was retried once ...
    for port in ports.values():
        assert port.calls and set(port.calls.values()) == {2}, dict(port.calls)
    # ... and reached the outside once per key, the key naming filing, attempt, verifier, resend.
    sms_keys = [m["idempotency_key"] for m in filing.outbox()]
    assert sms_keys == [f"{fid}:2:sms:{first}:0", f"{fid}:2:sms:{second}:0", f"{fid}:2:sms:{first}:1"]
    assert set(sms_keys) == set(ports["sms"].calls)
    handovers = [h["idempotency_key"] for h in _lines(engine.data_dir / "handovers.jsonl")]
    assert handovers == [f"{fid}:1:PLATFORM_REVIEW", f"{fid}:2:PLATFORM_REVIEW", f"{fid}:2:PROVINCIAL_REVIEW"]
    notices = [n["idempotency_key"] for n in filing.notifications()]
    assert len(notices) == len(set(notices)) == len(ports["notifier"].calls)
    assert all(key.startswith(f"{fid}:") for key in notices)
    status = await filing.status()
    assert sum(e.event == "notified" for e in status.timeline) == len(notices)
    assert sum(e.event == "sms_sent" for e in status.timeline) == 3


async def test_a_new_worker_process_finds_the_effects_of_the_one_that_died(tmp_path):
    """The adapters' memory of keys is the file itself: a fresh instance (a new worker
    after SIGKILL) answers the effect already made instead of making it again."""
    sent_at = datetime.now(UTC)
    message = SmsMessage(to="13800138000", text="…123456…", code="123456", sent_at=sent_at, idempotency_key="f:1:sms:m:0")
    await OutboxSmsGateway(tmp_path).send(message)
    again = await OutboxSmsGateway(tmp_path).send(message.model_copy(update={"code": "654321"}))
    assert again.code == "123456"
    assert len(_lines(tmp_path / "sms-outbox.jsonl")) == 1

    handover = HandOver(filing_id="f", attempt=1, kind="NEW", province="冀", idempotency_key="f:1:PLATFORM_REVIEW")
    tickets = [await FileReviewDesk(tmp_path).enqueue_platform_review(handover) for _ in range(2)]
    assert tickets[0] == tickets[1] and len(_lines(tmp_path / "handovers.jsonl")) == 1

    notice = Notice(filing_id="f", attempt=1, event="filing_returned", channels=[], idempotency_key="f:1:filing_returned:7")
    for _ in range(2):
        await FileNotifier(tmp_path).notify(notice)
    assert len(_lines(tmp_path / "notifications.jsonl")) == 1


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line] if path.exists() else []
