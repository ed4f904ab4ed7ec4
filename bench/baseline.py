"""Temporal's floor: bare workflows of the engine's shape, run by their own worker process.

`BareFiling` walks the engine's paths (happy; platform reject, resubmit, approve) with the
engine's shape and nothing of the engine's own work for its users:

- the same regular activities, on the same task queues, at the same steps: the L1
  check, the platform hand-over, the SMS send on `<task queue>-sms` (served by a second
  worker with the same activities-per-second limit as the engine's SMS worker), the
  provincial hand-over, the registry write (L8), and the notices as regular activities
  running beside the main flow (never awaited by it; the run ends once they are done);
- the same local activities: the deadline before each review, the SMS key pinned before
  a send, the code check inside the `verify_sms_code` update;
- the same messages: signals `platform_decision` / `province_decision`, updates
  `verify_sms_code` and `resubmit`;
- the same waits: each review and the SMS window is a timer racing its message (no timer
  when the message is already there, as in the engine), the resubmission window too;
- a continue-as-new at each resubmission, carrying the state.

Not here, because they are the engine's service to its users rather than Temporal's
floor: search attributes and their upserts, the memo, the payload codec, the versioning
patch markers, the timeline, and any work inside the activities (they return at once;
payloads are tiny).

`BareTimer` is the deadline storm's floor: one timer, then one local activity that
appends a line to a file (how the harness sees it fired), then an open-ended wait.

    python -m bench.baseline --address HOST:PORT --task-queue TQ --data-dir DIR [--sms-rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

LA_TIMEOUT = timedelta(seconds=10)
EFFECT_TIMEOUT = timedelta(seconds=10)  # the engine's EFFECT_ATTEMPT_TIMEOUT
EFFECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
PLATFORM_SLA = timedelta(days=2)
SMS_WINDOW = timedelta(hours=24)
PROVINCIAL_SLA = timedelta(days=28)
RESUBMISSION_WINDOW = timedelta(days=30)
FIRED_FILE = "bare-timers-fired.txt"
#: The engine worker's default (`FILINGS_SMS_RATE_PER_SECOND`).
SMS_RATE = 20.0
#: The engine worker's default (`FILINGS_MAX_CACHED_WORKFLOWS`), not the SDK's 1 000: with more
#: workflows waiting than either cache holds (the storm, the parked filings), the size of the
#: cache decides how many wake-ups replay their history, so both sides get the same one.
MAX_CACHED_WORKFLOWS = 500


@activity.defn(name="bare_effect")
async def bare_effect(what: str) -> str:
    """Every outside effect of the engine, doing nothing (a regular activity)."""
    return what


@activity.defn(name="bare_local")
async def bare_local(what: str) -> str:
    """Every local activity of the engine, doing nothing."""
    return what


@activity.defn(name="bare_sms")
async def bare_sms(what: str) -> str:
    """The SMS send, on the SMS task queue."""
    return what


class FiredLog:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FIRED_FILE

    @activity.defn(name="bare_fired")
    async def fired(self, workflow_id: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(workflow_id + "\n")


async def _effect(what: str, task_queue: str | None = None) -> str:
    return await workflow.execute_activity(
        bare_sms if task_queue else bare_effect, what, task_queue=task_queue,
        start_to_close_timeout=EFFECT_TIMEOUT, retry_policy=EFFECT_RETRY,
    )


async def _local(what: str) -> str:
    return await workflow.execute_local_activity(bare_local, what, start_to_close_timeout=LA_TIMEOUT)


@workflow.defn(name="BareFiling")
class BareFiling:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        carried = start.get("carried") or {}
        self._stage: str = carried.get("stage", "SUBMITTED")
        self._attempt: int = carried.get("attempt", 1)
        self._platform: dict[str, Any] | None = None
        self._province: dict[str, Any] | None = None
        self._verified = False
        self._resubmitted = False
        self._deliveries: set[asyncio.Task[None]] = set()

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        steps = {"SUBMITTED": self._submitted, "PLATFORM_REVIEW": self._platform_review,
                 "SMS_VERIFICATION": self._sms_verification, "PROVINCIAL_REVIEW": self._provincial_review,
                 "RETURNED": self._returned}
        while self._stage not in ("APPROVED", "EXPIRED"):
            if self._resubmitted and self._quiet():
                workflow.continue_as_new({"appid": start.get("appid"),
                                          "carried": {"stage": self._stage, "attempt": self._attempt}})
            await steps[self._stage]()
        self._notify(f"filing_{self._stage.lower()}")
        await workflow.wait_condition(self._quiet)
        return {"stage": self._stage, "attempt": self._attempt, "appid": start.get("appid")}

    def _quiet(self) -> bool:
        return not self._deliveries and workflow.all_handlers_finished()

    async def _submitted(self) -> None:
        await _effect("check_submission")
        await _local("compute_deadline")
        self._stage = "PLATFORM_REVIEW"

    async def _platform_review(self) -> None:
        await _effect("enqueue_platform_review")
        await self._wait(lambda: self._platform is not None, PLATFORM_SLA)
        assert self._platform is not None
        if self._platform.get("decision") == "reject":
            self._stage = "RETURNED"
            return
        await _local("current_sms_key")
        await _effect("send_sms_code", task_queue=f"{workflow.info().task_queue}-sms")
        self._stage = "SMS_VERIFICATION"
        self._notify("platform_approved")

    async def _sms_verification(self) -> None:
        await self._wait(lambda: self._verified, SMS_WINDOW)
        await _local("compute_deadline")
        self._stage = "PROVINCIAL_REVIEW"

    async def _provincial_review(self) -> None:
        await _effect("hand_over_to_province")
        await self._wait(lambda: self._province is not None, PROVINCIAL_SLA)
        await _effect("record_approval")
        self._stage = "APPROVED"

    async def _returned(self) -> None:
        self._notify("filing_returned")
        await self._wait(lambda: self._stage != "RETURNED", RESUBMISSION_WINDOW)

    async def _wait(self, done: Any, timeout: timedelta) -> None:
        """A timer racing the message, as the engine's waits; none when it is already there."""
        while not done():
            try:
                await workflow.wait_condition(done, timeout=timeout)
            except TimeoutError:
                continue

    def _notify(self, event: str) -> None:
        """Beside the main flow, like the engine's notices."""
        task = asyncio.create_task(self._deliver(event))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, event: str) -> None:
        await _effect(f"notify {event}")

    @workflow.signal(name="platform_decision")
    def platform_decision(self, decision: dict[str, Any]) -> None:
        if self._stage == "PLATFORM_REVIEW" and self._platform is None:
            self._platform = decision

    @workflow.signal(name="province_decision")
    def province_decision(self, decision: dict[str, Any]) -> None:
        if self._stage == "PROVINCIAL_REVIEW" and self._province is None:
            self._province = decision

    @workflow.update(name="verify_sms_code")
    async def verify_sms_code(self, entry: dict[str, Any]) -> dict[str, Any]:
        await _local("check_sms_code")
        self._verified = True
        return {"result": "verified", "attempts_left": 5, "all_verified": True}

    @workflow.update(name="resubmit")
    def resubmit(self, resubmission: dict[str, Any]) -> dict[str, Any]:
        self._attempt += 1
        self._stage = "SUBMITTED"
        self._platform = None
        self._resubmitted = True
        return {"attempt": self._attempt}

    @workflow.query(name="stage")
    def stage(self) -> str:
        return self._stage


