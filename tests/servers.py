"""The servers the suite shares, one of each per test session (per xdist worker): the
Temporal dev server, and the filing service's stack on it (service process, worker, data
dir). Defined once here and exposed by `tests/conftest.py`, so every directory uses the same
instance: fixtures imported into several conftest files are separate fixtures, and each
started a server of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from engine.binaries import temporal_cli
from engine.settings import Settings
from engine.wiring import engine_activities
from service.tokens import ensure_local_signing_key
from tests.conftest import TEST_CONVERTER, unique, write_test_keys
from tests.processes import free_ports
from tests.service.conftest import ServiceProcess, Stack, service_env
from tests.workers import Workers, prepare_data_dir
from workflows import search_attributes as sa


@pytest.fixture(scope="session")
async def dev_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WorkflowEnvironment]:
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    environment = await WorkflowEnvironment.start_local(
        ip="127.0.0.1",
        dev_server_existing_path=str(temporal_cli()),
        dev_server_database_filename=str(db),
        search_attributes=sa.ALL,
        data_converter=TEST_CONVERTER,
        ui=False,
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest.fixture(scope="session")
async def stack(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("service")
    settings = Settings(data_dir=root / "data", task_queue=unique("svc"),
                        temporal_address=dev_env.client.service_client.config.target_host)
    write_test_keys(settings.data_dir)
    await prepare_data_dir(settings)
    signing_key = ensure_local_signing_key(settings.api.signing_key_path(settings.data_dir))
    async with Workers(dev_env.client, settings, engine_activities(settings)):
        port = free_ports(1)[0]
        service = ServiceProcess(service_env(settings, port), port, root / "service.log")
        await service.start()
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
                yield Stack(settings, service, dev_env.client, signing_key, http)
        finally:
            await service.stop()


@pytest.fixture
async def started(stack: Stack) -> AsyncIterator[Stack]:
    """The stack with its service running (a test before may have restarted it)."""
    if stack.service.process is None or stack.service.process.poll() is not None:
        await stack.service.start()
    yield stack
