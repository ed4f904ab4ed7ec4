"""(4) Waiting at scale: P filings parked in provincial review (driven there by the
scripted parties, at most `in_flight` at a time), then:

- the engine worker's RSS (VmRSS now, VmHWM peak, from /proc) and its growth per open filing;
- the server's database (SQLite file + WAL on disk, and its live pages) per open filing;
- the time of `filings list --stage PROVINCIAL_REVIEW --overdue` (the real CLI, as a
  subprocess) over them, of the same list without `--overdue` (every row, `--json`), and
  of the bare visibility calls it makes.

The same is done for P bare workflows parked at the same point, on the same server.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from bench.lab import Lab
from bench.server import Server
from bench.worker_proc import WorkerHandle, engine_env

Say = Callable[[str], None]


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


async def run_waiting(lab: Lab, parked: int, in_flight: int, repeat: int, say: Say) -> dict[str, Any]:
    say(f"waiting: {parked} filings parked in PROVINCIAL_REVIEW (at most {in_flight} moving at a time), "
        f"then {parked} bare ones")
    timeout = max(600.0, parked * 1.0)
    out: dict[str, Any] = {"parked": parked, "in_flight": in_flight}
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

        before = snapshot(server, engine_worker)
        out["engine_park"] = await park(say, "filings", lambda: engine.happy(stop_at="PROVINCIAL_REVIEW"), parked,
                                        in_flight, timeout)
        query = (f"WorkflowType = 'FilingWorkflow' AND TaskQueue = '{engine_worker.task_queue}' AND "
                 "FilingStage = 'PROVINCIAL_REVIEW' AND ExecutionStatus = 'Running'")
        out["visible"] = await quiet(client, query, out["engine_park"]["parked"], 120)
        await asyncio.sleep(3)  # last workflow tasks done; the worker's cache as it stays
        after = snapshot(server, engine_worker)
        out["engine"] = {"before": before, "after": after,
                         **per_open(before, after, out["engine_park"]["parked"])}
        say(f"  engine worker RSS {after['rss_kib'].get('VmRSS', 0) / 1024:.0f} MiB "
            f"(peak {after['rss_kib'].get('VmHWM', 0) / 1024:.0f} MiB); "
            f"db {_mib(after['db_file_bytes'])} on disk")
        out["list"] = await time_lists(lab, server, client, engine_worker, query, repeat, say)

        before = snapshot(server, bare_worker)
        out["bare_park"] = await park(say, "bare", lambda: bare.happy(stop_at="PROVINCIAL_REVIEW"), parked,
                                      in_flight, timeout)
        await asyncio.sleep(3)
        after = snapshot(server, bare_worker)
        out["bare"] = {"before": before, "after": after, **per_open(before, after, out["bare_park"]["parked"])}
        say(f"  bare worker RSS {after['rss_kib'].get('VmRSS', 0) / 1024:.0f} MiB; db {_mib(after['db_file_bytes'])}")
    return out


async def time_lists(lab: Lab, server: Server, client: Client, worker: WorkerHandle, query: str, repeat: int,
                     say: Say) -> dict[str, Any]:
    cli = filings_cli()
    out: dict[str, Any] = {"cli": str(cli) if cli else None}
    if cli is not None:
        env = engine_env(server.address, worker.task_queue, lab.workdir / "cli-data", lab.keys_file)
        common = ["--address", server.address, "--task-queue", worker.task_queue]
        for name, args in {
            "filings list --stage PROVINCIAL_REVIEW --overdue": ["list", "--stage", "PROVINCIAL_REVIEW", "--overdue"],
            "filings list --stage PROVINCIAL_REVIEW --json --limit ALL": [
                "list", "--stage", "PROVINCIAL_REVIEW", "--json", "--limit", str(max(1, 10 * 10**6))],
            "filings list --stage WITHDRAWN --overdue (empty: process floor)": [
                "list", "--stage", "WITHDRAWN", "--overdue"],
        }.items():
            out[name] = await asyncio.to_thread(time_command, [str(cli), *args, *common], env, repeat, 300)
            say(f"  {name}: {out[name]['median_s']}s (exit {out[name]['exit_codes']})")
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
