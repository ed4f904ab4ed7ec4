"""(5) Deadline storm: S filings whose platform-review SLA falls due at the same instant,
against S bare timers firing together, on the same time-skipping server.

Why the time-skipping server: an SLA is counted in business days (at least one), ending
at midnight China time, so on a real clock the storm is days away. On the time-skipping
server (`temporal-test-server`, the one the workflow tests use) the harness parks the
filings, then skips the server's clock to just past the deadline: every filing started
on the same China calendar day has the *same* due instant, so all timers fire together.
"Flagged" is seen as the operator escalation each filing writes (`sla_breached` in
`<data dir>/notifications.jsonl`), which the workflow does in the same workflow task
as the `SlaBreached` upsert; afterwards every filing's `status` is checked.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import google.protobuf.empty_pb2
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, SleepRequest
from temporalio.client import Client
from temporalio.service import RPCError

from bench.driver import new_appid
from bench.lab import CpuMeter, Lab
from bench.server import Server
from bench.stats import spread
from bench.worker_proc import WorkerHandle
from engine.launch import start_filing
from engine.search_attributes import register_search_attributes
from filing.examples import example_application

Say = Callable[[str], None]


async def server_now(client: Client) -> datetime:
    response = await client.test_service.get_current_time(google.protobuf.empty_pb2.Empty())
    return response.time.ToDatetime().replace(tzinfo=UTC)


async def skip(client: Client, duration: timedelta, rpc_timeout: float) -> None:
    """Move the server's clock on by `duration`. The call answers once the server's clock is
    there, after it fired the timers on the way (2-3 s at 2 000 on a loaded machine): it gets
    the round's own timeout rather than the client's default RPC deadline, which a server
    busy with 5 000 timers could outlast."""
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    await client.test_service.unlock_time_skipping_with_sleep(request, timeout=timedelta(seconds=rpc_timeout))


async def gathered(items: list[Any], one: Callable[[Any], Any], concurrency: int = 50) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def bounded(item: Any) -> Any:
        async with gate:
            return await one(item)

    return list(await asyncio.gather(*(bounded(i) for i in items)))


class LineCount:
    """How many complete lines of a growing file satisfy `predicate`: each call reads only
    what was appended since the last (a whole-file count every 20 ms grew with the file,
    and the engine's notices are longer lines than the bare timers' ids)."""

    def __init__(self, path: Path, predicate: Callable[[str], bool]) -> None:
        self.path = path
        self.predicate = predicate
        self.offset = 0
        self.count = 0

    def __call__(self) -> int:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.count
        end = data.rfind(b"\n") + 1  # a line still being written is read on a later call
        for line in data[:end].decode("utf-8").splitlines():
            if self.predicate(line):
                self.count += 1
        self.offset += end
        return self.count


async def wait_count(count: Callable[[], int], want: int, timeout: float) -> float:
    """Poll a count until it reaches `want`; answers the perf_counter time it did."""
    deadline = time.monotonic() + timeout
    while True:
        if count() >= want:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise TimeoutError(f"count {count()} of {want} after {timeout:.0f}s")
        await asyncio.sleep(0.02)


async def engine_round(client: Client, server: Server, worker: WorkerHandle, size: int, timeout: float,
                       say: Say) -> dict[str, Any]:
    now = await server_now(client)  # the server's clock is days ahead after earlier rounds
    applications = [example_application(now, appid=a, company=a) for a in (new_appid() for _ in range(size))]
    await gathered(applications, lambda a: start_filing(client, a, task_queue=worker.task_queue))
    ids = {f"filing-{a.appid}" for a in applications}

    async def parked(workflow_id: str) -> dict[str, Any]:
        handle = client.get_workflow_handle(workflow_id)
        for _ in range(int(timeout / 0.1)):
            try:
                status = await handle.query("status", result_type=dict)
            except RPCError:  # no worker has run its first task yet: the query times out
                status = {"stage": None}
            if status["stage"] == "PLATFORM_REVIEW":
                return status
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{workflow_id} not in PLATFORM_REVIEW")

    statuses = await gathered(sorted(ids), parked)
    dues = {datetime.fromisoformat(s["deadline"]["due_at"]) for s in statuses}
    due = max(dues)
    notices = worker.data_dir / "notifications.jsonl"

    breached = LineCount(notices, lambda line: '"sla_breached"' in line and json.loads(line)["filing_id"] in ids)

    early = breached()  # 0 unless the server's clock moved on its own
    if early:
        raise RuntimeError(f"{early} SLAs breached before the skip: the server's clock is not locked")
    meter = CpuMeter({"server": server.child, "worker": worker.child})
    with meter:
        t0 = time.perf_counter()
        await skip(client, due - await server_now(client) + timedelta(seconds=1), timeout)
        skipped = time.perf_counter()
        t1 = await wait_count(breached, size, timeout)

    async def flagged(workflow_id: str) -> bool:
        status = await client.get_workflow_handle(workflow_id).query("status", result_type=dict)
        return bool(status["deadline"] and status["deadline"]["sla_breached"])

    confirmed = sum(await gathered(sorted(ids), flagged))
    say(f"  engine: {size} SLAs due {due.isoformat()} ({len(dues)} distinct instant(s)); all flagged in "
        f"{t1 - t0:.2f}s; status confirms {confirmed}/{size}")
    return {"side": "engine", "seconds": round(t1 - t0, 3), "skip_call_s": round(skipped - t0, 3),
            "distinct_due_instants": len(dues), "confirmed": confirmed, "flagged_before_skip": early, "cpu_seconds": meter.used}


async def bare_round(client: Client, server: Server, worker: WorkerHandle, size: int, timeout: float,
                     say: Say) -> dict[str, Any]:
    fire_at = await server_now(client) + timedelta(days=2)
    ids = [f"bare-timer-{new_appid()}" for _ in range(size)]
    await gathered(ids, lambda i: client.start_workflow("BareTimer", fire_at.isoformat(), id=i,
                                                          task_queue=worker.task_queue))

    async def armed(workflow_id: str) -> bool:
        """As the engine's `parked`: a query before the first task is done may time out; asked again."""
        handle = client.get_workflow_handle(workflow_id)
        for _ in range(int(timeout / 0.1)):
            try:
                return await handle.query("armed", result_type=bool)
            except RPCError:
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{workflow_id} not armed")

    await gathered(ids, armed)
    fired_file = worker.data_dir / "bare-timers-fired.txt"
    mine = set(ids)

    fired = LineCount(fired_file, lambda line: line.strip() in mine)

    early = fired()  # 0 unless the server's clock moved on its own
    if early:
        raise RuntimeError(f"{early} bare timers fired before the skip: the server's clock is not locked")
    meter = CpuMeter({"server": server.child, "worker": worker.child})
    with meter:
        t0 = time.perf_counter()
        await skip(client, fire_at - await server_now(client) + timedelta(seconds=1), timeout)
        skipped = time.perf_counter()
        t1 = await wait_count(fired, size, timeout)
    say(f"  bare: {size} timers fired and handled in {t1 - t0:.2f}s")
    return {"side": "bare", "seconds": round(t1 - t0, 3), "skip_call_s": round(skipped - t0, 3), "fired_before_skip": early,
            "cpu_seconds": meter.used}


