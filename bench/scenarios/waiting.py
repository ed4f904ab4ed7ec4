"""(4) Waiting at scale (issue 21, item 4): P filings parked in provincial review, each
driven there through the real lifecycle by the scripted parties (at most `in_flight` at a
time), then:

- the engine worker's RSS (VmRSS now, VmHWM peak, from /proc) and the server's database
  (SQLite file + WAL on disk, and its live pages), read at checkpoints while parking (every
  `checkpoint` parked, and at the end), so one run gives RSS at 5 000 and at 20 000; the
  growth per open filing from before parking to the end;
- the provincial desk through the real filing service (`python -m service`, started on the
  worker's data dir once parking is done): the whole queue walked page by page, then 4
  reviewers refreshing the first page, a later page and the overdue page at once
  (`bench.scenarios.queues`);
- the real `filings list --stage PROVINCIAL_REVIEW --overdue` (the CLI as a subprocess, with
  a provincial reviewer's token against that service), the same list as `--json` with every
  row, and an empty list as the process floor; the bare visibility calls the service makes.

Then the same for bare workflows parked at the same point, on the same server (at most
`BARE_CAP` of them unless asked: the floor's slope is clear long before).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sysconfig
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.driver import Run, run_many
from bench.lab import Lab, ServiceHandle
from bench.scenarios.queues import PROVINCE, bearer, measure_desk
from bench.server import Server
from bench.worker_proc import WorkerHandle
from service.principal import Role

Say = Callable[[str], None]
#: Bare workflows parked at most, unless `--bare-parked` says otherwise (issue 21: the bare
#: side may stop at 5 000).
BARE_CAP = 5000


def live_db_bytes(server: Server) -> int | None:
    """Pages in use (page_count - freelist) x page size, read-only beside the running server."""
    if server.db_path is None or not server.db_path.exists():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def snapshot(server: Server, worker: WorkerHandle) -> dict[str, Any]:
    return {"rss_kib": worker.child.rss_kib(), "db_file_bytes": server.db_bytes(), "db_live_bytes": live_db_bytes(server)}


async def quiet(client: Client, query: str, want: int, timeout: float) -> int:
    """Wait until visibility counts `want` (it is eventually consistent)."""
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        count = (await client.count_workflows(query)).count
        if count >= want:
            return count
        await asyncio.sleep(0.5)
    return count


def filings_cli() -> Path | None:
    path = Path(sysconfig.get_path("scripts")) / "filings"
    return path if path.is_file() else None


def time_command(args: list[str], env: dict[str, str], repeat: int, timeout: float) -> dict[str, Any]:
    times, codes, first = [], [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
        times.append(time.perf_counter() - t0)
        codes.append(done.returncode)
        first = first or (done.stdout.strip().splitlines() or [""])[0][:200] or done.stderr.strip()[-200:]
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "exit_codes": sorted(set(codes)), "first_line": first}


async def time_visibility(client: Client, query: str, repeat: int) -> dict[str, Any]:
    lists, counts, rows = [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = len([w async for w in client.list_workflows(query)])
        lists.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await client.count_workflows(query)
        counts.append(time.perf_counter() - t0)
    return {"rows": rows, "list_all_median_s": round(statistics.median(lists), 3),
            "count_median_s": round(statistics.median(counts), 3)}


async def park(say: Say, name: str, drive: Callable[[], Awaitable[Run]], count: int, in_flight: int,
               timeout: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    runs = await run_many(drive, count, in_flight=in_flight, timeout=timeout)
    elapsed = time.perf_counter() - t0
    errors = [r.error for r in runs if r.error]
    say(f"  parked {count - len(errors)} {name} in {elapsed:.1f}s ({(count - len(errors)) / elapsed:.1f}/s)"
        + (f", {len(errors)} failed: {errors[0]}" if errors else ""))
    return {"parked": count - len(errors), "seconds": round(elapsed, 1),
            "per_second": round((count - len(errors)) / elapsed, 2), "errors": sorted(set(errors))[:5]}


def per_open(before: dict[str, Any], after: dict[str, Any], count: int) -> dict[str, Any]:
    def delta(get: Callable[[dict[str, Any]], int | None]) -> float | None:
        a, b = get(after), get(before)
        return None if a is None or b is None or not count else round((a - b) / count, 1)

    return {
        "worker_rss_bytes_per_open": delta(lambda s: s["rss_kib"].get("VmRSS", 0) * 1024),
        "db_file_bytes_per_open": delta(lambda s: s["db_file_bytes"]),
        "db_live_bytes_per_open": delta(lambda s: s["db_live_bytes"]),
    }


def checkpoints(parked: int, every: int) -> list[int]:
    """Parked counts at which the worker's RSS and the database are read: every `every`, and the end."""
    marks = list(range(every, parked, every)) if every > 0 else []
    return [*marks, parked]


