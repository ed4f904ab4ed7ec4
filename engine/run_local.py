"""`make run`: the embedded default. A local Temporal dev server (SQLite under the data
dir, Web UI on 127.0.0.1:8233, the §7 search attributes registered), a worker and the
filing service (SPEC §12, `python -m service` on 127.0.0.1:8400), in the foreground;
Ctrl-C stops them all. Stopping and running again continues the same filings.

The dev server listens where TEMPORAL_ADDRESS points and serves its Web UI on the port
of FILINGS_WEB_UI, so the links the starter prints are right by construction. The dev
server and the service run in sessions of their own (a terminal's Ctrl-C reaches this
process only, which stops the service first so that no request lands on a stopping
engine, then the worker, letting activities finish, then the server) and, on Linux,
are told to stop if this process dies, so no orphan keeps a port. Either one dying
stops `make run` with an error.

Every port it will listen on is checked before anything starts (one line per busy port,
naming its variable, exit status 1), the data dir is made owner-only first thing, and the
embedded registry is migrated before any process that reads it starts (workers and the
service only check the schema: migrating is the operator's step, which `make run` takes
for the local one).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from alembic.util.exc import CommandError

from engine.binaries import MissingBinary, temporal_cli
from engine.codec_server import build_app, serve
from engine.datadir import ensure_private_database, ensure_private_dir
from engine.health import health_url, probe
from engine.keys import MissingKey, ensure_local_codec_token, ensure_local_keys
from engine.logs import configure_logging
from engine.ports import Listen, PortsBusy, check_ports
from engine.process import run_and_exit, run_without_teardown
from engine.settings import Settings, load_settings
from engine.telemetry import MetricsPortUnavailable
from registry.database import RegistryUnavailable
from registry.migrate import upgrade
from service.tokens import ensure_local_signing_key
from worker import run_worker
from workflows import search_attributes as sa

log = structlog.get_logger("run_local")

_SA_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime", "INT": "Int"}
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::1")
CODEC_TOKEN_FILE = "codec-token"
#: The local Web UI calls the codec server from the operator's browser, on this machine.
CODEC_HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
#: How long the filing service may take to answer its /healthz after it was started.
SERVICE_START_TIMEOUT = 60.0
#: How long a stopping child (the service, the dev server) may take before it is killed.
STOP_TIMEOUT = 15.0


class LocalServerError(RuntimeError):
    pass


def dev_server_args(settings: Settings, host: str, port: int, ui_port: int, codec_endpoint: str | None = None) -> list[str]:
    args = [str(temporal_cli()), "server", "start-dev", "--ip", host, "--port", str(port),
            "--ui-port", str(ui_port), "--db-filename", str(settings.data_dir / "temporal.db"),
            "--namespace", settings.temporal_namespace, "--log-level", "error"]
    if codec_endpoint:
        args += ["--ui-codec-endpoint", codec_endpoint]
    for key in sa.ALL:
        args += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
    return args


def ui_codec_endpoint(settings: Settings) -> str:
    """The codec endpoint the local Web UI is given: no token in it (anyone may read it).
    FILINGS_CODEC_URL, by default the local codec server's own address."""
    return settings.codec_url


def local_address(settings: Settings) -> tuple[str, int]:
    """Where the dev server listens: TEMPORAL_ADDRESS, which must be this machine."""
    host, _, port = settings.temporal_address.rpartition(":")
    if host not in _LOCAL_HOSTS or not port.isdigit():
        raise LocalServerError(f"TEMPORAL_ADDRESS={settings.temporal_address}: `make run` starts a local server, "
                               "give a local address such as 127.0.0.1:7233 (or run `python worker.py` against yours)")
    return host, int(port)


