"""(8) The filing service under load: the real `python -m service` process beside a real
engine worker on the dev server, driven over HTTP as reviewers and integrators drive it.

- **start**: filings started over HTTP (`POST /v1/filings`: the token, R1–R10, R8 against
  the registry, the materials, the Idempotency-Key stored, the start, the stage) against
  `engine.launch.start_filing` from a Temporal client in the harness, `--clients` callers
  each, alternating rounds (order swapped every round). Between batches the worker is let
  finish L1 for every filing (all in PLATFORM_REVIEW), so no batch pays for the previous
  one's work. The filings started here are the pool the next phases read and decide.
- **read**: `GET /v1/filings/{appid}` (the §7 status, masked) as a platform reviewer.
- **decision**: `POST /v1/filings/{appid}/platform-decision` (approve) until its answer;
  the service sends it as the workflow's update, which answers once the decision is
  applied. Each filing takes one decision, so each one is a filing of the pool.

For read and decision, saturation first: a closed loop of `--clients` callers, each
sending its next request when the last one answered. Then half of that rate is offered
open-loop: request i is sent at t0 + i/rate whatever the answers, and its latency counts
from that due time, so queueing shows in the latency (and a harness that falls behind its
schedule shows in it too: the lag is recorded).
"""

from __future__ import annotations

import asyncio
import json
import pstats
import random
import signal
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from temporalio.client import Client

from bench.driver import new_appid
from bench.lab import CpuMeter, Lab, ServiceHandle
from bench.procs import Child, wait_until
from bench.server import Server
from bench.stats import latency_summary, spread
from engine.launch import start_filing
from filing.examples import example_application, example_materials
from service.principal import Role
from service.tokens import issue_token

Say = Callable[[str], None]
#: What one request does: True when it was answered as it should (201, 200, applied).
Send = Callable[[int], Awaitable[bool]]


@dataclass
class Sizes:
    clients: int = 4  # callers of every closed loop (saturation) and of the start comparison
    starts: int = 50  # filings started per path per round
    repeat: int = 3  # rounds of the start comparison
    read_seconds: float = 10.0  # length of the read saturation and of the read open loop
    decisions: int = 100  # decisions in the saturation loop, and again in the open loop
    warmup: int = 5  # unmeasured starts per path first


@dataclass
class Loop:
    """The outcome of a closed or open loop: answers, errors, latencies, the rate achieved."""

    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, ok: bool, latency: float) -> None:
        if ok:
            self.latencies.append(latency)
        else:
            self.errors.append("answered, not as expected")

    @property
    def per_second(self) -> float | None:
        return round(len(self.latencies) / self.seconds, 2) if self.seconds > 0 else None

    def summary(self) -> dict[str, Any]:
        return {"answered": len(self.latencies), "errors": len(self.errors), "error_samples": sorted(set(self.errors))[:5],
                "seconds": round(self.seconds, 3), "per_second": self.per_second,
                "latency": latency_summary(self.latencies),
                "send_lag": latency_summary(self.lags) if self.lags else None}


async def closed_loop(send: Send, clients: int, *, items: int | None = None, seconds: float | None = None) -> Loop:
    """`clients` callers, each sending its next request as soon as its last one answered;
    until `items` requests were sent, or for `seconds`."""
    loop, counter = Loop(), iter(range(items if items is not None else 10**12))
    t0 = time.perf_counter()
    end = t0 + seconds if seconds is not None else float("inf")

    async def caller() -> None:
        for i in counter:
            if time.perf_counter() >= end:
                return
            sent = time.perf_counter()
            try:
                ok = await send(i)
            except Exception as err:  # noqa: BLE001 - counted and sampled
                loop.errors.append(f"{type(err).__name__}: {err}"[:200])
                continue
            loop.record(ok, time.perf_counter() - sent)

    await asyncio.gather(*(caller() for _ in range(clients)))
    loop.seconds = time.perf_counter() - t0
    return loop


async def open_loop(send: Send, rate: float, count: int) -> Loop:
    """Request i at t0 + i/rate, whatever the answers; latency from the due time."""
    loop = Loop()
    t0 = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        loop.lags.append(time.perf_counter() - due)
        try:
            ok = await send(i)
        except Exception as err:  # noqa: BLE001 - counted and sampled
            loop.errors.append(f"{type(err).__name__}: {err}"[:200])
            return
        loop.record(ok, time.perf_counter() - due)

    await asyncio.gather(*(one(i) for i in range(count)))
    loop.seconds = time.perf_counter() - t0
    return loop


