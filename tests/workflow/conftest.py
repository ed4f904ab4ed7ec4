"""Workflow tests: each on its own time-skipping server (fresh clock), task queue and data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.binaries import test_server
from engine.search_attributes import register_search_attributes
from engine.settings import Settings
from engine.wiring import engine_activities
from registry.migrate import upgrade
from filing.calendar import BusinessCalendar
from tests.conftest import TEST_CONVERTER, unique, write_test_keys
from tests.workers import Workers


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server()), data_converter=TEST_CONVERTER
    )
    try:
        await register_search_attributes(environment.client, "default")
        yield environment
    finally:
        await environment.shutdown()


@dataclass
class Engine:
    """A running worker on the test server, with its own data dir."""

    env: WorkflowEnvironment
    task_queue: str
    data_dir: Path
    settings: Settings


@pytest.fixture
def make_engine(env: WorkflowEnvironment, tmp_path: Path) -> Callable[..., tuple[Engine, Workers]]:
    def build(calendar: BusinessCalendar | None = None, activities: list | None = None) -> tuple[Engine, Workers]:
        settings = Settings(data_dir=tmp_path / "data", task_queue=unique("tq"))
        write_test_keys(settings.data_dir)
        upgrade(settings.registry_database_url)
        workers = Workers(
            env.client, settings, activities if activities is not None else engine_activities(settings, calendar)
        )
        return Engine(env, settings.task_queue, settings.data_dir, settings), workers

    return build


@pytest.fixture
async def engine(make_engine) -> AsyncIterator[Engine]:
    eng, worker = make_engine()
    async with worker:
        yield eng
