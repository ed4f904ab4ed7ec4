"""The provincial desk under its reviewers (issue 21, item 4): the real filing service's
`GET /v1/filings?stage=PROVINCIAL_REVIEW` over every filing the waiting scenario parked,
read as a provincial reviewer of 冀 (the example applications are filed in 河北) reads it.

- **walk**: one reviewer pages through the whole desk once, following the `next` cursor the
  service answers, as `filings list --limit ALL` does: every page's latency, and a check
  that each filing appears exactly once (rows == `total` == distinct appids). The cursors
  it saw are the "later pages" of the load below.
- **refresh**: `reviewers` callers (4: issue 21) refresh at once for `seconds`, each in a
  closed loop (the next read when the last one answered), cycling over the three reads a
  reviewer makes: the first page, a later page (a cursor from the walk, chosen at random),
  and the first page with `overdue=true`. p50/p90/p99 per read and over all, requests/s,
  and the CPU each process spent per read.

The walk and the refresh run after parking, on a quiet engine: what they measure is the
list's own cost over that many open filings (the visibility store's counts and reads, the
service's paging in `engine.deadline_pages`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp

from bench.lab import CpuMeter, ServiceHandle
from bench.procs import Child
from bench.stats import latency_summary
from service.principal import Role
from service.tokens import issue_token

Say = Callable[[str], None]
STAGE = "PROVINCIAL_REVIEW"
PROVINCE = "冀"
FIRST, LATER, OVERDUE = "first page", "later page", "overdue first page"


def bearer(service: ServiceHandle, role: Role, sub: str, province: str | None = None) -> str:
    """A token of `role` signed with the service's key, as `filings login` mints one."""
    return issue_token(service.signing_key, issuer=service.issuer, audience=service.audience,  # type: ignore[arg-type]
                       sub=sub, role=role, province=province, ttl=timedelta(hours=8))


class DeskError(RuntimeError):
    """The service answered a desk read with something other than 200."""


@dataclass
class Desk:
    """One provincial reviewer's reads of their desk."""

    http: aiohttp.ClientSession
    token: str
    answers: Counter[int] = field(default_factory=Counter)

    async def page(self, cursor: str | None = None, overdue: bool = False) -> dict[str, Any]:
        params = {"stage": STAGE}
        if cursor is not None:
            params["cursor"] = cursor
        if overdue:
            params["overdue"] = "true"
        async with self.http.get("/v1/filings", params=params,
                                 headers={"Authorization": f"Bearer {self.token}"}) as answer:
            body = await answer.read()
            self.answers[answer.status] += 1
            if answer.status != 200:
                raise DeskError(f"GET /v1/filings answered {answer.status}: {body[:200]!r}")
            return json.loads(body)  # type: ignore[no-any-return]


async def walk(desk: Desk) -> dict[str, Any]:
    """The whole desk page by page; answers the figures and (under "cursors") every `next`."""
    latencies: list[float] = []
    cursors: list[str] = []
    appids: set[str] = set()
    rows, total, cursor = 0, None, None
    t0 = time.perf_counter()
    while True:
        sent = time.perf_counter()
        page = await desk.page(cursor)
        latencies.append(time.perf_counter() - sent)
        total = page["total"] if total is None else total
        rows += len(page["items"])
        appids.update(item["appid"] for item in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
        cursors.append(cursor)
    return {"pages": len(latencies), "rows": rows, "distinct": len(appids), "total": total,
            "each_once": rows == len(appids) == total, "seconds": round(time.perf_counter() - t0, 3),
            "page_latency": latency_summary(latencies), "cursors": cursors}


async def refresh(desk: Desk, cursors: list[str], reviewers: int, seconds: float,
                  parts: dict[str, Child]) -> dict[str, Any]:
    """`reviewers` closed loops for `seconds`, cycling first page / later page / overdue."""
    rng = random.Random(21)
    reads = {FIRST: lambda: desk.page(), OVERDUE: lambda: desk.page(overdue=True)}
    if cursors:  # a desk of one page has no later page
        reads[LATER] = lambda: desk.page(rng.choice(cursors))
    kinds = list(reads)
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    rows: dict[str, list[int]] = {kind: [] for kind in kinds}
    errors: Counter[str] = Counter()
    end = time.perf_counter() + seconds

    async def reviewer(offset: int) -> None:
        n = offset  # each reviewer starts on another read, so the three run side by side
        while time.perf_counter() < end:
            kind = kinds[n % len(kinds)]
            n += 1
            sent = time.perf_counter()
            try:
                page = await reads[kind]()
            except Exception as err:  # noqa: BLE001 - counted and sampled
                errors[f"{kind}: {type(err).__name__}: {err}"[:200]] += 1
                continue
            latencies[kind].append(time.perf_counter() - sent)
            rows[kind].append(len(page["items"]))

    meter = CpuMeter(dict(parts))
    t0 = time.perf_counter()
    with meter:
        await asyncio.gather(*(reviewer(i) for i in range(reviewers)))
    elapsed = time.perf_counter() - t0
    answered = sum(len(v) for v in latencies.values())
    return {
        "reviewers": reviewers, "seconds": round(elapsed, 3), "answered": answered,
        "requests_per_second": round(answered / elapsed, 2) if elapsed else None,
        "errors": sum(errors.values()), "error_samples": [e for e, _ in errors.most_common(5)],
        "all": latency_summary([x for v in latencies.values() for x in v]),
        "reads": {kind: {**latency_summary(latencies[kind]),
                         "per_second": round(len(latencies[kind]) / elapsed, 2) if elapsed else None,
                         "rows_per_page": round(sum(rows[kind]) / len(rows[kind]), 1) if rows[kind] else None}
                  for kind in kinds},
        "cpu_ms_per_read": {k: round(v / max(1, answered) * 1000, 2) for k, v in meter.used.items()},
    }


async def measure_desk(service: ServiceHandle, parts: dict[str, Child], reviewers: int, seconds: float,
                       say: Say) -> dict[str, Any]:
    """The walk, then the reviewers' refresh load, against `service`."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base_url=service.url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        desk = Desk(session, bearer(service, Role.PROVINCE_REVIEWER, f"{PROVINCE}-07", PROVINCE))
        await desk.page()  # the service's first list (imports, connections) is not measured
        walked = await walk(desk)
        cursors = walked.pop("cursors")
        say(f"  desk walk ({PROVINCE}, {STAGE}): {walked['rows']} filings of {walked['total']} in {walked['pages']} "
            f"pages, {walked['seconds']}s; page p50/p99 {walked['page_latency']['p50_ms']} / "
            f"{walked['page_latency']['p99_ms']} ms; each once: {walked['each_once']}")
        loaded = await refresh(desk, cursors, reviewers, seconds, parts)
        for kind, summary in loaded["reads"].items():
            say(f"  desk {kind}, {reviewers} reviewers for {seconds:.0f}s: p50/p90/p99 {summary['p50_ms']} / "
                f"{summary['p90_ms']} / {summary['p99_ms']} ms, {summary['per_second']}/s "
                f"({summary['rows_per_page']} rows a page)")
        every = loaded["all"]
        say(f"  desk, all reads: {loaded['requests_per_second']} requests/s, p50/p90/p99 {every['p50_ms']} / "
            f"{every['p90_ms']} / {every['p99_ms']} ms, errors {loaded['errors']}")
        return {"province": PROVINCE, "stage": STAGE, "walk": walked, "refresh": loaded,
                "http_answers": dict(sorted(desk.answers.items()))}
