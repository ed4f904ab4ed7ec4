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


def child_env() -> dict[str, str]:
    """The harness's environment for a worker or service it starts: without the engine's and
    Temporal's settings (each run sets its own), and without PYTHONDONTWRITEBYTECODE.

    Bytecode matters to a worker: the workflow sandbox imports the workflow's modules afresh
    for every workflow instance it creates (a first task, and every task of a filing no
    longer in the cache), and without a `.pyc` each of those imports compiles the source
    again. A deployment has the bytecode (the image's `pip install` compiles it; a checkout
    writes `__pycache__` on the first import). A harness run from a shell with
    PYTHONDONTWRITEBYTECODE=1 (as this machine's sessions set it) on a checkout without
    `__pycache__` compiled `workflows/filing.py` on every replay: 30 % of the engine
    worker's samples in the 2 000-filing storm (py-spy), more than the bare worker's
    smaller module cost it. Both workers get the same environment."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("FILINGS_", "TEMPORAL_")) and k != "PYTHONDONTWRITEBYTECODE"}


def engine_env(address: str, task_queue: str, data_dir: Path, keys_file: Path, **extra: str) -> dict[str, str]:
    env = child_env()
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
                      sms_rate: float | None = None, max_cached_workflows: int | None = None) -> WorkerHandle:
    """The baseline's worker, with the engine worker's settings where both have one: the SMS
    rate and the workflow cache (`max_cached_workflows`: default, the engine's default)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = child_env()
    env["PYTHONUNBUFFERED"] = "1"
    args = [sys.executable, "-m", "bench.baseline", "--address", address, "--task-queue", task_queue,
            "--data-dir", str(data_dir)]
    if sms_rate is not None:
        args += ["--sms-rate", str(sms_rate)]
    if max_cached_workflows is None:
        from engine.settings import Settings
        max_cached_workflows = Settings.model_fields["max_cached_workflows"].default
    args += ["--max-cached-workflows", str(max_cached_workflows)]
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
