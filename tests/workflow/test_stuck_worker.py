"""No test can hang on a worker the SDK cannot stop (issue 18, item 9).

A workflow task that outruns the SDK's deadlock detection (2 s) leaves a run the SDK cannot
evict while its thread still runs, and the SDK's worker shutdown waits for that eviction for
ever: a flood of signals replayed on a loaded machine did it to `test_bounded_history.py`,
whose teardown then hung past pytest-timeout. The tests' `Workers` gives up after a bound and
fails naming why. Here a workflow blocks its thread on purpose (released at the end, so no
thread outlives the test)."""

from __future__ import annotations

import threading

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.worker import UnsandboxedWorkflowRunner

from engine.settings import Settings
from engine.wiring import engine_activities
from tests.conftest import unique, write_test_keys
from tests.processes import wait_until
from tests.workers import Workers

RELEASE = threading.Event()


@workflow.defn(name="StuckWorkflow")
class StuckWorkflow:
    @workflow.run
    async def run(self) -> None:
        RELEASE.wait(120)  # never yields: the SDK calls it a deadlock, and cannot evict the run


async def test_workers_that_cannot_stop_fail_the_test_within_their_bound(env, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", task_queue=unique("tq-stuck"))
    write_test_keys(settings.data_dir)
    workers = Workers(env.client, settings, engine_activities(settings), workflows=[StuckWorkflow],
                      workflow_runner=UnsandboxedWorkflowRunner(), shutdown_within=5)
    try:
        with pytest.raises(AssertionError, match=r"did not stop within 5 s"):
            async with workers:
                handle = await env.client.start_workflow("StuckWorkflow", id=unique("stuck"),
                                                         task_queue=settings.task_queue)

                async def deadlock_reported() -> bool:
                    history = await handle.fetch_history()
                    return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)

                await wait_until(deadlock_reported, 30, "the SDK's deadlock detection failed the workflow task")
    finally:
        RELEASE.set()