async def run_storm(lab: Lab, size: int, repeat: int, say: Say) -> dict[str, Any]:
    say(f"storm: {size} SLA deadlines due at one instant vs {size} bare timers (time-skipping server), "
        f"{repeat} round(s)")
    timeout = max(120.0, size * 0.5)
    rounds: list[dict[str, Any]] = []
    async with lab.time_skipping_server("storm") as server:
        engine_worker = await lab.engine_worker(server, "storm-engine")
        bare_worker = await lab.bare_worker(server, "storm-bare")
        client = await lab.client(server)
        bare_client = await lab.bare_client(server)
        await register_search_attributes(client, "default")  # the test server starts without them
        # The standalone test server starts with time skipping unlocked: it would jump to every
        # timer as soon as it is idle. Locked, its clock runs at wall-clock pace and moves
        # ahead only when `skip` says so.
        await client.test_service.lock_time_skipping(LockTimeSkippingRequest())
        for round_ in range(repeat):
            sides = ["engine", "bare"] if round_ % 2 == 0 else ["bare", "engine"]
            for side in sides:
                if side == "engine":
                    result = await engine_round(client, server, engine_worker, size, timeout, say)
                else:
                    result = await bare_round(bare_client, server, bare_worker, size, timeout, say)
                result["round"] = round_ + 1
                rounds.append(result)
        rss = engine_worker.child.rss_kib()
    engine = spread([r["seconds"] for r in rounds if r["side"] == "engine"])
    bare = spread([r["seconds"] for r in rounds if r["side"] == "bare"])
    ratios = []
    for round_ in range(1, repeat + 1):
        e = next(r["seconds"] for r in rounds if r["round"] == round_ and r["side"] == "engine")
        b = next(r["seconds"] for r in rounds if r["round"] == round_ and r["side"] == "bare")
        ratios.append(e / b if b else float("nan"))
    return {"size": size, "repeat": repeat, "server": "temporal-test-server (time-skipping)",
            "rounds": rounds, "engine_seconds": engine, "bare_seconds": bare,
            "ratio": {"of": "engine / bare", **spread(ratios)}, "engine_worker_rss_kib": rss}
