"""The scripted parties: a platform reviewer, the verifier on the MIIT site, a provincial
reviewer, each acting as soon as `status` shows the filing waiting for it.

Every decision is timed from the moment it is sent to the moment the next stage is
visible in `status` (the reviewer tool's view). `status` is polled: 10 ms after the
action, then backing off to `poll_cap` — the same for the engine and the baseline.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from adapters.sms_outbox import OUTBOX_NAME
from engine.launch import start_filing
from filing.examples import example_application
from filing.models import Application
from filing.policy import FilingPolicy

# The transitions whose latency is measured (decision -> next stage in status).
T_PLATFORM = "platform_decision -> SMS_VERIFICATION"
T_VERIFY = "verify_sms_code -> PROVINCIAL_REVIEW"
T_PROVINCE = "province_decision -> APPROVED"
TRANSITIONS = (T_PLATFORM, T_VERIFY, T_PROVINCE)

def new_appid() -> str:
    return "wx" + secrets.token_hex(8)


def number_for(appid: str) -> str:
    """A filing number of its own for the filing of `appid`, under a subject number of its
    own: L8 issues a number once (a second approval with the same one is refused, L9), and a
    NEW that names no subject number gets a new subject. The example applications are filed
    in 河北省 (冀); the 10-digit serial derives from the appid's hex digits."""
    return f"冀ICP备{int(appid[2:], 16) % 9_000_000_000 + 1_000_000_000}号-1X"


async def filing_key_of(handle: WorkflowHandle[Any, Any]) -> str:
    """`<workflow id>/<first run id>`: what every effect's idempotency key starts with. A
    handle from a start knows its first run; one found running is described."""
    first = handle.first_execution_run_id
    if not first:
        first = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    return f"{handle.id}/{first}"


def sms_key(filing_key: str, attempt: int, mobile: str, resend: int = 0) -> str:
    """The idempotency key of one SMS send (workflows/effects.py `_send_code`)."""
    return f"{filing_key}:{attempt}:sms:{mobile}:{resend}"


_TRANSIENT = {RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE,
              RPCStatusCode.RESOURCE_EXHAUSTED}


class Stalled(Exception):
    pass


@dataclass
class Run:
    """One filing (or bare workflow) driven by the script."""

    workflow_id: str
    started_at: float = 0.0
    done_at: float = 0.0
    latencies: dict[str, float] = field(default_factory=dict)
    update_answer_s: float | None = None
    queries: int = 0
    error: str | None = None


class Outbox:
    """Tails `<data dir>/sms-outbox.jsonl`: the phone of every verifier."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / OUTBOX_NAME
        self._offset = 0
        self._rest = b""
        self._codes: dict[str, str] = {}

    def _refresh(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        data = self._rest + chunk
        lines = data.split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            if line.strip():
                message = json.loads(line)
                self._codes[message["idempotency_key"]] = message["code"]

    async def code(self, filing_key: str, attempt: int, mobile: str, resend: int = 0, timeout: float = 60) -> str:
        """The code of the outbox line of this send's key (one line per key)."""
        key = sms_key(filing_key, attempt, mobile, resend)
        deadline = time.monotonic() + timeout
        while True:
            self._refresh()
            if key in self._codes:
                return self._codes[key]
            if time.monotonic() > deadline:
                raise Stalled(f"no SMS under {key.split(':', 1)[0]} attempt {attempt} in {self.path} after {timeout:.0f}s")
            await asyncio.sleep(0.01)


