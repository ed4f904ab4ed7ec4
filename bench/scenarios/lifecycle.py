"""(1) Lifecycle throughput and (3) stage latency, engine against the bare baseline;
and the payload codec's cost (engine with and without encryption), alternating in one run.

A batch is N filings started at once and driven through the happy path by the scripted
parties; its rate is N over the time from the first start to the last completion.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from bench.driver import TRANSITIONS, Run, run_many
from bench.lab import CpuMeter, Lab
from bench.procs import Child
from bench.server import Server
from bench.stats import latency_summary, spread

Say = Callable[[str], None]


@dataclass
class Side:
    """One contender: how to drive one filing, whom to ask for history lengths, whose CPU to count."""

    name: str
    drive: Callable[[], Awaitable[Run]]
    client: Client
    worker: Child


async def history_lengths(client: Client, runs: list[Run], concurrency: int = 20) -> list[int]:
    gate = asyncio.Semaphore(concurrency)

    async def one(run: Run) -> int:
        async with gate:
            description = await client.get_workflow_handle(run.workflow_id).describe()
            return int(description.raw_description.workflow_execution_info.history_length)

    return list(await asyncio.gather(*(one(r) for r in runs if r.error is None)))


async def measure_batch(side: Side, server: Server, n: int, timeout: float) -> dict[str, Any]:
    meter = CpuMeter({"server": server.child, "worker": side.worker})
    with meter:
        t0 = time.perf_counter()
        runs = await run_many(side.drive, n, timeout=timeout)
        ok = [r for r in runs if r.error is None]
        t1 = max((r.done_at for r in ok), default=time.perf_counter())
    elapsed = t1 - t0
    lengths = await history_lengths(side.client, ok)
    return {
        "side": side.name,
        "n": n,
        "completed": len(ok),
        "errors": sorted({r.error or "" for r in runs if r.error})[:5],
        "seconds": round(elapsed, 3),
        "per_second": round(len(ok) / elapsed, 3) if elapsed > 0 else None,
        "events_per_filing": statistics.median(lengths) if lengths else None,
        "events_per_second": round(sum(lengths) / elapsed, 1) if elapsed > 0 else None,
        "queries_per_filing": round(sum(r.queries for r in ok) / len(ok), 1) if ok else None,
        "cpu_seconds": meter.used,
        "cpu_ms_per_filing": {k: round(v / len(ok) * 1000, 1) for k, v in meter.used.items()} if ok else {},
        "latencies": {t: [r.latencies[t] for r in ok if t in r.latencies] for t in TRANSITIONS},
        "update_answer": [r.update_answer_s for r in ok if r.update_answer_s is not None],
    }


async def alternate(sides: list[Side], server: Server, n: int, repeat: int, warmup: int, timeout: float,
                    say: Say) -> dict[str, Any]:
    """Warm each side up, then `repeat` rounds, the order of the sides alternating per round."""
    for side in sides:
        await run_many(side.drive, warmup, timeout=timeout)
    batches: list[dict[str, Any]] = []
    for round_ in range(repeat):
        order = sides if round_ % 2 == 0 else list(reversed(sides))
        for side in order:
            await asyncio.sleep(1.0)  # let the previous batch's last writes settle
            batch = await measure_batch(side, server, n, timeout)
            batch["round"] = round_ + 1
            batches.append(batch)
            say(f"  round {round_ + 1} {side.name:>12}: {batch['completed']}/{n} in {batch['seconds']:.1f}s = "
                f"{batch['per_second']}/s, {batch['events_per_filing']} events/filing, cpu {batch['cpu_seconds']}")
    return summarise(sides, batches)


def summarise(sides: list[Side], batches: list[dict[str, Any]]) -> dict[str, Any]:
    names = [s.name for s in sides]
    out: dict[str, Any] = {"batches": [_slim(b) for b in batches], "sides": {}}
    for name in names:
        mine = [b for b in batches if b["side"] == name]
        latencies = {t: [v for b in mine for v in b["latencies"][t]] for t in TRANSITIONS}
        pooled = [v for vs in latencies.values() for v in vs]
        cpu = {k: statistics.median(b["cpu_ms_per_filing"].get(k, 0) for b in mine) for k in mine[0]["cpu_ms_per_filing"]}
        out["sides"][name] = {
            "per_second": spread([b["per_second"] for b in mine]),
            "events_per_filing": statistics.median(b["events_per_filing"] for b in mine if b["events_per_filing"]),
            "events_per_second": spread([b["events_per_second"] for b in mine]),
            "errors": sum(b["n"] - b["completed"] for b in mine),
            "cpu_ms_per_filing": cpu,
            "latency": {"all": latency_summary(pooled), **{t: latency_summary(v) for t, v in latencies.items()}},
            "update_answer": latency_summary([v for b in mine for v in b["update_answer"]]),
        }
    # The headline: first side's rate over the second's, per round (both measured in that round).
    a, b = names[0], names[1]
    ratios = []
    for round_ in sorted({x["round"] for x in batches}):
        ra = next((x["per_second"] for x in batches if x["round"] == round_ and x["side"] == a), None)
        rb = next((x["per_second"] for x in batches if x["round"] == round_ and x["side"] == b), None)
        if ra and rb:
            ratios.append(ra / rb)
    out["ratio"] = {"of": f"{a} / {b}", **spread(ratios)}
    return out


def _slim(batch: dict[str, Any]) -> dict[str, Any]:
    slim = {k: v for k, v in batch.items() if k not in ("latencies", "update_answer")}
    slim["latency_all"] = latency_summary([v for vs in batch["latencies"].values() for v in vs])
    return slim


async def run_lifecycle(lab: Lab, server: Server, engine: Side, bare: Side, n: int, repeat: int, warmup: int,
                        say: Say) -> dict[str, Any]:
    say(f"lifecycle: {n} filings at once per batch, engine vs bare, {repeat} round(s)")
    result = await alternate([engine, bare], server, n, repeat, warmup, timeout=max(300.0, n * 2.0), say=say)
    result["n"] = n
    result["repeat"] = repeat
    result["poll_cap_ms"] = lab.poll_cap * 1000
    return result


async def run_encryption(lab: Lab, server: Server, codec_on: Side, codec_off: Side, n: int, repeat: int,
                         warmup: int, say: Say) -> dict[str, Any]:
    say(f"encryption: {n} filings at once per batch, codec on vs off, {repeat} round(s)")
    result = await alternate([codec_on, codec_off], server, n, repeat, warmup, timeout=max(300.0, n * 2.0), say=say)
    result["n"] = n
    result["repeat"] = repeat
    result["codec_micro"] = codec_micro(lab)
    return result


def codec_micro(lab: Lab, rounds: int = 2000) -> dict[str, Any]:
    """In-process cost of the codec on the start payload (the largest one: the application)."""
    from datetime import UTC, datetime

    from engine.codec import EncryptionCodec
    from filing.examples import example_application
    from filing.messages import FilingInput
    from temporalio.contrib.pydantic import pydantic_data_converter

    start = FilingInput(application=example_application(datetime.now(UTC)), submission_id="sub-bench")
    payload = pydantic_data_converter.payload_converter.to_payloads([start])
    codec = EncryptionCodec(lab.keys.payload)

    async def go() -> tuple[float, float, int]:
        t = time.perf_counter()
        for _ in range(rounds):
            sealed = await codec.encode(payload)
        enc = (time.perf_counter() - t) / rounds
        t = time.perf_counter()
        for _ in range(rounds):
            await codec.decode(sealed)
        dec = (time.perf_counter() - t) / rounds
        return enc, dec, sealed[0].ByteSize()

    enc, dec, size = _run_sync(go)
    return {"payload_bytes": payload[0].ByteSize(), "sealed_bytes": size,
            "encode_us": round(enc * 1e6, 1), "decode_us": round(dec * 1e6, 1)}


def _run_sync(make: Callable[[], Any]) -> Any:
    """Run a coroutine to completion without an event loop switch (the codec never awaits)."""
    coro = make()
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the codec awaited something")
