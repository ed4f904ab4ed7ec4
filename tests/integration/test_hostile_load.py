"""L10 at full size, on the dev server: a live filing waiting for its second SMS verifier
receives 10 000 hostile signals (4 000 at CI size, `FILINGS_TEST_SCALE`) (out-of-turn and stale decisions, malformed payloads, a
few with 50 reasons of 1000 characters, `calendar_updated` noise) and 1 000 no-op updates
(refused by validators); then it completes normally. Every run's history stays far under
the server's limits, the status counts exactly what was ignored, the timeline stays
capped, and every run replays on today's workflow code.

It runs here only, not on the time-skipping server, which mishandled a run continuing as
new while signals kept arriving (tests/workflow/test_bounded_history.py says how).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from engine.launch import start_filing
from engine.updates import UpdateRefused, send_update
from engine.wiring import WORKFLOWS
from filing.examples import example_application
from filing.messages import FilingStatus, Stage
from filing.state import TIMELINE_LIMIT
from tests.status import status_of
from tests.conftest import TEST_CONVERTER, appid_for, scaled
from tests.processes import wait_until
from tests.workflow.test_bounded_history import hostile
from workflows.filing import FilingWorkflow

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(480)]
NUMBER = "冀ICP备18021892号-2X"
#: 4 000 and 400 in `make test` (enough that the run is cut; 3 000 stayed in one run); the full 10 000
#: and 1 000 with FILINGS_TEST_SCALE=full.
SIGNALS, NO_OPS = scaled(4_000, 10_000), scaled(400, 1_000)
#: Hostile clients sending at once, in rounds. (A flood without pause starves continue-as-new:
#: test_a_flood_without_pause_does_not_kill_a_filing below.)
HOSTILE_CLIENTS = 10
#: The server warns at 10 240 events per history; a payload (a run's result, the state it
#: carries into the next run) may be at most 2 MB.
MAX_EVENTS, MAX_RESULT_BYTES = 10_000, 2 * 1024 * 1024




async def runs_of(client: Client, handle: WorkflowHandle[FilingWorkflow, Any]) -> list[WorkflowHistory]:
    """Every run's history, the first one first (following continue-as-new)."""
    histories, run_id = [], handle.first_execution_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else None)
    return histories


def result_bytes(history: WorkflowHistory) -> int:
    """The payload that ends a run: its result, or the state it carries into the next run."""
    last = history.events[-1]
    if last.HasField("workflow_execution_continued_as_new_event_attributes"):
        return last.workflow_execution_continued_as_new_event_attributes.input.ByteSize()
    return last.workflow_execution_completed_event_attributes.result.ByteSize()


def no_op(i: int, verified: str) -> tuple[str, dict[str, Any]]:
    """Updates that change nothing, each refused by its validator (and so left out of the history)."""
    return [
        ("verify_sms_code", {"mobile": verified, "code": f"{i % 10**6:06d}", "id_last6": "000000"}),  # already verified
        ("request_sms_resend", {"mobile": verified}),  # already verified
        ("decide_platform", {"decision": "approve", "reviewer": "r-01"}),  # out of turn
        ("decide_province", {"decision": "approve", "reviewer": "冀-07", "filing_number": NUMBER}),  # out of turn
        ("withdraw", {"reason": "changed my mind"}),  # past platform review
    ][i % 5]