def listens(settings: Settings, host: str, port: int) -> list[Listen]:
    """Every port `make run` listens on, by the variable that sets it, in the order it starts them."""
    return [
        Listen("TEMPORAL_ADDRESS", host, port),
        Listen("FILINGS_WEB_UI", host, settings.web_ui_port),
        Listen("FILINGS_CODEC_PORT", CODEC_HOST, settings.codec_port),
        Listen("FILINGS_METRICS_PORT", settings.http_host, settings.metrics_port),
        Listen("FILINGS_HEALTH_PORT", settings.http_host, settings.health_port),
        Listen("FILINGS_API__PORT", settings.api.host, settings.api.port),  # the filing service
    ]


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM it when this process dies (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def start_dev_server(settings: Settings, host: str, port: int, codec_endpoint: str | None = None) -> subprocess.Popen[bytes]:
    # Owner-only like the rest of the data dir: an existing one tightened, a new one made 0600
    # by the server under umask 077 (it sets up only a database it does not find).
    ensure_private_database(settings.data_dir / "temporal.db", create=False)
    return subprocess.Popen(
        dev_server_args(settings, host, port, settings.web_ui_port, codec_endpoint),
        start_new_session=True,
        preexec_fn=_stop_with_parent if sys.platform.startswith("linux") else None,
        umask=0o077,
    )


async def wait_for_port(host: str, port: int, timeout: float = 30.0, server: subprocess.Popen[bytes] | None = None) -> None:
    async def probe() -> None:
        while True:
            if server is not None and server.poll() is not None:
                raise LocalServerError(f"the dev server exited with status {server.returncode} while starting")
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(probe(), timeout)
    except TimeoutError:
        raise LocalServerError(f"the dev server did not open {host}:{port} within {timeout:g} s") from None


def migrate_registry(settings: Settings) -> str | None:
    """The embedded registry at the code's schema before anything reads it; what changed, if anything."""
    try:
        migrated = upgrade(settings.registry_database_url)
    except CommandError as err:  # e.g. a revision this version does not know: migrated by a newer one
        raise LocalServerError(f"registry: cannot migrate ({err}); was it migrated by a newer version?") from None
    return f"registry: migrated {migrated.before or 'none'} → {migrated.after}" if migrated.changed else None


def service_url(settings: Settings) -> str:
    host = settings.api.host
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{settings.api.port}"


def start_service(settings: Settings) -> subprocess.Popen[bytes]:
    """`python -m service` with this process's environment, so it reads the same settings
    (data dir, keys, registry, Temporal address, FILINGS_API__*)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.Popen(
        [sys.executable, "-m", "service"],
        env=env,
        start_new_session=True,
        preexec_fn=_stop_with_parent if sys.platform.startswith("linux") else None,
    )


async def wait_for_service(settings: Settings, service: subprocess.Popen[bytes], server: subprocess.Popen[bytes],
                           timeout: float = SERVICE_START_TIMEOUT) -> None:
    """Until the service's /readyz answers 200 (Temporal and the registry reachable)."""
    url = f"{service_url(settings)}/readyz"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if server.poll() is not None:  # the service would wait for it in vain
            raise LocalServerError(f"the dev server exited with status {server.returncode} while the filing "
                                   "service was starting")
        if service.poll() is not None:
            raise LocalServerError(f"the filing service exited with status {service.returncode} while starting "
                                   "(its error is above)")
        healthy, last = await asyncio.to_thread(probe, url, 2.0)
        if healthy:
            return
        if loop.time() > deadline:
            raise LocalServerError(f"the filing service did not answer {url} within {timeout:g} s ({last[:200]})")
        await asyncio.sleep(0.2)


def stop_child(child: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, a bounded wait, then SIGKILL."""
    if child.poll() is None:
        child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout)
    if child.poll() is None:
        child.kill()
        child.wait()


class ServiceFirst(asyncio.Event):
    """The worker's stop event: on Ctrl-C (the worker's signal handler sets it), the filing
    service is stopped first, so no request reaches an engine that is going away; only then
    is the event set and the worker stops. `requested` tells an expected exit from a crash."""

    def __init__(self, service: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self.service = service
        self.requested = False
        self._stopping: asyncio.Task[None] | None = None

    def set(self) -> None:
        self.requested = True
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop_service_then_set())

    async def _stop_service_then_set(self) -> None:
        try:
            await asyncio.to_thread(stop_child, self.service)
        finally:
            super().set()


def banner(settings: Settings) -> str:
    codec = settings.codec_url
    lines = [
        f"Filing service:   {service_url(settings)}  (API docs /docs, console /)",
        f"Temporal Web UI:  {settings.web_ui}/namespaces/{settings.temporal_namespace}/workflows",
        f"Codec server:     {codec} (the Web UI decrypts through it; the temporal CLI:"
        f" --codec-endpoint {codec} --codec-auth \"Bearer $(cat {settings.data_dir / CODEC_TOKEN_FILE})\")",
        f"Metrics:          http://{settings.http_host}:{settings.metrics_port}/metrics" if settings.metrics_port else "",
        f"Health:           {health_url(settings.http_host, settings.health_port)} (liveness /livez)"
        if settings.health_port else "",
        f"Data:             {settings.data_dir} (filings continue across restarts)",
        "Launch a filing:  .venv/bin/python starter.py --example example.json && .venv/bin/python starter.py example.json",
    ]
    return "\n" + "\n".join(f"  {line}" for line in lines if line) + "\n"


async def main_async(settings: Settings) -> int:
    host, port = local_address(settings)
    check_ports(listens(settings, host, port))  # all of them, before anything starts
    ensure_private_dir(settings.data_dir)  # mobiles, live codes, keys: owner-only
    keys = ensure_local_keys(settings.keys_path)  # development keys, made once, owner-only
    token = ensure_local_codec_token(settings.data_dir / CODEC_TOKEN_FILE)
    ensure_local_signing_key(settings.api.signing_key_path(settings.data_dir))  # `filings login` signs with it
    migrated = migrate_registry(settings)
    if migrated:
        print(migrated, flush=True)
    if urlsplit(settings.api_url).port != settings.api.port:
        log.warning("api_url_elsewhere", api_url=settings.api_url, service=service_url(settings),
                    detail="the `filings` tool reads FILINGS_API_URL: point it at the service make run starts")
    app = build_app(settings.payload_keys or keys.payload, token, settings.codec_cors_origin)
    try:
        codec = await serve(app, CODEC_HOST, settings.codec_port)
    except OSError as err:  # taken since the check
        raise LocalServerError(f"FILINGS_CODEC_PORT: cannot listen on {CODEC_HOST}:{settings.codec_port}: "
                               f"{err.strerror}") from err
    # The Web UI gets the bare endpoint: the codec server knows its page by Origin and X-Namespace,
    # so the token is in neither the UI's settings (/api/v1/settings) nor the dev server's command line.
    server = start_dev_server(settings, host, port, ui_codec_endpoint(settings))
    service: subprocess.Popen[bytes] | None = None
    stop: ServiceFirst | None = None
    died: list[str] = []
    watchers: list[asyncio.Task[None]] = []

    async def watch(name: str, child: subprocess.Popen[bytes], event: str) -> None:
        """A child that exits while nobody asked stops `make run`, with an error."""
        await asyncio.to_thread(child.wait)
        if stop is not None and not stop.requested:
            log.error(event, status=child.returncode)
            died.append(f"{name} exited with status {child.returncode}")
            stop.set()

    async def server_alive() -> tuple[bool, str]:
        alive = server.poll() is None
        return alive, f"pid {server.pid} running" if alive else f"exited with status {server.returncode}"

    async def service_healthy() -> tuple[bool, str]:
        assert service is not None
        if service.poll() is not None:
            return False, f"exited with status {service.returncode}"
        healthy, body = await asyncio.to_thread(probe, f"{service_url(settings)}/readyz", 2.0)
        return healthy, f"{service_url(settings)} answering" if healthy else f"not healthy: {body[:200]}"

    try:
        await wait_for_port(host, port, server=server)
        log.info("dev_server_ready", address=settings.temporal_address, web_ui=settings.web_ui,
                 database=str(settings.data_dir / "temporal.db"))
        service = start_service(settings)
        stop = ServiceFirst(service)
        watchers.append(asyncio.create_task(watch("the dev server", server, "dev_server_exited")))
        await wait_for_service(settings, service, server)
        log.info("filing_service_ready", url=service_url(settings))
        watchers.append(asyncio.create_task(watch("the filing service", service, "filing_service_exited")))
        print(banner(settings), flush=True)
        await run_worker(settings, stop, checks={"dev_server": server_alive, "filing_service": service_healthy})
        for what in died:
            print(f"error: {what}; make run stopped (its output is above)", file=sys.stderr)
        return 1 if died else 0
    finally:
        if stop is not None:
            stop.requested = True
        # The service first (nothing may reach a stopping engine), the worker is done, then the server.
        if service is not None:
            await asyncio.to_thread(stop_child, service)
        await asyncio.to_thread(stop_child, server, 10)
        for watcher in watchers:
            await watcher
        await codec.cleanup()


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        return run_without_teardown(main_async(settings))
    except PortsBusy as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (MissingBinary, LocalServerError, MissingKey, MetricsPortUnavailable, OSError, RegistryUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    run_and_exit(main)  # skips interpreter teardown, where the SDK's threads can abort the exit
