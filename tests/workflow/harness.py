"""Driving one filing on the time-skipping server: start it, read the outbox, wait on status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from adapters.sms_outbox import OUTBOX_NAME
from engine.launch import start_filing
from engine.wiring import WORKFLOWS
from filing.messages import FilingOutcome, FilingStatus, Stage
from filing.models import Application
from filing.policy import FilingPolicy
from tests.conftest import TEST_CONVERTER
from workflows.filing import FilingWorkflow


@dataclass
class Filing:
    env: WorkflowEnvironment
    handle: WorkflowHandle[FilingWorkflow, FilingOutcome]
    data_dir: Path
    application: Application
    used_codes: set[str] = field(default_factory=set)

    @property
    def client(self) -> Client:
        return self.env.client

    async def status(self) -> FilingStatus:
        return await self.handle.query(FilingWorkflow.status)

    async def wait_for(self, check: Callable[[FilingStatus], bool], timeout: float = 15.0) -> FilingStatus:
        """Poll the `status` query until `check` holds (workflow time does not move meanwhile)."""
        async def poll() -> FilingStatus:
            while True:
                status = await self.status()
                if check(status):
                    return status
                await asyncio.sleep(0.02)

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"condition not met within {timeout}s; last status: {await self.status()}") from None

    async def wait_stage(self, stage: Stage, timeout: float = 15.0) -> FilingStatus:
        return await self.wait_for(lambda s: s.stage is stage, timeout)

    def outbox(self) -> list[dict[str, Any]]:
        path = self.data_dir / OUTBOX_NAME
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def notifications(self) -> list[dict[str, Any]]:
        path = self.data_dir / "notifications.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def latest_code(self, mobile: str) -> str:
        codes = [m["code"] for m in self.outbox() if m["to"] == mobile]
        assert codes, f"no SMS sent to {mobile}"
        return codes[-1]

    async def platform(self, decision: str = "approve", **extra: Any) -> None:
        await self.handle.signal("platform_decision", {"decision": decision, "reviewer": "r-01", **extra})

    async def province(self, decision: str = "approve", **extra: Any) -> None:
        await self.handle.signal("province_decision", {"decision": decision, "reviewer": "冀-07", **extra})

    async def verify(self, mobile: str, code: str | None = None, id_last6: str | None = None) -> dict[str, Any]:
        person = next(p for p in self.application.verifiers() if p.mobile == mobile)
        entry = {
            "mobile": mobile,
            "code": code if code is not None else self.latest_code(mobile),
            "id_last6": id_last6 or person.identity_document.number[-6:],
        }
        result = await self.handle.execute_update("verify_sms_code", entry, result_type=dict)
        return result

    async def verify_all(self) -> None:
        for person in self.application.verifiers():
            await self.verify(person.mobile)

    async def result(self) -> FilingOutcome:
        """The outcome, after checking that the history replays on today's workflow code."""
        outcome = await self.handle.result()
        replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER)
        await replayer.replay_workflow(await self.handle.fetch_history())
        return outcome

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def skip(self, delta: timedelta) -> None:
        await self.env.sleep(delta)


async def launch(
    env: WorkflowEnvironment, task_queue: str, data_dir: Path, application: Application, policy: FilingPolicy | None = None
) -> Filing:
    started = await start_filing(env.client, application, task_queue=task_queue, policy=policy)
    return Filing(env=env, handle=started.handle, data_dir=data_dir, application=application)
