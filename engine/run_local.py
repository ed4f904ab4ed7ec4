"""`make run`: the embedded default. A local Temporal dev server (SQLite under the data
dir, Web UI on 127.0.0.1:8233, the §7 search attributes registered) and a worker, in
the foreground; Ctrl-C stops both. Stopping and running again continues the same filings.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

import structlog

from engine.binaries import MissingBinary, temporal_cli
from engine.keys import ensure_local_keys
from engine.logs import configure_logging
from engine.settings import Settings
from worker import run_worker
from workflows import search_attributes as sa

log = structlog.get_logger("run_local")

_SA_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime", "INT": "Int"}


def dev_server_args(settings: Settings, host: str, port: int, ui_port: int) -> list[str]:
    args = [str(temporal_cli()), "server", "start-dev", "--ip", host, "--port", str(port),
            "--ui-port", str(ui_port), "--db-filename", str(settings.data_dir / "temporal.db"),
            "--namespace", settings.temporal_namespace, "--log-level", "warn"]
    for key in sa.ALL:
        args += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
    return args


async def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    async def probe() -> None:
        while True:
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)

    await asyncio.wait_for(probe(), timeout)


async def main_async(settings: Settings) -> int:
    host, _, port = settings.temporal_address.rpartition(":")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_local_keys(settings.keys_path)  # development keys, made once, owner-only
    server = subprocess.Popen(dev_server_args(settings, host, int(port), 8233))
    try:
        await wait_for_port(host, int(port))
        log.info("dev_server_ready", address=settings.temporal_address, web_ui=settings.web_ui,
                 database=str(settings.data_dir / "temporal.db"))
        print(f"\n  Temporal Web UI: {settings.web_ui}\n  Launch a filing: .venv/bin/python starter.py --example example.json"
              f" && .venv/bin/python starter.py example.json\n", flush=True)
        await run_worker(settings)
        return 0
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        if server.poll() is None:
            server.kill()


def main() -> int:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(main_async(settings))
    except MissingBinary as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
