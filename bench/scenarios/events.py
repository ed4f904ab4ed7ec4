"""(2) History events per filing on each path, and the happy path's events one by one.

- happy: platform approve, SMS verify, provincial approve.
- return_resubmit: platform reject (one reason), resubmit, then the happy path.
- sms_timeout: the SMS window passes (the policy's `sms_window` shortened to a few
  seconds, recorded in the start input like any policy), the filing is RETURNED with
  `sms_timeout`; then resubmitted and approved. Also counted at the moment it is RETURNED.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from bench.driver import FILING_NUMBER, SHORT_SMS_WINDOW, BareDriver, EngineDriver, Run
from bench.history import describe, history_of, summary
from filing.policy import FilingPolicy

Say = Callable[[str], None]


async def _approve_rest(driver: EngineDriver, run: Run, handle: Any, application: Any, attempt: int) -> None:
    until, read = driver.poller.until, driver.reader(handle)
    await until(run, read, "PLATFORM_REVIEW")
    await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": attempt})
    await until(run, read, "SMS_VERIFICATION")
    await driver.verify(run, handle, application, attempt)
    await until(run, read, "PROVINCIAL_REVIEW")
    await handle.signal("province_decision",
                        {"decision": "approve", "reviewer": "冀-07", "filing_number": FILING_NUMBER, "attempt": attempt})
    await handle.result()


async def _settled_length(handle: Any, timeout: float = 30.0) -> int:
    """History length once no workflow task is pending (the filing is waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        description = await handle.describe()
        raw = description.raw_description
        if not raw.HasField("pending_workflow_task") or time.monotonic() > deadline:
            return int(raw.workflow_execution_info.history_length)
        await asyncio.sleep(0.05)


async def return_resubmit(driver: EngineDriver) -> dict[str, Any]:
    application = driver.application()
    run = Run(workflow_id=f"filing-{application.appid}")
    handle = await driver.start(application)
    read = driver.reader(handle)
    await driver.poller.until(run, read, "PLATFORM_REVIEW")
    await handle.signal("platform_decision", {
        "decision": "reject", "reviewer": "r-01", "attempt": 1,
        "reasons": [{"field": "subject.address.detail", "error": "地址不详细", "suggestion": "请填写门牌号"}],
    })
    await driver.poller.until(run, read, "RETURNED")
    at_returned = await _settled_length(handle)
    await handle.execute_update("resubmit", {"application": application.model_dump(mode="json", exclude_none=True)},
                                result_type=dict)
    await _approve_rest(driver, run, handle, application, attempt=2)
    return {"workflow_id": handle.id, "events_when_returned": at_returned, "events": await history_of(handle)}


async def sms_timeout(driver: EngineDriver) -> dict[str, Any]:
    short = EngineDriver(driver.client, driver.task_queue, driver.outbox, driver.poller,
                         policy=FilingPolicy(sms_window=SHORT_SMS_WINDOW))
    application = short.application()
    run = Run(workflow_id=f"filing-{application.appid}")
    handle = await short.start(application)
    read = short.reader(handle)
    await short.poller.until(run, read, "PLATFORM_REVIEW")
    await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": 1})
    await short.poller.until(run, read, "RETURNED")  # nobody enters the code: 自动驳回 after the window
    at_returned = await _settled_length(handle)
    await handle.execute_update("resubmit", {"application": application.model_dump(mode="json", exclude_none=True)},
                                result_type=dict)
    await _approve_rest(short, run, handle, application, attempt=2)
    return {"workflow_id": handle.id, "events_when_returned": at_returned, "events": await history_of(handle),
            "sms_window_s": SHORT_SMS_WINDOW.total_seconds()}


async def run_events(engine: EngineDriver, bare: BareDriver, bare_client: Client, say: Say) -> dict[str, Any]:
    say("events: one filing per path")
    out: dict[str, Any] = {"paths": {}}
    happy_run = await engine.happy()
    happy = await history_of(engine.client.get_workflow_handle(happy_run.workflow_id))
    out["paths"]["happy"] = {"events": len(happy), "by_type": summary(happy)}
    out["happy_event_list"] = [describe(e) for e in happy]
    for name, path in (("return_resubmit", return_resubmit), ("sms_timeout", sms_timeout)):
        found = await path(engine)
        events = found.pop("events")
        out["paths"][name] = {"events": len(events), "by_type": summary(events), **found}
        say(f"  {name}: {len(events)} events ({found['events_when_returned']} when RETURNED)")
    bare_run = await bare.happy()
    bare_events = await history_of(bare_client.get_workflow_handle(bare_run.workflow_id))
    out["bare_happy"] = {"events": len(bare_events), "by_type": summary(bare_events),
                         "event_list": [describe(e) for e in bare_events]}
    say(f"  happy: {len(happy)} events; bare happy: {len(bare_events)} events")
    return out
