"""A real worker (`run_worker`, on the dev server) whose registry database (Debian's
PostgreSQL) goes down while it runs: it is alive (`/livez` 200: a liveness probe must not restart it for an outage a restart cannot
cure) and not ready (`/readyz` 503 naming the registry), while Temporal and its pollers are
fine; once it stops, it is no longer ready."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from engine.settings import Settings
from registry import migrate
from tests.registry.conftest import PostgresServer, own_postgres_server  # noqa: F401  (the fixture)
from tests.conftest import unique, write_test_keys
from tests.processes import free_ports, wait_until
from worker import run_worker

pytestmark = pytest.mark.integration


async def test_a_worker_without_its_database_is_alive_but_not_ready(
    dev_env, own_postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
):
    (health_port,) = free_ports(1)
    database = own_postgres_server.url(own_postgres_server.create_database())
    migrate.upgrade(database)
    settings = Settings(
        data_dir=tmp_path / "data", task_queue=unique("tq"), health_port=health_port, metrics_port=0,
        temporal_address=dev_env.client.service_client.config.target_host, watchdog_failures=0,
        registry_url=database,
    )
    write_test_keys(settings.data_dir)
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop))
    loop = asyncio.get_running_loop()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}", timeout=10) as http:

            async def answered() -> httpx.Response | None:
                assert not running.done() or running.result()
                try:
                    ready = await http.get("/readyz")
                except httpx.TransportError:
                    return None
                return ready if ready.json()["checks"]["worker"]["ok"] else None  # polling by now

            assert (await wait_until(answered, 30, "the worker polling")).status_code == 200
            await asyncio.to_thread(own_postgres_server.stop)  # the database goes away
            ready = await http.get("/readyz")
            assert ready.status_code == 503, ready.text
            checks = ready.json()["checks"]
            assert checks["registry"]["ok"] is False and checks["registry"]["detail"].startswith("unreachable")
            assert "test@" not in ready.text  # no URL (user, host) in an unauthenticated answer
            assert checks["temporal"]["ok"] and checks["sms_worker"]["ok"]
            live = await http.get("/livez")
            assert live.status_code == 200, live.text
            assert {name: check["ok"] for name, check in live.json()["checks"].items()} == {"loop": True, "pollers": True}
            stop.set()
            await asyncio.wait_for(running, 30)
    finally:
        stop.set()
        if not running.done():
            await asyncio.wait_for(running, 30)
        for sig in (signal.SIGINT, signal.SIGTERM):  # run_worker's handlers on the test's loop
            loop.remove_signal_handler(sig)
