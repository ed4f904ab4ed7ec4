"""Health of a worker process: liveness and readiness, served over HTTP, and a command that asks.

Two questions, two routes (the Kubernetes probes' split):

- `GET /livez` — is the process alive? Answered by the process's own event loop (a loop
  that is blocked does not answer, and the probe's timeout counts that as a failure) from
  what is inside the process only: the loop's heartbeat is fresh and the worker's poll
  loops are running (or draining after SIGTERM). It never asks Temporal or the database,
  so an outage of either restarts no pod: restarting would not bring them back.
- `GET /readyz` — can it do its work now? Temporal answers its gRPC health call, the
  registry's database answers `SELECT 1`, the pollers run; 503 while stopping.
- `GET /healthz` — **deprecated** alias of `/readyz` (same answer and body), kept for
  the probes and scripts written before the split.

Each answers 200 or 503 with `{"status": "ok" | "failing" | "stopping", "checks": {name:
{"ok", "detail"}}}`. The server is Starlette on uvicorn, the service's own HTTP stack,
embedded in the worker's loop (`HealthServer.start`/`stop`). The command

    python -m engine.health [--live] [--url URL]     # exit 0 healthy, 1 not

asks the endpoint of the configuration it runs with; the compose healthcheck does not use it
(measured: 37 MB and 0.5 s of CPU per probe, as it loads the settings): it asks `/readyz`
with bash's /dev/tcp, 3 MB and no measurable CPU (docs/compose.md, "Operating it").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the probe command stays light: it never imports the SDK, SQLAlchemy or uvicorn
    import uvicorn
    from sqlalchemy import Engine
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from temporalio.client import Client
    from temporalio.worker import Worker

#: A check answers (passing, detail); an exception counts as failing with its message.
Check = Callable[[], Awaitable[tuple[bool, str]]]

CHECK_TIMEOUT = timedelta(seconds=3)
#: The routes and what they answer; `/healthz` is the deprecated name of readiness.
LIVENESS_PATH, READINESS_PATH, DEPRECATED_PATH = "/livez", "/readyz", "/healthz"


def temporal_check(client: Client) -> Check:
    async def check() -> tuple[bool, str]:
        ok = await client.service_client.check_health(timeout=CHECK_TIMEOUT)
        return ok, f"{client.service_client.config.target_host} {'serving' if ok else 'not serving'}"

    return check


def worker_check(worker: Worker, task_queue: str) -> Check:
    async def check() -> tuple[bool, str]:
        return worker.is_running, f"polling {task_queue}" if worker.is_running else "not polling"

    return check


def database_check(engine: Engine) -> Check:
    """`SELECT 1` on the registry's database, in a thread (the driver blocks); the detail
    names the error's type only, never the URL or its password."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    def select_one() -> tuple[bool, str]:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as err:
            cause = getattr(err, "orig", None) or err
            return False, f"unreachable ({type(cause).__name__})"
        return True, "reachable"

    async def check() -> tuple[bool, str]:
        return await asyncio.to_thread(select_one)

    return check


@dataclass
class LoopHeartbeat:
    """A task on the event loop that beats every `interval`: liveness fails when the last beat
    is older than `stale` (the beat task died, or the loop was blocked that long). It also
    reports the loop's lag (how late the last beat woke), the first sign of a starved loop."""

    interval: timedelta = timedelta(seconds=1)
    stale: timedelta = timedelta(seconds=10)
    last: float = field(default_factory=time.monotonic)
    lag: float = 0.0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.last = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _beat(self) -> None:
        step = self.interval.total_seconds()
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            self.lag, self.last = max(0.0, now - self.last - step), now

    async def check(self) -> tuple[bool, str]:
        age = time.monotonic() - self.last
        if self._task is None or self._task.done():
            return False, "heartbeat not running"
        ok = age <= self.stale.total_seconds()
        return ok, f"last beat {age:.1f} s ago, lag {self.lag * 1000:.0f} ms"


def pollers_alive(running: Callable[[], bool], stopping: Callable[[], bool]) -> Check:
    """Liveness of the poll loops: running, or draining after SIGTERM (not a reason to kill)."""

    async def check() -> tuple[bool, str]:
        if running():
            return True, "poll loops running"
        if stopping():
            return True, "draining (stopping)"
        return False, "poll loops not running"

    return check


