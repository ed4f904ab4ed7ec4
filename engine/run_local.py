"""`make run`: the embedded default. A local Temporal dev server (SQLite under the data
dir, Web UI on 127.0.0.1:8233, the §7 search attributes registered) and a worker, in
the foreground; Ctrl-C stops both. Stopping and running again continues the same filings.

The dev server listens where TEMPORAL_ADDRESS points and serves its Web UI on the port
of FILINGS_WEB_UI, so the links the starter prints are right by construction. It runs
in its own session (a terminal's Ctrl-C reaches this process only, which stops the
worker first, letting activities finish, then the server) and, on Linux, is told to
stop if this process dies, so no orphan keeps the port.

Every port it will listen on is checked before anything starts (one line per busy port,
naming its variable, exit status 1), and the data dir is made owner-only first thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import subprocess
import sys

import structlog

from engine.binaries import MissingBinary, temporal_cli
from engine.health import health_url
from engine.codec_server import build_app, serve
from engine.datadir import ensure_private_dir
from engine.keys import MissingKey, ensure_local_codec_token, ensure_local_keys
from engine.logs import configure_logging
from engine.ports import Listen, PortsBusy, check_ports
from engine.process import run_and_exit
from engine.settings import Settings, load_settings
from engine.telemetry import MetricsPortUnavailable
from worker import run_worker
from workflows import search_attributes as sa

log = structlog.get_logger("run_local")

_SA_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime", "INT": "Int"}
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::1")
CODEC_TOKEN_FILE = "codec-token"
#: The local Web UI calls the codec server from the operator's browser, on this machine.
CODEC_HOST = "127.0.0.1"


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
    return subprocess.Popen(
        dev_server_args(settings, host, port, settings.web_ui_port, codec_endpoint),
        start_new_session=True,
        preexec_fn=_stop_with_parent if sys.platform.startswith("linux") else None,
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


def banner(settings: Settings) -> str:
    codec = f"http://{CODEC_HOST}:{settings.codec_port}"
    lines = [
        f"Temporal Web UI:  {settings.web_ui}/namespaces/{settings.temporal_namespace}/workflows",
        f"Codec server:     {codec} (the Web UI decrypts through it; the temporal CLI:"
        f" --codec-endpoint {codec} --codec-auth \"Bearer $(cat {settings.data_dir / CODEC_TOKEN_FILE})\")",
        f"Metrics:          http://{settings.http_host}:{settings.metrics_port}/metrics" if settings.metrics_port else "",
        f"Health:           {health_url(settings.http_host, settings.health_port)}" if settings.health_port else "",
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
    app = build_app(settings.payload_keys or keys.payload, token, settings.codec_cors_origin)
    try:
        codec = await serve(app, CODEC_HOST, settings.codec_port)
    except OSError as err:  # taken since the check
        raise LocalServerError(f"FILINGS_CODEC_PORT: cannot listen on {CODEC_HOST}:{settings.codec_port}: "
                               f"{err.strerror}") from err
    # The local Web UI cannot send a header: its codec endpoint carries the token in the path.
    server = start_dev_server(settings, host, port, f"http://{CODEC_HOST}:{settings.codec_port}/{token}")
    stop = asyncio.Event()

    async def server_alive() -> tuple[bool, str]:
        alive = server.poll() is None
        return alive, f"pid {server.pid} running" if alive else f"exited with status {server.returncode}"

    async def watch_server() -> None:
        await asyncio.to_thread(server.wait)
        if not stop.is_set():
            log.error("dev_server_exited", status=server.returncode)
            stop.set()

    watcher: asyncio.Task[None] | None = None
    try:
        await wait_for_port(host, port, server=server)
        log.info("dev_server_ready", address=settings.temporal_address, web_ui=settings.web_ui,
                 database=str(settings.data_dir / "temporal.db"))
        print(banner(settings), flush=True)
        watcher = asyncio.create_task(watch_server())
        await run_worker(settings, stop, checks={"dev_server": server_alive})
        return 0 if server.poll() is None else 1
    finally:
        stop.set()
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(server.wait, 10)
        if server.poll() is None:
            server.kill()
            server.wait()
        if watcher is not None:
            await watcher
        await codec.cleanup()


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(main_async(settings))
    except PortsBusy as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (MissingBinary, LocalServerError, MissingKey, MetricsPortUnavailable, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    run_and_exit(main)  # skips interpreter teardown, where the SDK's threads can abort the exit
