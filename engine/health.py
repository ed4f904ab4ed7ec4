"""Health: an HTTP endpoint a process serves, and a command that asks it.

`GET /healthz` answers 200 when every check passes and 503 otherwise, with a JSON body
naming each check. A worker's checks are "connected to Temporal" (a gRPC health call)
and "its pollers run"; `make run` adds "the dev server process is alive". The command

    python -m engine.health            # exit 0 healthy, 1 not (the Docker healthcheck)

asks the endpoint of the configuration it runs with (FILINGS_HTTP_HOST, FILINGS_HEALTH_PORT).
The endpoint is a few lines of asyncio rather than a web framework: it has one route.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the probe command stays light: it never imports the SDK
    from temporalio.client import Client
    from temporalio.worker import Worker

#: A check answers (passing, detail); an exception counts as failing with its message.
Check = Callable[[], Awaitable[tuple[bool, str]]]

CHECK_TIMEOUT = timedelta(seconds=3)


def temporal_check(client: Client) -> Check:
    async def check() -> tuple[bool, str]:
        ok = await client.service_client.check_health(timeout=CHECK_TIMEOUT)
        return ok, f"{client.service_client.config.target_host} {'serving' if ok else 'not serving'}"

    return check


def worker_check(worker: Worker, task_queue: str) -> Check:
    async def check() -> tuple[bool, str]:
        return worker.is_running, f"polling {task_queue}" if worker.is_running else "not polling"

    return check


@dataclass
class HealthServer:
    host: str
    port: int
    checks: dict[str, Check] = field(default_factory=dict)
    stopping: bool = False
    _server: asyncio.Server | None = None

    async def report(self) -> tuple[bool, dict[str, object]]:
        results: dict[str, object] = {}
        healthy = not self.stopping
        for name, check in self.checks.items():
            try:
                ok, detail = await asyncio.wait_for(check(), CHECK_TIMEOUT.total_seconds())
            except Exception as err:  # noqa: BLE001 - a failing check is an answer, not a crash
                ok, detail = False, f"{type(err).__name__}: {err}"
            results[name] = {"ok": ok, "detail": detail}
            healthy = healthy and ok
        status = "stopping" if self.stopping else ("ok" if healthy else "failing")
        return healthy, {"status": status, "checks": results}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)).strip():
                pass  # headers: not needed
            parts = request_line.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/healthz":
                healthy, body = await self.report()
                code = 200 if healthy else 503
            else:
                code, body = 404, {"error": "GET /healthz"}
            data = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[code]
            writer.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def start(self) -> None:
        if self.port:
            try:
                self._server = await asyncio.start_server(self._handle, self.host, self.port)
            except OSError as err:
                raise OSError(f"FILINGS_HEALTH_PORT: cannot listen on {self.host}:{self.port}: {err.strerror}") from err

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


def probe(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask a health endpoint; answers (healthy, body or reason)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, response.read().decode()
    except urllib.error.HTTPError as err:
        return False, err.read().decode() or str(err)
    except (OSError, ValueError) as err:
        return False, f"{url}: {err}"


def health_url(host: str, port: int) -> str:
    local = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{local}:{port}/healthz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 when the worker's health endpoint answers healthy, else 1.")
    parser.add_argument("--url", help="health endpoint (default: from FILINGS_HTTP_HOST and FILINGS_HEALTH_PORT)")
    args = parser.parse_args(argv)
    url = args.url
    if url is None:
        from engine.settings import load_settings

        settings = load_settings()
        if not settings.health_port:
            print("FILINGS_HEALTH_PORT is 0: the health endpoint is off", file=sys.stderr)
            return 1
        url = health_url(settings.http_host, settings.health_port)
    healthy, body = probe(url)
    print(body)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
