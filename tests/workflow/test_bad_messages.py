"""Bad messages at a live filing: every signal and update, with random or broken payloads.

Each message is either applied, refused by the update's validator with the fields named
(leaving no trace in the history), or, for a signal, recorded as ignored with why (L9).
Never a failed workflow task: that would stall the filing until someone deploys a fix.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from filing.messages import (
    PlatformDecision,
    ProvinceDecision,
    Resubmission,
    SmsCodeEntry,
    SmsResendRequest,
    WithdrawRequest,
)
from filing.messages import Stage
from tests.unit.test_properties import VALID_MESSAGES, json_values, mutated
from tests.workflow.test_lifecycle import new_filing, to_sms

SIGNALS = {"platform_decision": PlatformDecision, "province_decision": ProvinceDecision}
UPDATES = {"verify_sms_code": SmsCodeEntry, "request_sms_resend": SmsResendRequest, "resubmit": Resubmission,
           "withdraw": WithdrawRequest}
NAMES = sorted({**SIGNALS, **UPDATES})
message = st.sampled_from(NAMES).flatmap(lambda name: st.tuples(st.just(name), st.one_of(
    json_values, mutated(VALID_MESSAGES[{**SIGNALS, **UPDATES}[name]]))))


async def failed_tasks(handle) -> list[Any]:  # type: ignore[no-untyped-def]
    return [e async for e in handle.fetch_history_events() if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]


#: Timeline events that mean a decision was taken (a signal applied, not ignored).
DECISIONS = {"platform_approved", "platform_rejected", "province_rejected", "approved"}
STAGES = ("PLATFORM_REVIEW", "SMS_VERIFICATION", "PROVINCIAL_REVIEW", "RETURNED")


async def at_stage(env, engine, stage: str):  # type: ignore[no-untyped-def]
    filing = await new_filing(env, engine)
    if stage == "RETURNED":
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("reject", reasons=[{"field": "mini_program.name", "error": "名称不规范"}])
        await filing.wait_stage(Stage.RETURNED)
        return filing
    await to_sms(filing)
    if stage == "PLATFORM_REVIEW":  # a fresh one: the first went on
        filing = await new_filing(env, engine)
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
    elif stage == "PROVINCIAL_REVIEW":
        await filing.verify_all()
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    return filing


def taken(status) -> int:  # type: ignore[no-untyped-def]
    """Signals the filing has dealt with: ignored (counted) or applied (a decision taken)."""
    return sum(status.ignored.get(name, 0) for name in SIGNALS) + sum(e.event in DECISIONS for e in status.timeline)


@pytest.mark.parametrize("stage", STAGES)
@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          phases=[Phase.generate])  # one batch per stage; a failure is reported as drawn, not shrunk
@given(batch=st.lists(message, min_size=60, max_size=60))
async def test_random_messages_in_every_stage_are_applied_refused_or_counted(env, engine, stage, batch):
    """60 random messages per stage, 240 in all: a signal is applied or counted as ignored
    (L9, L10), an update is applied or refused by its validator naming why; never a failed
    workflow task."""
    filing = await at_stage(env, engine, stage)
    signals = 0
    for name, payload in batch:
        if name in SIGNALS:
            before = taken(await filing.status())
            await filing.handle.signal(name, payload)
            signals += 1
            await filing.wait_for(lambda s, b=before: taken(s) == b + 1 or s.stage.is_terminal, timeout=10)
            continue
        try:
            await filing.handle.execute_update(name, payload, result_type=dict)
        except WorkflowUpdateFailedError as refused:
            cause = refused.cause
            assert isinstance(cause, ApplicationError) and cause.type == "Refused", repr(cause)
            assert cause.message.strip()
    status = await filing.status()  # still answering
    assert status.filing_id == filing.handle.id
    assert signals > 0
    assert await failed_tasks(filing.handle) == []


async def test_a_signal_with_an_unexpected_encoding_is_recorded_as_ignored(env, engine):
    filing = await new_filing(env, engine, appid="wx" + "f" * 16)
    await filing.wait_for(lambda s: s.stage.value == "PLATFORM_REVIEW")
    odd = RawValue(Payload(metadata={"encoding": b"text/plain"}, data=b'{"decision": "approve"}'))
    await filing.handle.signal("platform_decision", odd)
    # The workflow task that delivers the signal either completes or fails (then even queries hang).
    outcome = await wait_for_task_after_signal(filing.handle)
    assert outcome == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.Name(outcome)
    assert any(e.event == "decision_ignored" for e in (await filing.status()).timeline)


async def wait_for_task_after_signal(handle) -> int:  # type: ignore[no-untyped-def]
    ends = {EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED}

    async def poll() -> int:
        while True:
            events = [e async for e in handle.fetch_history_events()]
            # A signal that reaches a run while one of its workflow tasks is running is
            # buffered by the server: it is in the history only once that task has ended.
            signalled = [i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
            done = [e.event_type for e in events[signalled[-1]:] if e.event_type in ends] if signalled else []
            if done:
                return done[0]
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), 15)

