"""Temporal's floor: bare workflows of the engine's shape, run by their own worker process.

`BareFiling` does what `FilingWorkflow` does on the happy path, with nothing of the
engine's own: the same local activities grouped in the same workflow tasks (three
before platform review; notice + SMS code after the approval; the code check, the
provincial deadline and the hand-over after the entry; the final notice), the same two
signals and one update, and the same kind of waits (each wait is a timer racing the
message). No search attributes, no memo, no codec, tiny payloads, activities that do
nothing.

`BareTimer` is the deadline storm's floor: one timer, then one local activity that
appends a line to a file (how the harness sees it fired), then an open-ended wait.

    python -m bench.baseline --address HOST:PORT --task-queue TQ --data-dir DIR
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
from temporalio.worker import Worker

LA_TIMEOUT = timedelta(seconds=10)
PLATFORM_SLA = timedelta(days=2)
SMS_WINDOW = timedelta(hours=24)
PROVINCIAL_SLA = timedelta(days=28)
FIRED_FILE = "bare-timers-fired.txt"

# The engine's happy path, in its workflow tasks: the local activities each one runs.
FIRST_TASK = ("check_submission", "compute_deadline", "enqueue_platform_review")
AFTER_PLATFORM = ("notify", "send_sms_code")  # concurrently, as the engine does
AFTER_VERIFY = ("compute_deadline", "hand_over_to_province")
AFTER_PROVINCE = ("notify",)


@activity.defn(name="bare_effect")
async def bare_effect(what: str) -> str:
    return what


class FiredLog:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FIRED_FILE

    @activity.defn(name="bare_fired")
    async def fired(self, workflow_id: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(workflow_id + "\n")


async def _effect(what: str) -> str:
    return await workflow.execute_local_activity(bare_effect, what, start_to_close_timeout=LA_TIMEOUT)


@workflow.defn(name="BareFiling")
class BareFiling:
    def __init__(self) -> None:
        self._stage = "SUBMITTED"
        self._platform: dict[str, Any] | None = None
        self._province: dict[str, Any] | None = None
        self._verified = False

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        for what in FIRST_TASK:
            await _effect(what)
        self._stage = "PLATFORM_REVIEW"
        await self._wait(lambda: self._platform is not None, PLATFORM_SLA)
        await asyncio.gather(*(_effect(what) for what in AFTER_PLATFORM))
        self._stage = "SMS_VERIFICATION"
        await self._wait(lambda: self._verified, SMS_WINDOW)
        for what in AFTER_VERIFY:
            await _effect(what)
        self._stage = "PROVINCIAL_REVIEW"
        await self._wait(lambda: self._province is not None, PROVINCIAL_SLA)
        self._stage = "APPROVED"
        for what in AFTER_PROVINCE:
            await _effect(what)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return {"stage": self._stage, "appid": start.get("appid")}

    async def _wait(self, done: Any, timeout: timedelta) -> None:
        while True:  # a timer racing the message, like the engine's SLA waits
            try:
                await workflow.wait_condition(done, timeout=timeout)
                return
            except TimeoutError:
                continue

    @workflow.signal(name="platform_decision")
    def platform_decision(self, decision: dict[str, Any]) -> None:
        self._platform = decision

    @workflow.signal(name="province_decision")
    def province_decision(self, decision: dict[str, Any]) -> None:
        self._province = decision

    @workflow.update(name="verify_sms_code")
    async def verify_sms_code(self, entry: dict[str, Any]) -> dict[str, Any]:
        await _effect("check_sms_code")
        self._verified = True
        return {"result": "verified", "attempts_left": 5, "all_verified": True}

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


async def serve(address: str, task_queue: str, data_dir: Path) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(client, task_queue=task_queue, workflows=[BareFiling, BareTimer],
                    activities=[bare_effect, FiredLog(data_dir).fired],
                    graceful_shutdown_timeout=timedelta(seconds=5))
    async with worker:
        print(f"bare worker on {task_queue} at {address}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="The baseline's worker (bare workflows of the engine's shape).")
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.address, args.task_queue, args.data_dir))


if __name__ == "__main__":
    main()