@workflow.defn(name="BareTimer")
class BareTimer:
    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self, fire_at: str) -> None:
        try:
            await workflow.wait_condition(lambda: self._done, timeout=datetime.fromisoformat(fire_at) - workflow.now())
        except TimeoutError:
            await workflow.execute_local_activity("bare_fired", workflow.info().workflow_id,
                                                  start_to_close_timeout=LA_TIMEOUT)
        await workflow.wait_condition(lambda: self._done)

    @workflow.signal(name="done")
    def done(self) -> None:
        self._done = True

    @workflow.query(name="armed")
    def armed(self) -> bool:  # answered once the first workflow task (which starts the timer) is done
        return True


async def serve(address: str, task_queue: str, data_dir: Path, sms_rate: float, max_cached_workflows: int) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    main = Worker(client, task_queue=task_queue, workflows=[BareFiling, BareTimer],
                  activities=[bare_effect, bare_local, FiredLog(data_dir).fired],
                  max_cached_workflows=max_cached_workflows, graceful_shutdown_timeout=timedelta(seconds=5))
    sms = Worker(client, task_queue=f"{task_queue}-sms", activities=[bare_sms],
                 max_task_queue_activities_per_second=sms_rate, graceful_shutdown_timeout=timedelta(seconds=5))
    async with main, sms:
        print(f"bare worker on {task_queue} (+ {task_queue}-sms at {sms_rate:g}/s) at {address}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="The baseline's worker (bare workflows of the engine's shape).")
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sms-rate", type=float, default=SMS_RATE,
                        help="activities per second on the SMS task queue (the engine's FILINGS_SMS_RATE_PER_SECOND)")
    parser.add_argument("--max-cached-workflows", type=int, default=MAX_CACHED_WORKFLOWS,
                        help="workflows kept in the worker's cache (the engine's FILINGS_MAX_CACHED_WORKFLOWS)")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.address, args.task_queue, args.data_dir, args.sms_rate, args.max_cached_workflows))


if __name__ == "__main__":
    main()
