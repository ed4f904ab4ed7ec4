"""Issue: "a key rotation mid-deploy burns verifiers' attempts".

A deploy makes a new SMS key (`sms-2`) current. A worker that already holds it sends a
filing's code; then, for a while, only a worker of the previous release runs (it holds
`sms-1` only), and the verifier enters the right code. That worker must not judge the
entry (it cannot: the digest is under a key it lacks): the workflow task fails naming the
key id and is retried, no attempt is spent, and once a worker holding `sms-2` runs, the
very same update (same update id) answers `verified` with all 5 attempts left.

On the dev server the tests start; workers in this process (`tests.workers.Workers`), one
set at a time on the filing's task queue, as a rolling deploy would have them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from engine.keys import Keyring
from engine.launch import start_filing
from engine.settings import Settings
from engine.wiring import engine_activities
from filing.examples import example_application
from filing.messages import FilingStatus, Stage
from tests.status import status_of
from tests.conftest import TEST_CONVERTER, TEST_KEYS, appid_for, unique, write_test_keys
from tests.processes import wait_until
from tests.workers import Workers, prepare_data_dir
from workflows.filing import FilingWorkflow

pytestmark = pytest.mark.integration
NUMBER = "冀ICP备18021892号-2X"
SMS_1, SMS_2 = Keyring.generate("sms-1"), Keyring.generate("sms-2")
#: The new release: `sms-2` current, `sms-1` kept for codes sent before.
NEW_RELEASE = Keyring(current="sms-2", keys={**SMS_1.keys, **SMS_2.keys})
#: The previous release, still running mid-deploy: it has never heard of `sms-2`.
OLD_RELEASE = SMS_1




async def failed_tasks(handle: WorkflowHandle[FilingWorkflow, object]) -> list[str]:
    """The decoded message of every WORKFLOW_TASK_FAILED event (failures are encrypted too)."""
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            found.append(str(await TEST_CONVERTER.decode_failure(failure)))
    return found


async def events_of(handle: WorkflowHandle[FilingWorkflow, object], kind: EventType.ValueType) -> list[object]:
    return [event async for event in handle.fetch_history_events() if event.event_type == kind]


async def code_checks(handle: WorkflowHandle[FilingWorkflow, object]) -> list[object]:
    """The local-activity markers of `check_sms_code` (their bookkeeping names the activity)."""
    return [event for event in await events_of(handle, EventType.EVENT_TYPE_MARKER_RECORDED)
            if b"check_sms_code" in event.marker_recorded_event_attributes.SerializeToString()]


def code_sent_to(data_dir: Path, mobile: str) -> str:
    lines = (data_dir / "sms-outbox.jsonl").read_text(encoding="utf-8").splitlines()
    codes = [m["code"] for m in map(json.loads, lines) if m["to"] == mobile]
    assert len(codes) == 1, f"{len(codes)} codes sent"
    return codes[0]


async def test_a_worker_without_the_current_sms_key_never_spends_an_attempt(dev_env, tmp_path: Path):
    client = dev_env.client
    data_dir, task_queue = tmp_path / "data", unique("tq")

    def release(ring: Keyring) -> Settings:
        return Settings(data_dir=data_dir, task_queue=task_queue, payload_keys=TEST_KEYS.payload, sms_hmac_keys=ring,
                        temporal_address=client.service_client.config.target_host)

    new, old = release(NEW_RELEASE), release(OLD_RELEASE)
    write_test_keys(data_dir)
    await prepare_data_dir(new)
    application = example_application(datetime.now(UTC), appid=appid_for(960))
    person = application.subject_principal

    # Morning: the new release is rolling out; one of its workers sends the 12381 code.
    async with Workers(client, new, engine_activities(new)):
        handle = (await start_filing(client, application, task_queue=task_queue)).handle
        await wait_until(lambda: _stage(handle, Stage.PLATFORM_REVIEW), 30, "in platform review")
        await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
        await wait_until(lambda: _stage(handle, Stage.SMS_VERIFICATION), 30, "in SMS verification")
    entry = {"mobile": person.mobile, "code": code_sent_to(data_dir, person.mobile),
             "id_last6": person.identity_document.number[-6:]}

    # Noon: only a worker of the previous release runs, and the verifier types the right code.
    pending: asyncio.Task[dict] | None = None
    try:
        async with Workers(client, old, engine_activities(old)):
            pending = asyncio.create_task(
                handle.execute_update("verify_sms_code", entry, id="miit-entry-1", result_type=dict))

            async def failed_naming_the_key() -> list[str]:
                return [m for m in await failed_tasks(handle) if "sms-2" in m]

            failures = await wait_until(failed_naming_the_key, 30, "a workflow task failed naming the key id sms-2")
            assert "not configured" in failures[0], failures[0]
            assert not pending.done(), "the entry was answered by a worker that cannot judge it"
            # Not judged: the update was never accepted and no code check was recorded. (The status
            # query is refused meanwhile: the server answers no query while a workflow task fails.)
            assert not await events_of(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
            assert not await code_checks(handle)

        # Afternoon: the deploy completes; the same entry is judged, once.
        async with Workers(client, new, engine_activities(new)):
            answer = await asyncio.wait_for(pending, 60)
            assert answer == {"result": "verified", "attempts_left": 5, "all_verified": True}
            again = await handle.execute_update("verify_sms_code", entry, id="miit-entry-1", result_type=dict)
            assert again == answer  # the same update id is the same update, never a second entry
            await wait_until(lambda: _stage(handle, Stage.PROVINCIAL_REVIEW), 30, "in provincial review")
            await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": NUMBER})
            outcome = await asyncio.wait_for(handle.result(), 60)
            events = [e.event for e in (await status_of(handle)).timeline]
    finally:
        if pending is not None:
            pending.cancel()  # answered by then, unless the test failed
    assert outcome.stage is Stage.APPROVED
    assert events.count("sms_verified") == 1 and "sms_wrong_code" not in events
    assert len(await events_of(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)) == 1
    assert len(await code_checks(handle)) == 1


async def _stage(handle: WorkflowHandle[FilingWorkflow, object], stage: Stage) -> bool:
    return (await status_of(handle)).stage is stage
