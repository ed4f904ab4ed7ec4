"""The engine's worker in its own process, as operators run it, and the baseline's beside it.

`start_engine_worker` runs `python worker.py` with the environment of SPEC §10
(TEMPORAL_ADDRESS, FILINGS_TASK_QUEUE, FILINGS_DATA_DIR, FILINGS_KEYS_FILE, and free
ports for its metrics and health endpoints). With `codec=False` it runs this module
instead: worker.py's own `main`, with its client on the plain pydantic converter (no
payload encryption), for the encryption scenario.

    python -m bench.worker_proc --codec off      # environment as for worker.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import Child, Processes, free_port, prepare_data_dir

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class WorkerHandle:
    child: Child
    task_queue: str
    data_dir: Path
    codec: bool
    ready_marker: str = "worker_started"

    async def ready(self, timeout: float = 120.0) -> None:
        """Wait for the worker's start line in its log (its pollers are starting then)."""
        deadline = time.monotonic() + timeout
        while self.ready_marker not in self.child.tail(400):
            if not self.child.alive():
                raise RuntimeError(f"{self.child.name} exited {self.child.proc.returncode}: {self.child.tail(5)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.child.name} not started after {timeout:.0f}s: {self.child.tail(5)}")
            await asyncio.sleep(0.1)


def engine_env(address: str, task_queue: str, data_dir: Path, keys_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=address,
        TEMPORAL_NAMESPACE="default",
        FILINGS_TASK_QUEUE=task_queue,
        FILINGS_DATA_DIR=str(data_dir),
        FILINGS_KEYS_FILE=str(keys_file),
        FILINGS_LOG_FORMAT="json",  # as in production
        FILINGS_METRICS_PORT=str(free_port()),  # each worker its own (the default 9464 is shared)
        FILINGS_HEALTH_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def start_engine_worker(procs: Processes, address: str, task_queue: str, data_dir: Path, keys_file: Path,
                        *, codec: bool = True, extra_env: dict[str, str] | None = None) -> WorkerHandle:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = engine_env(address, task_queue, data_dir, keys_file, **(extra_env or {}))
    prepare_data_dir(data_dir, keys_file, env.get("FILINGS_REGISTRY_URL"))
    args = [sys.executable, "worker.py"] if codec else [sys.executable, "-m", "bench.worker_proc", "--codec", "off"]
    child = procs.start(f"engine-worker:{task_queue}", args, data_dir / "worker.log", env=env, cwd=ROOT)
    return WorkerHandle(child, task_queue, data_dir, codec)


def start_bare_worker(procs: Processes, address: str, task_queue: str, data_dir: Path,
                      sms_rate: float | None = None) -> WorkerHandle:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    args = [sys.executable, "-m", "bench.baseline", "--address", address, "--task-queue", task_queue,
            "--data-dir", str(data_dir)]
    if sms_rate is not None:
        args += ["--sms-rate", str(sms_rate)]
    child = procs.start(f"bare-worker:{task_queue}", args, data_dir / "worker.log", env=env, cwd=ROOT)
    return WorkerHandle(child, task_queue, data_dir, codec=False, ready_marker="bare worker on")


def main() -> None:
    """worker.py exactly (metrics, health, interceptors, logging, shutdown), but its client
    without the payload codec: `worker.connect` is swapped for a plain pydantic one."""
    parser = argparse.ArgumentParser(description="The engine's worker, with the payload codec switched off.")
    parser.add_argument("--codec", choices=["off"], required=True)
    parser.parse_args()

    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    import worker
    from engine import client as engine_client
    from engine.process import run_and_exit

    async def plain_connect(settings: Any, runtime: Any = None) -> Client:
        options = getattr(engine_client, "connect_options", lambda _: {})(settings)
        return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                    data_converter=pydantic_data_converter, runtime=runtime, **options)

    worker.connect = plain_connect  # type: ignore[attr-defined]
    run_and_exit(worker.main)


if __name__ == "__main__":
    main()