@dataclass
class Poller:
    poll_cap: float = 0.05
    timeout: float = 120.0
    first: float = 0.01

    async def until(self, run: Run, read: Callable[[], Awaitable[str]], want: str) -> float:
        """Poll until the stage is `want`; answers the monotonic time it was seen."""
        delay, deadline = self.first, time.monotonic() + self.timeout
        last = "?"
        while True:
            try:
                last = await read()
            except RPCError as err:  # no worker has picked the workflow up yet, or an overloaded moment
                if err.status not in _TRANSIENT:
                    raise
                last = f"unanswered ({err.status.name if err.status else '?'})"
            run.queries += 1
            if last == want:
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise Stalled(f"{run.workflow_id}: stage {last}, not {want}, after {self.timeout:.0f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, max(self.poll_cap, self.first))


@dataclass
class EngineDriver:
    """Drives `FilingWorkflow`s through the real start path (`engine.launch.start_filing`)."""

    client: Client
    task_queue: str
    outbox: Outbox
    poller: Poller
    policy: FilingPolicy | None = None

    def application(self, appid: str | None = None) -> Application:
        chosen = appid or new_appid()  # its own company: approved under a subject number of its own
        return example_application(datetime.now(UTC), appid=chosen, company=chosen)

    async def start(self, application: Application) -> WorkflowHandle[Any, Any]:
        started = await start_filing(self.client, application, task_queue=self.task_queue, policy=self.policy)
        return started.handle

    @staticmethod
    def reader(handle: WorkflowHandle[Any, Any]) -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            status = await handle.query("status", result_type=dict)
            return str(status["stage"])

        return read

    async def verify(self, run: Run, handle: WorkflowHandle[Any, Any], application: Application, attempt: int) -> None:
        person = application.subject_principal
        code = await self.outbox.code(await filing_key_of(handle), attempt, person.mobile)
        sent = time.perf_counter()
        answer = await handle.execute_update(
            "verify_sms_code",
            {"mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]},
            result_type=dict,
        )
        run.update_answer_s = time.perf_counter() - sent
        if answer.get("result") != "verified":
            raise Stalled(f"{handle.id}: verify_sms_code answered {answer}")

    async def happy(self, stop_at: str = "APPROVED") -> Run:
        """Start -> platform approve -> SMS verify -> provincial approve (or stop at `stop_at`)."""
        application = self.application()
        run = Run(workflow_id=f"filing-{application.appid}", started_at=time.perf_counter())
        handle = await self.start(application)
        read, until = self.reader(handle), self.poller.until
        await until(run, read, "PLATFORM_REVIEW")
        sent = time.perf_counter()
        await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": 1})
        run.latencies[T_PLATFORM] = await until(run, read, "SMS_VERIFICATION") - sent
        sent = time.perf_counter()
        await self.verify(run, handle, application, 1)
        run.latencies[T_VERIFY] = await until(run, read, "PROVINCIAL_REVIEW") - sent
        if stop_at == "PROVINCIAL_REVIEW":
            run.done_at = time.perf_counter()
            return run
        sent = time.perf_counter()
        await handle.signal("province_decision",
                            {"decision": "approve", "reviewer": "冀-07", "filing_number": number_for(application.appid),
                             "attempt": 1})
        run.latencies[T_PROVINCE] = await until(run, read, "APPROVED") - sent
        await asyncio.wait_for(handle.result(), self.poller.timeout)
        run.done_at = time.perf_counter()
        return run


@dataclass
class BareDriver:
    """Drives `BareFiling`s the same way (its `stage` query stands for `status`)."""

    client: Client
    task_queue: str
    poller: Poller

    async def start(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow("BareFiling", {"appid": workflow_id}, id=workflow_id,
                                                task_queue=self.task_queue)

    @staticmethod
    def reader(handle: WorkflowHandle[Any, Any]) -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            return str(await handle.query("stage", result_type=str))

        return read

    async def happy(self, stop_at: str = "APPROVED") -> Run:
        run = Run(workflow_id=f"bare-{secrets.token_hex(8)}", started_at=time.perf_counter())
        handle = await self.start(run.workflow_id)
        read, until = self.reader(handle), self.poller.until
        await until(run, read, "PLATFORM_REVIEW")
        sent = time.perf_counter()
        await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": 1})
        run.latencies[T_PLATFORM] = await until(run, read, "SMS_VERIFICATION") - sent
        sent = time.perf_counter()
        await handle.execute_update("verify_sms_code", {"mobile": "13800138000", "code": "000000", "id_last6": "000000"},
                                    result_type=dict)
        run.update_answer_s = time.perf_counter() - sent
        run.latencies[T_VERIFY] = await until(run, read, "PROVINCIAL_REVIEW") - sent
        if stop_at == "PROVINCIAL_REVIEW":
            run.done_at = time.perf_counter()
            return run
        sent = time.perf_counter()
        await handle.signal("province_decision",
                            {"decision": "approve", "reviewer": "冀-07", "filing_number": number_for(new_appid()),
                             "attempt": 1})
        run.latencies[T_PROVINCE] = await until(run, read, "APPROVED") - sent
        await asyncio.wait_for(handle.result(), self.poller.timeout)
        run.done_at = time.perf_counter()
        return run


async def guarded(make: Callable[[], Awaitable[Run]], timeout: float) -> Run:
    """One scripted filing, bounded in time; a failure is recorded, not raised."""
    try:
        return await asyncio.wait_for(make(), timeout)
    except Exception as err:  # noqa: BLE001 - reported in the results
        return Run(workflow_id="?", error=f"{type(err).__name__}: {err}"[:300])


async def run_many(make: Callable[[], Awaitable[Run]], count: int, *, in_flight: int | None = None,
                   timeout: float = 600.0) -> list[Run]:
    """`count` scripted filings, all at once (or at most `in_flight` at a time)."""
    if in_flight is None or in_flight >= count:
        return list(await asyncio.gather(*(guarded(make, timeout) for _ in range(count))))
    gate = asyncio.Semaphore(in_flight)

    async def one() -> Run:
        async with gate:
            return await guarded(make, timeout)

    return list(await asyncio.gather(*(one() for _ in range(count))))


SHORT_SMS_WINDOW = timedelta(seconds=4)
