"""The worker: runs `FilingWorkflow` and its activities on the configured task queue.

Configuration comes from the environment (see README). It serves Prometheus metrics
(FILINGS_METRICS_PORT) and `/livez`, `/readyz` (FILINGS_HEALTH_PORT; engine/health.py). SIGINT/SIGTERM stop polling
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
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from engine.client import connect
from engine.datadir import DataDirError, ensure_private_dir
from engine.health import (Check, HealthServer, LoopHeartbeat, database_check, health_url, pollers_alive,
                           temporal_check, worker_check)
from engine.keys import MissingKey
from engine.log_context import FilingLogContext
from engine.logs import configure_logging
from engine.ports import Listen, PortsBusy, check_ports
from engine.process import run_and_exit, run_without_teardown
from engine.settings import Settings, load_settings
from registry.database import RegistryUnavailable, create_registry_engine
from registry.migrate import SchemaNotCurrent, require_current
from engine.telemetry import MetricsPortUnavailable, build_runtime
from engine.watchdog import Watchdog, liveness_of
from engine.wiring import WORKFLOWS, ActivitySets, activity_sets, sms_task_queue

log = structlog.get_logger("worker")


class WorkerUnhealthy(RuntimeError):
    """The watchdog stopped the worker: it stayed unhealthy (its supervisor restarts it)."""

#: How long past FILINGS_SHUTDOWN_GRACE the process waits for the SDK before it exits anyway.
SHUTDOWN_MARGIN = timedelta(seconds=5)


def deployment(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Versioning when a build id is configured: filings follow the deployment's
    current version (auto-upgrade), and `workflow.patched` keeps running filings
    replaying (README, "Changing the workflow"). A build gets no task until it is made
    current: `python -m engine.set_current_version`, compose's and Kubernetes' job."""
    if not settings.build_id:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=settings.deployment_name, build_id=settings.build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )


def build_workers(
    client: Client, settings: Settings, activities: ActivitySets | None = None, **overrides: object
) -> list[Worker]:
    """The filing worker (workflows, their activities) and the SMS gateway's worker, whose
    activities-per-second limit is the gateway's rate across the whole fleet."""
    sets = activities or activity_sets(settings)
    common: dict[str, object] = {
        "interceptors": [FilingLogContext()],
        "graceful_shutdown_timeout": settings.shutdown_grace,
        "deployment_config": deployment(settings),
    }
    main = Worker(client, **{  # type: ignore[arg-type]
        **common,
        "task_queue": settings.task_queue,
        "workflows": WORKFLOWS,
        "activities": sets.main,
        "max_cached_workflows": settings.max_cached_workflows,
        **overrides,
    })
    sms = Worker(client, **{  # type: ignore[arg-type]
        **common,
        "task_queue": sms_task_queue(settings.task_queue),
        "activities": sets.sms,
        "max_task_queue_activities_per_second": settings.sms_rate_per_second,
    })
    return [main, sms]


async def run_worker(
    settings: Settings, stop: asyncio.Event | None = None, checks: dict[str, Check] | None = None
) -> None:
    """Run until `stop` is set or a signal arrives. `checks` are added to the health endpoint."""
    runtime = build_runtime(settings)
    client = await connect(settings, runtime=runtime)
    workers = build_workers(client, settings)
    worker = workers[0]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    registry_engine = create_registry_engine(settings.registry_database_url)
    heartbeat = LoopHeartbeat()
    health = HealthServer(settings.http_host, settings.health_port, checks={
        "temporal": temporal_check(client), "registry": database_check(registry_engine),
        "worker": worker_check(worker, settings.task_queue),
        "sms_worker": worker_check(workers[1], sms_task_queue(settings.task_queue)), **(checks or {})})
    # Liveness: inside the process only (never Temporal or the database: a restart brings neither back).
    health.liveness = {"loop": heartbeat.check,
                       "pollers": pollers_alive(lambda: all(w.is_running for w in workers), lambda: health.stopping)}
    heartbeat.start()
    await health.start()
    watchdog = (
        Watchdog(liveness_of(health), stop, interval=settings.watchdog_interval, failures=settings.watchdog_failures)
        if settings.watchdog_failures and settings.health_port
        else None
    )
    watching = asyncio.create_task(watchdog.run()) if watchdog else None
    log.info("worker_started", address=settings.temporal_address, namespace=settings.temporal_namespace,
             task_queue=settings.task_queue, data_dir=str(settings.data_dir),
             metrics=f"http://{settings.http_host}:{settings.metrics_port}/metrics" if settings.metrics_port else "off",
             health=health_url(settings.http_host, settings.health_port) if settings.health_port else "off")
    running = asyncio.create_task(_run_all(workers))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # the worker failed on its own: raise its error
        health.stopping = True
        log.info("worker_stopping", grace_seconds=settings.shutdown_grace.total_seconds())
        await asyncio.gather(*(_shut_down(w, settings.shutdown_grace + SHUTDOWN_MARGIN) for w in workers))
    finally:
        stopping.cancel()
        if watching:
            watching.cancel()
        await health.stop()
        await heartbeat.stop()
        registry_engine.dispose()
    log.info("worker_stopped")
    if watchdog and watchdog.tripped:
        raise WorkerUnhealthy(f"stopped after {settings.watchdog_failures} failed liveness checks: {watchdog.reason}")


async def _run_all(workers: list[Worker]) -> None:
    """Run the workers together; when one fails, the others stop and its error is raised."""
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()


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
        ensure_private_dir(settings.data_dir)  # owner-only before any adapter writes into it
        check_ports([Listen("FILINGS_METRICS_PORT", settings.http_host, settings.metrics_port),
                     Listen("FILINGS_HEALTH_PORT", settings.http_host, settings.health_port)])
        require_current(settings.registry_database_url)  # SPEC §11: checked at start, migrated by a command
        run_without_teardown(run_worker(settings))
    except PortsBusy as err:
        for line in err.problems:
            print(f"error: {line}", file=sys.stderr)
        return 1
    except (MissingKey, MetricsPortUnavailable, OSError, DataDirError, SchemaNotCurrent, RegistryUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # the SDK reports an unreachable server this way
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_and_exit(main)  # skips interpreter teardown, where the SDK's threads can abort the exit