#: The one applicant (integrator) every measured start is made by.
INTEGRATOR = "bench-integrator"


class Callers:
    """The HTTP side: tokens of each role, minted as `filings login` does, and one pool of
    connections (aiohttp: the harness shares the machine's two cores with what it measures)."""

    def __init__(self, service: ServiceHandle, session: aiohttp.ClientSession) -> None:
        self.service = service
        self.http = session
        self.platform = self._bearer(Role.PLATFORM_REVIEWER, "r-01")
        self.answers: dict[int, int] = {}

    def _bearer(self, role: Role, sub: str, appids: Sequence[str] = ()) -> dict[str, str]:
        token = issue_token(self.service.signing_key, issuer=self.service.issuer,  # type: ignore[arg-type]
                            audience=self.service.audience, sub=sub, role=role, appids=appids,
                            ttl=timedelta(hours=2))
        return {"Authorization": f"Bearer {token}"}

    def applicant(self, appid: str) -> dict[str, str]:
        """One integrator files every mini-program: the example's scans are theirs (uploaded once)."""
        return self._bearer(Role.APPLICANT, INTEGRATOR, [appid])

    async def upload_examples(self) -> None:
        """The example's scans, uploaded by the integrator before anything is measured (an
        applicant names only materials they uploaded)."""
        headers = self._bearer(Role.APPLICANT, INTEGRATOR, [new_appid()])  # a token names an appid; materials are the sub's
        for sha256, content in example_materials().items():
            form = aiohttp.FormData()
            form.add_field("file", content, filename=f"{sha256[:8]}.bin")
            async with self.http.post("/v1/materials", data=form,
                                      headers={**headers, "Idempotency-Key": str(uuid.uuid4())}) as answer:
                body = await answer.read()
                if answer.status != 201 or json.loads(body)["sha256"] != sha256:
                    raise RuntimeError(f"uploading the example's material {sha256} answered {answer.status}: {body[:200]!r}")

    def _count(self, status: int) -> None:
        self.answers[status] = self.answers.get(status, 0) + 1

    async def start(self, body: bytes, headers: dict[str, str]) -> bool:
        async with self.http.post("/v1/filings", data=body, headers={
                **headers, "Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}) as answer:
            await answer.read()
            self._count(answer.status)
            return answer.status == 201

    async def read(self, appid: str) -> bool:
        async with self.http.get(f"/v1/filings/{appid}", headers=self.platform) as answer:
            await answer.read()
            self._count(answer.status)
            return answer.status == 200

    async def approve(self, appid: str) -> bool:
        async with self.http.post(f"/v1/filings/{appid}/platform-decision", json={"decision": "approve"},
                                  headers={**self.platform, "Idempotency-Key": str(uuid.uuid4())}) as answer:
            body = await answer.read()
            self._count(answer.status)
            return answer.status == 200 and json.loads(body).get("applied") is True


def _applications(n: int) -> list[Any]:
    now = datetime.now(UTC)
    return [example_application(now, appid=a, company=a) for a in (new_appid() for _ in range(n))]


async def _stage_count(client: Client, stage: str) -> int:
    return (await client.count_workflows(f"WorkflowType = 'FilingWorkflow' AND FilingStage = '{stage}'")).count


async def settle(client: Client, stage: str, expected: int, worker: Child, what: str, timeout: float) -> None:
    """Until `expected` filings show `stage` in visibility: the worker finished with them."""
    async def reached() -> bool:
        worker.check_alive(what)
        return await _stage_count(client, stage) >= expected

    try:
        await wait_until(reached, timeout, f"{expected} filings in {stage} ({what})", interval=0.2)
    except TimeoutError as err:
        found = {s: await _stage_count(client, s) for s in ("SUBMITTED", "PLATFORM_REVIEW", "SMS_VERIFICATION",
                                                           "RETURNED")}
        raise TimeoutError(f"{err}; by stage: {found}") from None


async def compare_starts(server: Server, service: ServiceHandle, callers: Callers, client: Client,
                         task_queue: str, worker: Child, sizes: Sizes, say: Say) -> tuple[dict[str, Any], list[str]]:
    """HTTP against the Temporal client, alternating rounds; answers the results and the pool."""
    pool: list[str] = []

    async def batch(path: str, n: int) -> tuple[Loop, dict[str, float]]:
        applications = _applications(n)
        if path == "http":  # bodies and tokens made before the clock starts, as callers hold them
            prepared = [(a.model_dump_json(exclude_none=True).encode(), callers.applicant(a.appid)) for a in applications]

            async def send(i: int) -> bool:
                return started(i, await callers.start(*prepared[i]))
        else:
            async def send(i: int) -> bool:
                launched = await start_filing(client, applications[i], task_queue=task_queue)
                return started(i, launched.status == "started")

        def started(i: int, ok: bool) -> bool:  # only filings that started join the pool
            if ok:
                pool.append(applications[i].appid)
            return ok

        meter = CpuMeter({"server": server.child, "worker": worker, "service": service.child})
        with meter:
            loop = await closed_loop(send, sizes.clients, items=n)
        await settle(client, "PLATFORM_REVIEW", len(pool), worker, f"after the {path} starts",
                     timeout=120 + 2 * n)
        return loop, meter.used

    for path in ("http", "client"):
        await batch(path, sizes.warmup)
    rounds: list[dict[str, Any]] = []
    for round_ in range(sizes.repeat):
        for path in ("http", "client") if round_ % 2 == 0 else ("client", "http"):
            loop, cpu = await batch(path, sizes.starts)
            rounds.append({"round": round_ + 1, "path": path, **loop.summary(),
                           "cpu_ms_per_start": {k: round(v / max(1, len(loop.latencies)) * 1000, 2)
                                                for k, v in cpu.items()}})
            say(f"  start round {round_ + 1} {path:>6}: {len(loop.latencies)}/{sizes.starts} in "
                f"{loop.seconds:.2f}s = {loop.per_second}/s, errors {len(loop.errors)}")
    ratios = []
    for round_ in range(1, sizes.repeat + 1):
        http = next(r["per_second"] for r in rounds if r["round"] == round_ and r["path"] == "http")
        direct = next(r["per_second"] for r in rounds if r["round"] == round_ and r["path"] == "client")
        if http and direct:
            ratios.append(http / direct)

    def of(path: str) -> dict[str, Any]:
        mine = [r for r in rounds if r["path"] == path]
        return {"per_second": spread([r["per_second"] for r in mine]),
                "errors": sum(r["errors"] for r in mine),
                "latency_p50_ms": statistics.median(r["latency"]["p50_ms"] or 0 for r in mine),
                "latency_p99_ms": statistics.median(r["latency"]["p99_ms"] or 0 for r in mine),
                "cpu_ms_per_start": {k: statistics.median(r["cpu_ms_per_start"][k] for r in mine)
                                     for k in mine[0]["cpu_ms_per_start"]}}

    return {"rounds": rounds, "http": of("http"), "client": of("client"), "ratio": spread(ratios)}, pool


async def measure(name: str, send: Send, sizes: Sizes, parts: dict[str, Child], say: Say, *,
                  saturation_items: int | None, open_items: Callable[[float], int],
                  between: Callable[[Loop], Awaitable[None]] | None = None) -> dict[str, Any]:
    """Saturation (closed loop), then half of it offered open-loop; `between` lets the
    engine finish what the saturation loop set going, so the open loop meets a quiet engine."""
    meter = CpuMeter(dict(parts))
    with meter:
        saturated = await closed_loop(send, sizes.clients, items=saturation_items,
                                      seconds=None if saturation_items else sizes.read_seconds)
    if not saturated.per_second:
        raise RuntimeError(f"{name}: nothing answered at saturation: {saturated.summary()['error_samples']}")
    say(f"  {name} saturation ({sizes.clients} clients, closed loop): {saturated.per_second}/s, "
        f"p99 {saturated.summary()['latency']['p99_ms']} ms, errors {len(saturated.errors)}")
    rate = saturated.per_second / 2
    count = open_items(rate)
    offset = len(saturated.latencies) + len(saturated.errors)

    async def shifted(i: int) -> bool:  # decisions: the open loop takes the next filings of the pool
        return await send(offset + i if saturation_items else i)

    if between is not None:
        await between(saturated)
    open_meter = CpuMeter(dict(parts))
    with open_meter:
        offered = await open_loop(shifted, rate, count)
    summary = offered.summary()
    say(f"  {name} open loop at {rate:.1f}/s ({count} requests): p50/p95/p99 "
        f"{summary['latency']['p50_ms']} / {summary['latency']['p95_ms']} / {summary['latency']['p99_ms']} ms, "
        f"errors {len(offered.errors)}, send lag p99 {summary['send_lag']['p99_ms']} ms")
    return {"saturation": {**saturated.summary(), "cpu_seconds": meter.used},
            "offered_per_second": round(rate, 2), "open": {**summary, "cpu_seconds": open_meter.used,
                                                         "cpu_share": {k: round(v / offered.seconds, 2)
                                                                       for k, v in open_meter.used.items()}}}


def profile_top(service: ServiceHandle, limit: int = 25) -> list[str] | None:
    """The service's functions by own time (cProfile, main thread), as shares of its busy
    time: the event loop's wait in epoll is idle and left out."""
    if service.profile is None or not service.profile.exists():
        return None
    stats = pstats.Stats(str(service.profile)).stats  # type: ignore[attr-defined]
    busy = {fn: row for fn, row in stats.items() if "epoll" not in fn[2]}
    total = sum(row[2] for row in busy.values()) or 1.0
    rows = sorted(busy.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    return [f"{tt / total * 100:5.1f}% self {tt:7.2f}s cum {ct:7.2f}s  {fn[0].split('site-packages/')[-1]}:{fn[1]} {fn[2]}"
            for fn, (_cc, _nc, tt, ct, _callers) in rows]


async def run_service(lab: Lab, sizes: Sizes, say: Say, profile: bool = False) -> dict[str, Any]:
    say(f"service: starts over HTTP vs the client ({sizes.starts} per path per round, {sizes.repeat} round(s), "
        f"{sizes.clients} callers); status reads and platform decisions at saturation, then at half of it")
    async with lab.dev_server("service") as server:
        worker = await lab.engine_worker(server, "svc-engine")
        service = await lab.filing_service(server, worker, lab.workdir / "service.prof" if profile else None)
        client = await lab.client(server)
        parts = {"server": server.child, "worker": worker.child, "service": service.child}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(base_url=service.url, connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=60)) as session:
            callers = Callers(service, session)
            await callers.upload_examples()
            starts, pool = await compare_starts(server, service, callers, client, worker.task_queue,
                                                worker.child, sizes, say)
            rng = random.Random(7)
            reads = await measure("status read", lambda i: callers.read(rng.choice(pool)), sizes, parts, say,
                                  saturation_items=None, open_items=lambda rate: max(1, round(rate * sizes.read_seconds)))
            needed = 2 * sizes.decisions
            if len(pool) < needed:  # more filings waiting for the platform, started unmeasured
                extra = _applications(needed - len(pool))
                await closed_loop(lambda i: _started(client, extra[i], worker.task_queue), sizes.clients,
                                  items=len(extra))
                pool.extend(a.appid for a in extra)
                await settle(client, "PLATFORM_REVIEW", len(pool), worker.child, "the decisions' pool", 120 + len(extra))
            waiting = list(pool)
            rng.shuffle(waiting)

            def decide(i: int) -> Awaitable[bool]:
                return callers.approve(waiting[i])

            async def decided(saturated: Loop) -> None:  # every applied approval has reached SMS verification
                await settle(client, "SMS_VERIFICATION", len(saturated.latencies), worker.child, "after the decisions",
                             120)

            decisions = await measure("decision", decide, sizes, parts, say, saturation_items=sizes.decisions,
                                      open_items=lambda _rate: sizes.decisions, between=decided)
            answers = dict(sorted(callers.answers.items()))
        # Stopped here, before the worker: under cProfile by SIGINT, so that it writes its file (see procs).
        await asyncio.to_thread(lab.procs.stop, service.child, 15.0, signal.SIGINT if profile else signal.SIGTERM)
    out: dict[str, Any] = {"sizes": sizes.__dict__, "start": starts, "read": reads, "decision": decisions,
                           "http_answers": answers}
    if profile:
        out["service_profile"] = profile_top(service)
    return out


async def _started(client: Client, application: Any, task_queue: str) -> bool:
    return (await start_filing(client, application, task_queue=task_queue)).status == "started"
