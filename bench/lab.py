"""What one run owns: a temporary directory, its child processes, the keys, the clients.

Each scenario group gets a fresh server (so that database sizes and rates are its own);
on that server the engine's worker and the baseline's worker run side by side, each in
its own process, and the harness drives both.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.driver import BareDriver, EngineDriver, Outbox, Poller
from bench.procs import Child, Processes, own_cpu_seconds, wait_for_healthz
from bench.server import Server, start_dev_server, start_time_skipping_server
from bench.worker_proc import (
    ROOT,
    WorkerHandle,
    engine_env,
    start_bare_worker,
    start_engine_worker,
)
from engine.codec import data_converter
from engine.keys import KeysFile, ensure_local_keys


@dataclass
class Lab:
    workdir: Path
    keep: bool = False
    in_memory: bool = False
    poll_cap: float = 0.05
    #: Environment for every engine worker (e.g. FILINGS_LOG_LEVEL).
    worker_env: dict[str, str] = field(default_factory=dict)
    #: Activities per second on the SMS task queue, engine and baseline alike (None: the
    #: engine's default, FILINGS_SMS_RATE_PER_SECOND).
    sms_rate: float | None = None
    procs: Processes = field(default_factory=Processes)
    _keys: KeysFile | None = None

    @classmethod
    def create(cls, keep: bool, in_memory: bool, poll_cap: float) -> Lab:
        return cls(Path(tempfile.mkdtemp(prefix="icp-bench-")), keep=keep, in_memory=in_memory, poll_cap=poll_cap)

    @property
    def keys_file(self) -> Path:
        return self.workdir / "keys.json"

    @property
    def keys(self) -> KeysFile:
        if self._keys is None:
            self._keys = ensure_local_keys(self.keys_file)  # this run's own keys, 0600
        return self._keys

    def poller(self, timeout: float = 300.0) -> Poller:
        return Poller(poll_cap=self.poll_cap, timeout=timeout)

    async def client(self, server: Server, codec: bool = True) -> Client:
        converter = data_converter(self.keys.payload) if codec else pydantic_data_converter
        return await Client.connect(server.address, data_converter=converter)

    @staticmethod
    async def bare_client(server: Server) -> Client:
        return await Client.connect(server.address)

    @contextlib.asynccontextmanager
    async def dev_server(self, name: str) -> AsyncIterator[Server]:
        server = await asyncio.to_thread(start_dev_server, self.procs, self.workdir, name, in_memory=self.in_memory)
        try:
            yield server
        finally:
            await asyncio.to_thread(self.stop_all_on, server)

    @contextlib.asynccontextmanager
    async def time_skipping_server(self, name: str) -> AsyncIterator[Server]:
        server = await asyncio.to_thread(start_time_skipping_server, self.procs, self.workdir, name)
        try:
            yield server
        finally:
            await asyncio.to_thread(self.stop_all_on, server)

    def stop_all_on(self, server: Server) -> None:
        """What talks to a server first (the last started first: a service before its
        worker), then the server."""
        for child in reversed(list(self.procs.children)):
            if child is not server.child:
                self.procs.stop(child)
        self.procs.stop(server.child)

    async def engine_worker(self, server: Server, task_queue: str, codec: bool = True,
                            extra_env: dict[str, str] | None = None) -> WorkerHandle:
        _ = self.keys
        rate = {"FILINGS_SMS_RATE_PER_SECOND": str(self.sms_rate)} if self.sms_rate is not None else {}
        worker = start_engine_worker(self.procs, server.address, task_queue, self.workdir / task_queue, self.keys_file,
                                     codec=codec, extra_env={**self.worker_env, **rate, **(extra_env or {})})
        await worker.ready()
        return worker

    async def bare_worker(self, server: Server, task_queue: str) -> WorkerHandle:
        worker = start_bare_worker(self.procs, server.address, task_queue, self.workdir / task_queue, self.sms_rate)
        await worker.ready()
        return worker

    async def filing_service(self, server: Server, worker: WorkerHandle, profile: Path | None = None) -> ServiceHandle:
        """`python -m service` beside `worker`, as `make run` places it: the same data dir (its
        registry, material store and the service's signing key), keys and task queue."""
        from engine.settings import ApiSettings
        from service.tokens import ensure_local_signing_key

        api = ApiSettings()
        signing_key = ensure_local_signing_key(api.signing_key_path(worker.data_dir))
        env = engine_env(server.address, worker.task_queue, worker.data_dir, self.keys_file,
                         **{**self.worker_env, "FILINGS_LOG_LEVEL": "INFO"})
        child, url = self.procs.start_filing_service(f"service:{worker.task_queue}", env,
                                                     worker.data_dir / "service.log", ROOT, profile)
        try:
            await wait_for_healthz(url, child)
        except BaseException:
            self.procs.stop(child)
            raise
        return ServiceHandle(child, url, signing_key, api.issuer, api.audience, profile)

    def engine_driver(self, client: Client, worker: WorkerHandle, timeout: float = 300.0) -> EngineDriver:
        return EngineDriver(client, worker.task_queue, Outbox(worker.data_dir), self.poller(timeout))

    def bare_driver(self, client: Client, worker: WorkerHandle, timeout: float = 300.0) -> BareDriver:
        return BareDriver(client, worker.task_queue, self.poller(timeout))

    def cleanup(self) -> None:
        self.procs.stop_all()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class ServiceHandle:
    """The filing service a run started, and what callers need to mint tokens for it."""

    child: Child
    url: str
    signing_key: object  # Ed25519PrivateKey
    issuer: str
    audience: str
    profile: Path | None = None


@dataclass
class CpuMeter:
    """CPU seconds used by the server, the worker(s) and the harness over an interval."""

    parts: dict[str, object]
    start: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def _read(self) -> dict[str, float]:
        out = {"harness": own_cpu_seconds()}
        for name, child in self.parts.items():
            out[name] = child.cpu_seconds()  # type: ignore[attr-defined]
        return out

    def __enter__(self) -> CpuMeter:
        self.start = self._read()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._read()
        self.wall = time.perf_counter() - self.wall
        self.used = {k: round(end[k] - self.start[k], 2) for k in end}
