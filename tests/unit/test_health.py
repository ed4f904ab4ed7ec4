"""The worker's health endpoint over real HTTP: liveness never follows Temporal or the
database, readiness does, `/healthz` is readiness under its old name, and stopping is
not-ready but alive. Checks are scripted; the server is the real one on a free port."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import httpx
import pytest

from engine.health import HealthServer, LoopHeartbeat, pollers_alive
from tests.processes import free_ports


class Switch:
    """A check whose answer the test sets."""

    def __init__(self, ok: bool, detail: str) -> None:
        self.ok, self.detail = ok, detail

    async def __call__(self) -> tuple[bool, str]:
        return self.ok, self.detail


@pytest.fixture
async def served():
    temporal = Switch(False, "temporal:7233 not serving")
    registry = Switch(False, "unreachable (OperationalError)")
    polling = {"running": True}
    heartbeat = LoopHeartbeat()
    health = HealthServer("127.0.0.1", free_ports(1)[0], checks={"temporal": temporal, "registry": registry})
    health.liveness = {"loop": heartbeat.check,
                       "pollers": pollers_alive(lambda: polling["running"], lambda: health.stopping)}
    heartbeat.start()
    await health.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health.port}", timeout=5) as http:
            yield health, http, temporal, registry, polling
    finally:
        await health.stop()
        await heartbeat.stop()


async def test_an_outage_of_temporal_and_the_database_is_not_ready_but_alive(served):
    health, http, temporal, registry, _ = served
    live = await http.get("/livez")
    assert live.status_code == 200, live.text
    assert set(live.json()["checks"]) == {"loop", "pollers"}  # nothing outside the process
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "failing", "checks": {
        "temporal": {"ok": False, "detail": "temporal:7233 not serving"},
        "registry": {"ok": False, "detail": "unreachable (OperationalError)"}}}
    deprecated = await http.get("/healthz")
    assert (deprecated.status_code, deprecated.json()) == (503, ready.json())

    temporal.ok = registry.ok = True
    assert (await http.get("/readyz")).status_code == 200
    assert (await http.get("/healthz")).json()["status"] == "ok"


async def test_stopping_is_not_ready_but_alive_and_dead_pollers_are_not_alive(served):
    health, http, temporal, registry, polling = served
    temporal.ok = registry.ok = True
    health.stopping = True
    polling["running"] = False  # the SDK stopped polling: draining after SIGTERM
    assert (await http.get("/readyz")).json()["status"] == "stopping"
    live = await http.get("/livez")
    assert live.status_code == 200 and live.json()["checks"]["pollers"]["detail"] == "draining (stopping)"

    health.stopping = False  # not stopping, and nobody polls: a wedged worker, to be restarted
    live = await http.get("/livez")
    assert live.status_code == 503 and live.json()["checks"]["pollers"] == {"ok": False, "detail": "poll loops not running"}
    assert (await http.get("/nothing")).status_code == 404


async def test_a_stale_heartbeat_fails_liveness():
    heartbeat = LoopHeartbeat(interval=timedelta(seconds=60), stale=timedelta(seconds=10))
    assert (await heartbeat.check()) == (False, "heartbeat not running")
    heartbeat.start()
    try:
        assert (await heartbeat.check())[0]
        heartbeat.last -= 20  # as if the loop had been blocked for 20 s since the last beat
        ok, detail = await heartbeat.check()
        assert not ok and detail.startswith("last beat 20.")
    finally:
        await heartbeat.stop()


async def test_a_busy_port_is_refused_naming_the_variable():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        health = HealthServer("127.0.0.1", held.getsockname()[1])
        with pytest.raises(OSError, match="FILINGS_HEALTH_PORT: cannot listen on 127.0.0.1"):
            await health.start()
