"""The worker: runs `FilingWorkflow` and its activities on the configured task queue.

Configuration comes from the environment (see README); SIGINT/SIGTERM shut it down
gracefully, letting running activities finish within the grace period.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from engine.client import connect
from engine.logs import configure_logging
from engine.settings import Settings
from engine.wiring import WORKFLOWS, local_activities

log = structlog.get_logger("worker")

SHUTDOWN_GRACE = timedelta(seconds=20)


def build_worker(client: Client, settings: Settings, **overrides: object) -> Worker:
    options: dict[str, object] = {
        "task_queue": settings.task_queue,
        "workflows": WORKFLOWS,
        "activities": local_activities(settings),
        "graceful_shutdown_timeout": SHUTDOWN_GRACE,
    }
    options.update(overrides)
    return Worker(client, **options)  # type: ignore[arg-type]


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    client = await connect(settings)
    worker = build_worker(client, settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker_started", address=settings.temporal_address, namespace=settings.temporal_namespace,
             task_queue=settings.task_queue, data_dir=str(settings.data_dir))
    async with worker:
        await stop.wait()
        log.info("worker_stopping")
    log.info("worker_stopped")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
