"""Bad messages at a live filing: every signal and update, with random or broken payloads.

Each message is either applied, refused by the update's validator with the fields named
(leaving no trace in the history), or, for a signal, recorded as ignored with why (L9).
Never a failed workflow task: that would stall the filing until someone deploys a fix.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
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


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(message, min_size=40, max_size=40))
async def test_random_messages_are_applied_refused_or_ignored_never_a_failed_task(env, engine, batch):
    filing = await new_filing(env, engine, appid="wx" + "e" * 16)
    await to_sms(filing)
    for name, payload in batch:
        if name in SIGNALS:
            await filing.handle.signal(name, payload)
            continue
        try:
            await filing.handle.execute_update(name, payload, result_type=dict)
        except WorkflowUpdateFailedError as refused:
            cause = refused.cause
            assert isinstance(cause, ApplicationError) and cause.type == "Refused", repr(cause)
            assert cause.message.strip()
    status = await filing.status()  # still answering
    assert status.filing_id == filing.handle.id
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
            signalled = max(i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
            done = [e.event_type for e in events[signalled:] if e.event_type in ends]
            if done:
                return done[0]
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), 15)

