"""(2) History events per filing on each path, engine and bare, and the happy path's events
one by one.

- happy: platform approve, SMS verify, provincial approve.
- return_resubmit: platform reject (one reason), resubmit, then the happy path.
- sms_timeout: the SMS window passes (the policy's `sms_window` shortened to a few
  seconds, recorded in the start input like any policy), the filing is RETURNED with
  `sms_timeout`; then resubmitted and approved (engine only: the bare workflow has no
  SMS window to lapse differently from a review's).

The parties act as people do, long after the filing settled: before every action the
harness waits until the run has no workflow task and no activity pending (`describe`),
then reads the stage once. So each count is the path's own, not a race between the
harness and the worker (a decision that lands before the hand-over's answer skips the
SLA timer; a query answered while a local activity's result is pending splits a workflow
task), and it is the same on every run of the benchmark.

A resubmission continues the filing as new (L10), so the last two paths span two runs:
each is counted per run (run 1 from the start to the resubmission, which ends it with
`WORKFLOW_EXECUTION_CONTINUED_AS_NEW`; run 2 from attempt 2 to the result) and in total;
run 1 also at the moment it is RETURNED.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench.driver import SHORT_SMS_WINDOW, BareDriver, EngineDriver, filing_key_of, new_appid, number_for
from bench.history import describe, run_chain, summary
from filing.policy import FilingPolicy

Say = Callable[[str], None]
REASONS = [{"field": "subject.address.detail", "error": "地址不详细", "suggestion": "请填写门牌号"}]


async def settled(handle: WorkflowHandle[Any, Any], timeout: float = 60.0) -> int:
    """Wait until the current run has nothing pending (no workflow task, no activity); its length."""
    deadline = time.monotonic() + timeout
    while True:
        raw = (await handle.describe()).raw_description
        if (not raw.HasField("pending_workflow_task") and not raw.pending_activities) or time.monotonic() > deadline:
            return int(raw.workflow_execution_info.history_length)
        await asyncio.sleep(0.05)


class Side:
    """One contender driven step by step: settle, check the stage, act."""

    def __init__(self, client: Client, read: Callable[[WorkflowHandle[Any, Any]], Any]) -> None:
        self.client = client
        self._read = read

    async def at(self, handle: WorkflowHandle[Any, Any], stage: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            await settled(handle)
            now = await self._read(handle)
            if now == stage:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{handle.id}: stage {now}, not {stage}")
            await asyncio.sleep(0.1)


class EngineSide(Side):
    def __init__(self, driver: EngineDriver) -> None:
        super().__init__(driver.client, self._stage)
        self.driver = driver

    @staticmethod
    async def _stage(handle: WorkflowHandle[Any, Any]) -> str:
        return str((await handle.query("status", result_type=dict))["stage"])

    async def start(self, policy: FilingPolicy | None = None) -> tuple[WorkflowHandle[Any, Any], Any]:
        driver = EngineDriver(self.driver.client, self.driver.task_queue, self.driver.outbox, self.driver.poller,
                              policy=policy)
        application = driver.application()
        return await driver.start(application), application

    async def verify(self, handle: WorkflowHandle[Any, Any], application: Any, attempt: int) -> None:
        person = application.subject_principal
        code = await self.driver.outbox.code(await filing_key_of(handle), attempt, person.mobile)
        answer = await handle.execute_update("verify_sms_code", {
            "mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]}, result_type=dict)
        assert answer["result"] == "verified", answer

    @staticmethod
    def number(application: Any) -> str:
        return number_for(application.appid)


class BareSide(Side):
    def __init__(self, driver: BareDriver) -> None:
        super().__init__(driver.client, self._stage)
        self.driver = driver

    @staticmethod
    async def _stage(handle: WorkflowHandle[Any, Any]) -> str:
        return str(await handle.query("stage", result_type=str))

    async def start(self, policy: FilingPolicy | None = None) -> tuple[WorkflowHandle[Any, Any], Any]:
        workflow_id = f"bare-{new_appid()}"
        return await self.driver.start(workflow_id), None

    async def verify(self, handle: WorkflowHandle[Any, Any], application: Any, attempt: int) -> None:
        await handle.execute_update("verify_sms_code", {"mobile": "13800138000", "code": "000000", "id_last6": "000000"},
                                    result_type=dict)

    @staticmethod
    def number(application: Any) -> str:
        return number_for(new_appid())


async def _approve(side: EngineSide | BareSide, handle: WorkflowHandle[Any, Any], application: Any, attempt: int) -> None:
    await side.at(handle, "PLATFORM_REVIEW")
    await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": attempt})
    await side.at(handle, "SMS_VERIFICATION")
    await side.verify(handle, application, attempt)
    await side.at(handle, "PROVINCIAL_REVIEW")
    await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07",
                                              "filing_number": side.number(application), "attempt": attempt})
    await asyncio.wait_for(handle.result(), 120)


async def happy(side: EngineSide | BareSide) -> dict[str, Any]:
    handle, application = await side.start()
    await _approve(side, handle, application, attempt=1)
    return {"workflow_id": handle.id, "runs": await run_chain(side.client, handle.id, handle.first_execution_run_id or "")}


async def return_resubmit(side: EngineSide | BareSide) -> dict[str, Any]:
    handle, application = await side.start()
    await side.at(handle, "PLATFORM_REVIEW")
    await handle.signal("platform_decision", {"decision": "reject", "reviewer": "r-01", "attempt": 1, "reasons": REASONS})
    return await _resubmitted(side, handle, application)


async def sms_timeout(side: EngineSide) -> dict[str, Any]:
    handle, application = await side.start(FilingPolicy(sms_window=SHORT_SMS_WINDOW))
    await side.at(handle, "PLATFORM_REVIEW")
    await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": 1})
    # Nobody enters the code: 自动驳回 once the window has passed.
    found = await _resubmitted(side, handle, application, timeout=SHORT_SMS_WINDOW.total_seconds() + 60)
    return {**found, "sms_window_s": SHORT_SMS_WINDOW.total_seconds()}


async def _resubmitted(side: EngineSide | BareSide, handle: WorkflowHandle[Any, Any], application: Any,
                       timeout: float = 60.0) -> dict[str, Any]:
    await side.at(handle, "RETURNED", timeout)
    at_returned = await settled(handle)
    resubmission = application.model_dump(mode="json", exclude_none=True) if application is not None else {}
    await handle.execute_update("resubmit", {"application": resubmission}, result_type=dict)
    await _approve(side, handle, application, attempt=2)
    return {"workflow_id": handle.id, "events_when_returned": at_returned,
            "runs": await run_chain(side.client, handle.id, handle.first_execution_run_id or "")}


def _counted(runs: list[list[Any]]) -> dict[str, Any]:
    return {"events": sum(len(r) for r in runs), "runs": len(runs), "events_per_run": [len(r) for r in runs],
            "by_type": summary([e for r in runs for e in r])}


async def run_events(engine: EngineDriver, bare: BareDriver, bare_client: Client, say: Say) -> dict[str, Any]:
    say("events: one filing per path, engine and bare, each step once the run settled")
    engine_side, bare_side = EngineSide(engine), BareSide(bare)
    out: dict[str, Any] = {"paths": {}, "bare_paths": {}, "sms_window_s": SHORT_SMS_WINDOW / timedelta(seconds=1)}
    for name, path in (("happy", happy), ("return_resubmit", return_resubmit), ("sms_timeout", sms_timeout)):
        found = await path(engine_side)  # type: ignore[operator]
        runs = found.pop("runs")
        out["paths"][name] = {**_counted(runs), **found}
        if name == "happy":
            out["happy_event_list"] = [describe(e) for e in runs[0]]
        if name != "sms_timeout":
            bare_found = await path(bare_side)  # type: ignore[operator]
            bare_runs = bare_found.pop("runs")
            out["bare_paths"][name] = {**_counted(bare_runs), **bare_found}
            if name == "happy":
                out["bare_happy"] = {**out["bare_paths"][name], "event_list": [describe(e) for e in bare_runs[0]]}
        say(f"  {name}: engine {out['paths'][name]['events']} events (runs {out['paths'][name]['events_per_run']}"
            + (f", {found['events_when_returned']} when RETURNED" if "events_when_returned" in found else "")
            + ")" + (f"; bare {out['bare_paths'][name]['events_per_run']}" if name in out["bare_paths"] else ""))
    return out
