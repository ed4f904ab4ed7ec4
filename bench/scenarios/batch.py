"""(6) Batch start: B filings from application files with the starter (`python starter.py
FILE...`, as an integrator runs it: every file read and checked against R1–R8, then
started with R9's id, memo and search attributes, through the codec), against B bare
`start_workflow` calls from one client, one after the other like the starter.

Both start on task queues no worker polls, so the rate is that of starting alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.driver import new_appid
from bench.lab import CpuMeter, Lab
from bench.procs import prepare_data_dir
from bench.server import Server
from bench.stats import spread
from bench.worker_proc import ROOT, engine_env
from filing.examples import example_application

Say = Callable[[str], None]
ARGV_BUDGET = 512 * 1024  # bytes of file names per starter invocation (well under ARG_MAX)


def starter_data(lab: Lab) -> Path:
    """The starter's data dir: its registry (R8) and material store (R10), as on an integrator's machine."""
    return lab.workdir / "starter-data"


def write_files(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    paths = []
    for _ in range(count):
        appid = new_appid()
        application = example_application(now, appid=appid, company=appid)
        path = directory / f"{application.appid}.json"
        path.write_text(json.dumps(application.model_dump(mode="json", exclude_none=True), ensure_ascii=False),
                        encoding="utf-8")
        paths.append(path)
    return paths


def chunks(paths: list[Path]) -> list[list[Path]]:
    out: list[list[Path]] = [[]]
    used = 0
    for path in paths:
        size = len(str(path)) + 1
        if out[-1] and used + size > ARGV_BUDGET:
            out.append([])
            used = 0
        out[-1].append(path)
        used += size
    return out


def run_starter(lab: Lab, server: Server, task_queue: str, paths: list[Path], timeout: float) -> dict[str, Any]:
    env = engine_env(server.address, task_queue, starter_data(lab), lab.keys_file)
    groups = chunks(paths)
    started = failed = 0
    children = os.times()  # the starter processes' own CPU (waited children), beside the server's
    t0 = time.perf_counter()
    for group in groups:
        done = subprocess.run([sys.executable, "starter.py", *map(str, group)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
        started += sum(1 for line in done.stdout.splitlines() if ": started filing-" in line)
        if done.returncode != 0:
            failed += len(group)
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"starter exited {done.returncode}: {' | '.join(tail)}")
    elapsed = time.perf_counter() - t0
    end = os.times()
    cpu = end.children_user + end.children_system - children.children_user - children.children_system
    return {"seconds": round(elapsed, 3), "started": started, "invocations": len(groups),
            "starter_cpu_ms_per_start": round(cpu / started * 1000, 2) if started else None,
            "per_second": round(started / elapsed, 1) if elapsed else None}


async def bare_starts(client: Client, task_queue: str, count: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    for _ in range(count):
        workflow_id = f"bare-{new_appid()}"
        await client.start_workflow("BareFiling", {"appid": workflow_id}, id=workflow_id, task_queue=task_queue)
    elapsed = time.perf_counter() - t0
    return {"seconds": round(elapsed, 3), "started": count, "per_second": round(count / elapsed, 1)}


async def starter_floor(lab: Lab, server: Server) -> float:
    """One starter process that starts nothing (`--example`): interpreter and imports."""
    env = engine_env(server.address, "unused", starter_data(lab), lab.keys_file)
    t0 = time.perf_counter()
    await asyncio.to_thread(subprocess.run, [sys.executable, "starter.py", "--example", os.devnull], cwd=ROOT,
                            env=env, capture_output=True, timeout=120)
    return round(time.perf_counter() - t0, 3)


async def run_batch(lab: Lab, size: int, repeat: int, say: Say) -> dict[str, Any]:
    say(f"batch: {size} filings from files with the starter vs {size} bare start_workflow calls, {repeat} round(s)")
    rounds: list[dict[str, Any]] = []
    async with lab.dev_server("batch") as server:
        client = await lab.bare_client(server)
        # What an integrator's machine has before its first batch: the registry's schema (the
        # starter checks R8 against it and refuses an old one) and the example's scans (R10).
        _ = lab.keys  # this run's keys file, created on first use
        await asyncio.to_thread(prepare_data_dir, starter_data(lab), lab.keys_file)
        floor = await starter_floor(lab, server)
        for round_ in range(repeat):
            paths = await asyncio.to_thread(write_files, lab.workdir / f"batch-files-{round_}", size)
            sides = ["starter", "bare"] if round_ % 2 == 0 else ["bare", "starter"]
            for side in sides:
                meter = CpuMeter({"server": server.child})
                with meter:
                    if side == "starter":
                        result = await asyncio.to_thread(run_starter, lab, server, "batch-engine-unpolled", paths,
                                                         max(300.0, size * 0.5))
                    else:
                        result = await bare_starts(client, "batch-bare-unpolled", size)
                result.update(side=side, round=round_ + 1, cpu_seconds=meter.used)
                rounds.append(result)
                say(f"  round {round_ + 1} {side:>8}: {result['started']} in {result['seconds']:.1f}s = "
                    f"{result['per_second']}/s")
        db_bytes = server.db_bytes()
    starter = spread([r["per_second"] for r in rounds if r["side"] == "starter"])
    bare = spread([r["per_second"] for r in rounds if r["side"] == "bare"])
    ratios = []
    for round_ in range(1, repeat + 1):
        s = next(r["per_second"] for r in rounds if r["round"] == round_ and r["side"] == "starter")
        b = next(r["per_second"] for r in rounds if r["round"] == round_ and r["side"] == "bare")
        ratios.append(s / b)
    return {"size": size, "repeat": repeat, "rounds": rounds, "starter_per_second": starter,
            "bare_per_second": bare, "ratio": {"of": "starter / bare", **spread(ratios)},
            "starter_process_floor_s": floor, "db_bytes_after": db_bytes}
