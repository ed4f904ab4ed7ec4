"""Driving one filing on the time-skipping server: start it, read the outbox, wait on status."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from adapters.materials_local import FileMaterialStore
from adapters.sms_outbox import OUTBOX_NAME
from engine.launch import start_cancellation, start_filing
from engine.updates import answer_of
from engine.keys import Keyring
from engine.sealing import Sealer
from engine.wiring import WORKFLOWS
from filing.examples import example_materials
from filing.masking import mask_mobile
from filing.messages import FilingOutcome, FilingStatus, Stage
from filing.models import Application, CancellationRequest, Person
from filing.policy import FilingPolicy
from filing.registry import ImportEntry
from filing.ports import MaterialOwner
from registry.sql_registry import SqlRegistry
from tests.conftest import TEST_CONVERTER, TEST_KEYS
from tests.status import status_of
from workflows.filing import FilingWorkflow


@dataclass
class Filing:
    env: WorkflowEnvironment
    handle: WorkflowHandle[FilingWorkflow, FilingOutcome]
    data_dir: Path
    application: Application | None
    #: Who is texted: the application's verifiers, or for a cancellation the people on record.
    people: list[Person] = field(default_factory=list)
    used_codes: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.people and self.application is not None:
            self.people = self.application.verifiers()

    @property
    def key(self) -> str:
        """What every effect's idempotency key starts with: the filing itself (its first run)."""
        return f"{self.handle.id}/{self.handle.first_execution_run_id or self.handle.run_id}"

    @property
    def client(self) -> Client:
        return self.env.client

    async def status(self) -> FilingStatus:
        """The `status` query, asked again when one attempt hangs: a query that reaches a run
        just as it continues as new waits for the closed run, which can take long."""
        return await status_of(self.handle, attempt=2.0)

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
            last = await status_of(self.handle, within=5.0, attempt=2.0)
            raise AssertionError(f"condition not met within {timeout}s; last status: {last}") from None

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
        person = next(p for p in self.people if p.mobile == mobile)
        entry = {
            "mobile": mobile,
            "code": code if code is not None else self.latest_code(mobile),
            "id_last6": id_last6 or person.identity_document.number[-6:],
        }
        return await answer_of(self.handle, "verify_sms_code", entry)

    async def resend(self, mobile: str, *, wait_sent: bool = True) -> dict[str, Any]:
        """Ask for a resend; the workflow sends it right after answering: wait for it."""
        sent_before = len([m for m in self.outbox() if m["to"] == mobile])
        answer = await answer_of(self.handle, "request_sms_resend", {"mobile": mobile})
        if answer["sent"] and wait_sent:
            await self.wait_for(lambda _: len([m for m in self.outbox() if m["to"] == mobile]) > sent_before)
            masked = mask_mobile(mobile)
            await self.wait_for(lambda s: s.sms is not None and any(
                v.mobile == masked and v.attempts_left > 0 for v in s.sms.verifiers))
        return answer

    async def verify_all(self) -> None:
        for person in self.people:
            await self.verify(person.mobile)

    async def outcome(self, timeout: float = 30.0) -> FilingOutcome:
        """The filing's result, asked of its latest run (time skipping unlocked meanwhile), each
        wait bounded and asked again until it is there. Not through `self.handle`, which follows
        the runs from the first: on the time-skipping server, a run that continued as new while
        signals kept arriving can keep a history without its closing event."""
        latest = self.client.get_workflow_handle_for(FilingWorkflow.run, self.handle.id)
        unlocked = getattr(self.env, "time_skipping_unlocked", contextlib.nullcontext)

        async def ask() -> FilingOutcome:
            while True:
                try:
                    async with unlocked():
                        return await latest.result(rpc_timeout=timedelta(seconds=5))
                except RPCError as err:
                    if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                        raise

        return await asyncio.wait_for(ask(), timeout)

    async def result(self) -> FilingOutcome:
        """The outcome, after checking that the history replays on today's workflow code."""
        outcome = await self.outcome()
        replayer = Replayer(workflows=WORKFLOWS, data_converter=self.env.client.data_converter)
        await replayer.replay_workflow(await self.handle.fetch_history())
        return outcome

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def skip(self, delta: timedelta) -> None:
        await self.env.sleep(delta)


async def store_example_materials(data_dir: Path) -> None:
    """The example application names its scans by hash (R10): put them where the worker looks."""
    store = FileMaterialStore(data_dir, TEST_KEYS.payload)
    for content in example_materials().values():
        await store.put(content, MaterialOwner.imported("tests"))


def registry_of(data_dir: Path, keys: Keyring = TEST_KEYS.payload) -> SqlRegistry:
    """The engine's registry (SQLite in its data dir, migrated by `make_engine`); people on
    record are sealed with the engine's payload keys."""
    return SqlRegistry(f"sqlite:///{data_dir / 'registry.db'}", Sealer(keys))


async def file_in_registry(data_dir: Path, application: Application, number: str, approved_at: datetime) -> None:
    """A filing made earlier (as `filings registry import` loads them): what a CHANGE or a
    cancellation acts on."""
    await registry_of(data_dir).import_entries(
        [ImportEntry(application=application, service_number=number, approved_at=approved_at)]
    )


async def launch(
    env: WorkflowEnvironment, task_queue: str, data_dir: Path, application: Application, policy: FilingPolicy | None = None
) -> Filing:
    await store_example_materials(data_dir)
    started = await start_filing(env.client, application, task_queue=task_queue, policy=policy)
    return Filing(env=env, handle=started.handle, data_dir=data_dir, application=application)


async def launch_cancellation(
    env: WorkflowEnvironment, task_queue: str, data_dir: Path, request: CancellationRequest, people: list[Person],
    policy: FilingPolicy | None = None,
) -> Filing:
    """Start a cancellation as a client that skips the starter would: straight to Temporal."""
    started = await start_cancellation(env.client, request, task_queue=task_queue, policy=policy)
    return Filing(env=env, handle=started.handle, data_dir=data_dir, application=None, people=people)