class _Embedded:
    """uvicorn's server without its signal handlers: the worker handles SIGTERM itself
    (uvicorn's would replace the loop's handler and re-raise the signal at exit)."""

    @staticmethod
    def server(app: Starlette) -> uvicorn.Server:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        # Warnings only: its "Started/Finished server process" lines would read as the filing
        # service's in a worker's log (`make run` tells the service's stop from the worker's by them).
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=2)
        return Server(config)


@dataclass
class HealthServer:
    """`/livez`, `/readyz` and `/healthz` on `host:port` (0: off). `checks` are readiness's,
    `liveness` liveness's; `stopping` makes readiness answer 503 (liveness stays 200)."""

    host: str
    port: int
    checks: dict[str, Check] = field(default_factory=dict)
    liveness: dict[str, Check] = field(default_factory=dict)
    stopping: bool = False
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _socket: socket.socket | None = None

    async def report(self) -> tuple[bool, dict[str, object]]:
        """Readiness: every check passes and the process is not stopping."""
        healthy, results = await _run(self.checks)
        healthy = healthy and not self.stopping
        status = "stopping" if self.stopping else ("ok" if healthy else "failing")
        return healthy, {"status": status, "checks": results}

    async def live(self) -> tuple[bool, dict[str, object]]:
        """Liveness: only what is inside the process; answering at all is the loop's proof."""
        alive, results = await _run(self.liveness)
        return alive, {"status": "ok" if alive else "failing", "checks": results}

    def app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(routes=[Route(LIVENESS_PATH, self._answer_live), Route(READINESS_PATH, self._answer_ready),
                                 Route(DEPRECATED_PATH, self._answer_ready)])

    async def _answer_live(self, request: Request) -> JSONResponse:
        return _json(*await self.live())

    async def _answer_ready(self, request: Request) -> JSONResponse:
        return _json(*await self.report())

    async def start(self) -> None:
        """Listen (a busy port is an error naming FILINGS_HEALTH_PORT), then serve until `stop`."""
        if not self.port:
            return
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as err:
            sock.close()
            raise OSError(f"FILINGS_HEALTH_PORT: cannot listen on {self.host}:{self.port}: {err.strerror}") from err
        sock.setblocking(False)
        self._socket, self._server = sock, _Embedded.server(self.app())
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            if not self._task.done():
                self._task.cancel()
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = self._socket = None


async def _run(checks: dict[str, Check]) -> tuple[bool, dict[str, object]]:
    results: dict[str, object] = {}
    passing = True
    for name, check in checks.items():
        try:
            ok, detail = await asyncio.wait_for(check(), CHECK_TIMEOUT.total_seconds())
        except Exception as err:  # noqa: BLE001 - a failing check is an answer, not a crash
            ok, detail = False, f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        results[name] = {"ok": ok, "detail": detail}
        passing = passing and ok
    return passing, results


def _json(ok: bool, body: dict[str, object]) -> JSONResponse:
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=200 if ok else 503)


def probe(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask a health endpoint; answers (healthy, body or reason)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, response.read().decode()
    except urllib.error.HTTPError as err:
        return False, err.read().decode() or str(err)
    except (OSError, ValueError) as err:
        return False, f"{url}: {err}"


def health_url(host: str, port: int, path: str = READINESS_PATH) -> str:
    local = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{local}:{port}{path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 when the worker's health endpoint answers healthy, else 1.")
    parser.add_argument("--url", help="health endpoint (default: from FILINGS_HTTP_HOST and FILINGS_HEALTH_PORT)")
    parser.add_argument("--live", action="store_true", help=f"ask liveness ({LIVENESS_PATH}), not readiness")
    args = parser.parse_args(argv)
    url = args.url
    if url is None:
        from engine.settings import load_settings

        settings = load_settings()
        if not settings.health_port:
            print("FILINGS_HEALTH_PORT is 0: the health endpoint is off", file=sys.stderr)
            return 1
        url = health_url(settings.http_host, settings.health_port, LIVENESS_PATH if args.live else READINESS_PATH)
    healthy, body = probe(url)
    print(body)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
