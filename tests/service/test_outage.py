"""An outside part failing for good: the service's Temporal stops and does not come back.

Every call that needs it answers a 503 problem at once (a few quick retries, well within
the Temporal timeout), never a hang; what needs only the registry (the public lookup) keeps answering; and nothing is
left half-done: no filing was started, and the Idempotency-Key of the failed call was
released, so the same call with the same key succeeds where Temporal is up.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from engine.binaries import temporal_cli
from service.principal import Role
from tests.conftest import TEST_CONVERTER
from tests.processes import free_ports
from tests.service.conftest import ServiceProcess, Stack, application, as_json, key, new_appid, service_env
from workflows import search_attributes as sa

TIMEOUT_SECONDS = 2


async def test_temporal_gone_for_good_is_503_quickly_and_nothing_half_done(started: Stack, tmp_path: Path):
    stack = started
    own = await WorkflowEnvironment.start_local(
        ip="127.0.0.1", dev_server_existing_path=str(temporal_cli()), search_attributes=sa.ALL,
        data_converter=TEST_CONVERTER, ui=False)
    stopped = False
    port = free_ports(1)[0]
    settings = stack.settings.model_copy(update={"temporal_address": own.client.service_client.config.target_host})
    service = ServiceProcess(service_env(settings, port, FILINGS_API__TEMPORAL_TIMEOUT=str(TIMEOUT_SECONDS)), port,
                             tmp_path / "service.log")
    try:
        await service.start()  # healthy: it reaches its Temporal
        await own.shutdown()
        stopped = True

        appid = new_appid()
        applicant = stack.auth(Role.APPLICANT, sub="outage-applicant", appids=[appid])
        await stack.upload_materials(applicant)  # the material store is shared (one data dir)
        start_key = key()
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            began = time.monotonic()
            answer = await http.post("/v1/filings", json=as_json(application(appid)), headers=applicant | start_key)
            took = time.monotonic() - began
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert took < TIMEOUT_SECONDS, f"answered after {took:.1f} s"
            assert "Temporal" in answer.json()["detail"]

            for method, path, headers, body in [
                ("GET", f"/v1/filings/{appid}", applicant, None),
                ("POST", f"/v1/filings/{appid}/platform-decision", stack.auth(Role.PLATFORM_REVIEWER) | key(),
                 {"decision": "approve"}),
                ("GET", "/v1/filings", stack.auth(Role.OPERATOR), None),
            ]:
                began = time.monotonic()
                failed = await http.request(method, path, headers=headers, json=body)
                assert failed.status_code == 503, (path, failed.text)
                assert time.monotonic() - began < TIMEOUT_SECONDS, path
            health = await http.get("/healthz")
            assert health.status_code == 503 and health.json()["checks"]["temporal"]["ok"] is False
            # Not ready, but alive: a liveness probe must not restart every replica for Temporal's outage.
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["temporal"]["ok"] is False
            assert (await http.get("/livez")).status_code == 200
            assert (await http.get("/v1/registry", params={"appid": appid})).status_code == 200

    finally:
        await service.stop()
        if not stopped:
            await own.shutdown()

    # Nothing half-done: no filing anywhere, and the key is free for the same call where Temporal is up.
    assert (await stack.client.count_workflows(f"AppId = '{appid}'")).count == 0
    retried = await stack.http.post("/v1/filings", json=as_json(application(appid)), headers=applicant | start_key)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers, retried.text