async def park_in_steps(say: Say, drive: Callable[[], Awaitable[Run]], marks: list[int], in_flight: int,
                        timeout: float, reached: Callable[[int], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Park up to each mark in turn (a filing that failed to park is not retried); at each
    mark, `reached(parked so far)` takes a reading."""
    wanted = parked = 0
    seconds, errors, readings = 0.0, [], []
    for mark in marks:
        step = await park(say, "filings", drive, mark - wanted, in_flight, timeout)
        wanted, parked = mark, parked + step["parked"]
        seconds += step["seconds"]
        errors += step["errors"]
        readings.append(await reached(parked))
    return {"parked": parked, "seconds": round(seconds, 1),
            "per_second": round(parked / seconds, 2) if seconds else None,
            "errors": sorted(set(errors))[:5], "checkpoints": readings}


def rss_ratios(readings: list[dict[str, Any]]) -> dict[str, float]:
    """The final worker RSS over the RSS at each earlier checkpoint (issue 21: at 20 000 within
    10 % of 5 000 -> the ratio to the 5 000 checkpoint at most 1.10)."""
    final = readings[-1]["rss_kib"].get("VmRSS") if readings else None
    out = {}
    for reading in readings[:-1]:
        rss = reading["rss_kib"].get("VmRSS")
        if final and rss:
            out[str(reading["parked"])] = round(final / rss, 3)
    return out


async def run_waiting(lab: Lab, parked: int, in_flight: int, repeat: int, say: Say, *, bare_parked: int | None = None,
                      checkpoint: int = 5000, reviewers: int = 4, queue_seconds: float = 10.0) -> dict[str, Any]:
    bare_parked = min(parked, BARE_CAP) if bare_parked is None else bare_parked
    say(f"waiting: {parked} filings parked in PROVINCIAL_REVIEW (at most {in_flight} moving at a time; readings at "
        f"{checkpoints(parked, checkpoint)}), the provincial desk read by {reviewers} reviewers for "
        f"{queue_seconds:.0f}s, then {bare_parked} bare ones")
    timeout = max(600.0, parked * 1.0)
    out: dict[str, Any] = {"parked": parked, "bare_parked": bare_parked, "in_flight": in_flight,
                           "checkpoint_every": checkpoint}
    async with lab.dev_server("waiting") as server:
        engine_worker = await lab.engine_worker(server, "waiting-engine")
        bare_worker = await lab.bare_worker(server, "waiting-bare")
        client = await lab.client(server)
        bare_client = await lab.bare_client(server)
        engine = lab.engine_driver(client, engine_worker, timeout=timeout)
        bare = lab.bare_driver(bare_client, bare_worker, timeout=timeout)
        await run_many(engine.happy, 5)  # warm the worker up (imports, caches) before the baseline reading
        await run_many(bare.happy, 5)
        await asyncio.sleep(2)

        query = (f"WorkflowType = 'FilingWorkflow' AND TaskQueue = '{engine_worker.task_queue}' AND "
                 "FilingStage = 'PROVINCIAL_REVIEW' AND ExecutionStatus = 'Running'")
        before = snapshot(server, engine_worker)

        async def reached(count: int) -> dict[str, Any]:
            visible = await quiet(client, query, count, 120)
            await asyncio.sleep(3)  # last workflow tasks done; the worker's cache as it stays
            reading = {"parked": count, "visible": visible, **snapshot(server, engine_worker)}
            say(f"  at {count} parked: worker RSS {reading['rss_kib'].get('VmRSS', 0) / 1024:.0f} MiB, "
                f"db {_mib(reading['db_file_bytes'])}")
            return reading

        out["engine_park"] = await park_in_steps(say, lambda: engine.happy(stop_at="PROVINCIAL_REVIEW"),
                                                 checkpoints(parked, checkpoint), in_flight, timeout, reached)
        last = out["engine_park"]["checkpoints"][-1]
        out["visible"] = last["visible"]
        after = {k: last[k] for k in ("rss_kib", "db_file_bytes", "db_live_bytes")}
        out["engine"] = {"before": before, "after": after, "rss_final_over_checkpoint": rss_ratios(
            out["engine_park"]["checkpoints"]), **per_open(before, after, out["engine_park"]["parked"])}
        say(f"  engine worker RSS {after['rss_kib'].get('VmRSS', 0) / 1024:.0f} MiB "
            f"(peak {after['rss_kib'].get('VmHWM', 0) / 1024:.0f} MiB); "
            f"db {_mib(after['db_file_bytes'])} on disk; final RSS over earlier readings "
            f"{out['engine']['rss_final_over_checkpoint']}")

        service = await lab.filing_service(server, engine_worker)
        try:
            parts = {"server": server.child, "worker": engine_worker.child, "service": service.child}
            out["desk"] = await measure_desk(service, parts, reviewers, queue_seconds, say)
            out["list"] = await time_lists(lab, service, client, query, repeat, say)
        finally:  # not beside the bare parking: its CPU is not theirs
            await asyncio.to_thread(lab.procs.stop, service.child)

        before = snapshot(server, bare_worker)
        out["bare_park"] = await park(say, "bare", lambda: bare.happy(stop_at="PROVINCIAL_REVIEW"), bare_parked,
                                      in_flight, timeout)
        await asyncio.sleep(3)
        after = snapshot(server, bare_worker)
        out["bare"] = {"before": before, "after": after, **per_open(before, after, out["bare_park"]["parked"])}
        say(f"  bare worker RSS {after['rss_kib'].get('VmRSS', 0) / 1024:.0f} MiB; db {_mib(after['db_file_bytes'])}")
    return out


async def time_lists(lab: Lab, service: ServiceHandle, client: Client, query: str, repeat: int,
                     say: Say) -> dict[str, Any]:
    """The `filings` CLI as a reviewer runs it, against the service; the visibility calls beside."""
    cli = filings_cli()
    out: dict[str, Any] = {"cli": str(cli) if cli else None}
    if cli is not None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
        config = lab.workdir / "cli-config"  # no token saved by anyone else is read
        base.update(FILINGS_API_URL=service.url, XDG_CONFIG_HOME=str(config), HOME=str(config))
        reviewer = {**base, "FILINGS_TOKEN": bearer(service, Role.PROVINCE_REVIEWER, f"{PROVINCE}-07", PROVINCE)}
        operator = {**base, "FILINGS_TOKEN": bearer(service, Role.OPERATOR, "bench-operator")}
        for name, args, env in (
            ("filings list --stage PROVINCIAL_REVIEW --overdue", ["list", "--stage", "PROVINCIAL_REVIEW", "--overdue"],
             reviewer),
            ("filings list --stage PROVINCIAL_REVIEW --json --limit ALL",
             ["list", "--stage", "PROVINCIAL_REVIEW", "--json", "--limit", str(10 * 10**6)], reviewer),
            ("filings list --stage WITHDRAWN --overdue (empty: process floor)",
             ["list", "--stage", "WITHDRAWN", "--overdue"], operator),
        ):
            out[name] = await asyncio.to_thread(time_command, [str(cli), *args], env, repeat, 600)
            failed = out[name]["exit_codes"] != [0]  # a timing of an error exit is no timing: said loudly
            say(f"  {name}: {out[name]['median_s']}s (exit {out[name]['exit_codes']})"
                + (f" FAILED: {out[name]['first_line']}" if failed else ""))
    else:
        say("  the `filings` CLI is not installed: timing the equivalent visibility query only")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    overdue = f"{query} AND (SlaBreached = true OR StageDeadline < '{now}')"
    out["visibility overdue query"] = await time_visibility(client, overdue, repeat)
    out["visibility stage query"] = await time_visibility(client, query, repeat)
    say(f"  visibility: overdue {out['visibility overdue query']}, all {out['visibility stage query']}")
    return out


def _mib(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:.1f} MiB"