async def test_thousands_of_hostile_messages_leave_a_filing_working_and_its_history_bounded(dev_engine):
    client = dev_engine.client
    application = example_application(datetime.now(UTC), appid=appid_for(970), own_mini_program_principal=True)
    handle = (await start_filing(client, application, task_queue=dev_engine.task_queue)).handle
    first, second = application.verifiers()
    began = time.monotonic()

    async def in_stage(stage: Stage) -> bool:
        return (await status_of(handle)).stage is stage

    def code_for(mobile: str) -> str:
        lines = (dev_engine.data_dir / "sms-outbox.jsonl").read_text(encoding="utf-8").splitlines()
        return [m["code"] for m in map(json.loads, lines) if m["to"] == mobile][-1]

    def entry(person: Any) -> dict[str, str]:
        return {"mobile": person.mobile, "code": code_for(person.mobile), "id_last6": person.identity_document.number[-6:]}

    await wait_until(lambda: in_stage(Stage.PLATFORM_REVIEW), 30, "in platform review")
    await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
    await wait_until(lambda: in_stage(Stage.SMS_VERIFICATION), 30, "in SMS verification")
    assert (await send_update(handle, "verify_sms_code", entry(first)))["result"] == "verified"

    # Anyone may send a filing messages: a thousand no-op updates, every one refused ...
    # (at most 8 at once: the server itself refuses more than 10 in flight per workflow)
    refused: Counter[str] = Counter()
    in_flight = asyncio.Semaphore(8)

    async def refuse(i: int) -> None:
        name, payload = no_op(i, first.mobile)
        async with in_flight:
            try:
                await send_update(handle, name, payload)
            except UpdateRefused:
                refused[name] += 1

    await asyncio.gather(*(refuse(i) for i in range(NO_OPS)))
    assert sum(refused.values()) == NO_OPS, refused
    print(f"\n{NO_OPS} no-op updates refused after {time.monotonic() - began:.1f} s")

    # ... and ten thousand hostile signals from ten clients, each sending its next message
    # once the round before was answered; every one is recorded as ignored, by count.
    sent: Counter[str] = Counter()
    for start in range(0, SIGNALS, HOSTILE_CLIENTS):
        round_ = [hostile(i) for i in range(start, start + HOSTILE_CLIENTS)]
        await asyncio.gather(*(handle.signal(name, payload) for name, payload in round_))
        sent.update(name for name, _ in round_)
    print(f"{SIGNALS} signals sent after {time.monotonic() - began:.1f} s")
    status = await wait_until(
        lambda: _when(status_of(handle), lambda s: sum(s.ignored.values()) == SIGNALS), 120, "every signal counted")
    assert status.stage is Stage.SMS_VERIFICATION
    assert status.ignored == dict(sent)
    assert len(status.timeline) <= TIMELINE_LIMIT and status.timeline_dropped > 0

    # The filing completes normally, its SMS state carried through its runs.
    assert (await send_update(handle, "verify_sms_code", entry(second))) == {
        "result": "verified", "attempts_left": 5, "all_verified": True}
    await wait_until(lambda: in_stage(Stage.PROVINCIAL_REVIEW), 30, "in provincial review")
    await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": NUMBER})
    outcome = await asyncio.wait_for(handle.result(), 60)
    assert outcome.stage is Stage.APPROVED and outcome.filing_number == NUMBER
    final = await asyncio.wait_for(status_of(handle), 60)
    assert final.ignored == dict(sent) and len(final.timeline) <= TIMELINE_LIMIT

    histories = await runs_of(client, handle)
    assert len(histories) >= 2, "the history was cut (continue-as-new)"
    sizes = [(len(h.events), _history_bytes(h), result_bytes(h)) for h in histories]
    largest = max(sizes)
    print(f"\nL10 under load: {len(histories)} runs; largest run {largest[0]} events, {largest[1]} bytes of history, "
          f"{largest[2]} bytes of result; per run (events, history bytes, result bytes): {sizes}")
    for events, _, result in sizes:
        assert events < MAX_EVENTS and result < MAX_RESULT_BYTES, sizes
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER)
    for history in histories:
        await replayer.replay_workflow(history)


def _history_bytes(history: WorkflowHistory) -> int:
    return sum(event.ByteSize() for event in history.events)


async def _when(status: Any, check: Any) -> FilingStatus | None:
    answer = await status
    return answer if check(answer) else None


@pytest.mark.xfail(strict=True, reason=(
    "L10 defect, for the lead: under a flood without pause, continue-as-new never commits (the server refuses "
    "to close a run while new signals arrive: WORKFLOW_TASK_FAILED cause FORCE_CLOSE_COMMAND / UNHANDLED_COMMAND, "
    "and each retry replays the whole, growing history), so ~350 signals of 150 kB take the run past the "
    "server's 50 MB history limit and the server TERMINATES the filing"))
async def test_a_flood_without_pause_does_not_kill_a_filing(dev_engine):
    """Fifty senders at once, each as fast as the server answers, of the largest decision
    anyone may send (50 reasons of 1000 characters, about 150 kB): the filing must keep
    running. Signals are recorded before any workflow code sees them, so only the run's cut
    (continue-as-new) bounds its history."""
    client = dev_engine.client
    application = example_application(datetime.now(UTC), appid=appid_for(971))
    handle = (await start_filing(client, application, task_queue=dev_engine.task_queue)).handle
    await wait_until(lambda: _when(status_of(handle), lambda s: s.stage is Stage.PLATFORM_REVIEW), 30, "in review")
    large = hostile(4)  # the 50 long reasons
    refused: list[str] = []

    async def sender() -> None:
        for _ in range(8):
            try:
                await handle.signal(*large)
            except RPCError as err:  # the server refusing more for this run
                refused.append(err.message)
                return

    await asyncio.gather(*(sender() for _ in range(50)))
    description = await handle.describe()
    try:
        assert description.status is WorkflowExecutionStatus.RUNNING, (description.status, refused[:1])
        status = await asyncio.wait_for(status_of(handle), 60)
        assert status.stage is Stage.PLATFORM_REVIEW
    finally:
        if description.status is WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")  # not a filing anyone will carry on
