"""The worker: runs `FilingWorkflow` and its activities on the configured task queue.

Configuration comes from the environment (see README). It serves Prometheus metrics
(FILINGS_METRICS_PORT) and `/healthz` (FILINGS_HEALTH_PORT). SIGINT/SIGTERM stop polling
at once and let running activities finish for up to FILINGS_SHUTDOWN_GRACE before
they are cancelled; the process then exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from engine.client import connect
from engine.health import Check, HealthServer, health_url, temporal_check, worker_check
from engine.keys import MissingKey
from engine.log_context import FilingLogContext
from engine.logs import configure_logging
from engine.process import run_and_exit
from engine.settings import Settings, load_settings
from engine.telemetry import MetricsPortUnavailable, build_runtime
from engine.wiring import WORKFLOWS, local_activities

log = structlog.get_logger("worker")

#: How long past FILINGS_SHUTDOWN_GRACE the process waits for the SDK before it exits anyway.
SHUTDOWN_MARGIN = timedelta(seconds=5)


def build_worker(client: Client, settings: Settings, **overrides: object) -> Worker:
    options: dict[str, object] = {
        "task_queue": settings.task_queue,
        "workflows": WORKFLOWS,
        "activities": local_activities(settings),
        "interceptors": [FilingLogContext()],
        "graceful_shutdown_timeout": settings.shutdown_grace,
        "max_cached_workflows": settings.max_cached_workflows,
    }
    options.update(overrides)
    return Worker(client, **options)  # type: ignore[arg-type]


async def run_worker(
    settings: Settings, stop: asyncio.Event | None = None, checks: dict[str, Check] | None = None
) -> None:
    """Run until `stop` is set or a signal arrives. `checks` are added to the health endpoint."""
    runtime = build_runtime(settings)
    client = await connect(settings, runtime=runtime)
    worker = build_worker(client, settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    health = HealthServer(
        settings.http_host,
        settings.health_port,
        {"temporal": temporal_check(client), "worker": worker_check(worker, settings.task_queue), **(checks or {})},
    )
    await health.start()
    log.info("worker_started", address=settings.temporal_address, namespace=settings.temporal_namespace,
             task_queue=settings.task_queue, data_dir=str(settings.data_dir),
             metrics=f"http://{settings.http_host}:{settings.metrics_port}/metrics" if settings.metrics_port else "off",
             health=health_url(settings.http_host, settings.health_port) if settings.health_port else "off")
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # the worker failed on its own: raise its error
        health.stopping = True
        log.info("worker_stopping", grace_seconds=settings.shutdown_grace.total_seconds())
        await _shut_down(worker, settings.shutdown_grace + SHUTDOWN_MARGIN)
    finally:
        stopping.cancel()
        await health.stop()
    log.info("worker_stopped")


async def _shut_down(worker: Worker, bound: timedelta) -> None:
    """Stop polling, let running activities finish within the grace period, and return
    within `bound` whatever happens: a local activity cancelled at the end of the grace may
    be retried by the SDK inside its workflow task, which could hold the exit for minutes.
    What is abandoned is safe: the server hands the workflow task to another worker once it
    times out, and every effect is idempotent by key."""
    try:
        await asyncio.wait_for(asyncio.shield(worker.shutdown()), bound.total_seconds())
    except TimeoutError:
        log.warning("worker_shutdown_overran", bound_seconds=bound.total_seconds(),
                    detail="exiting with work in flight; the server re-dispatches it")


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(run_worker(settings))
    except (MissingKey, MetricsPortUnavailable, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # the SDK reports an unreachable server this way
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_and_exit(main)  # skips interpreter teardown, where the SDK's threads can abort the exit
