"""Running the engine's workers in a test: the filing worker and the SMS worker together,
as `worker.py` runs them, on the test's own task queue."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from engine.settings import Settings
from engine.wiring import split_activities
from worker import build_workers


class Workers:
    """`async with Workers(...)`: both workers run for the block, and stop after it."""

    def __init__(self, client: Client, settings: Settings, activities: list[Callable[..., Any]], **overrides: Any) -> None:
        self.all: list[Worker] = build_workers(client, settings, split_activities(activities), **overrides)
        self._stack = AsyncExitStack()

    @property
    def main(self) -> Worker:
        return self.all[0]

    async def __aenter__(self) -> Workers:
        for worker in self.all:
            await self._stack.enter_async_context(worker)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


async def prepare_data_dir(settings: Settings) -> None:
    """What `make run` sets up before a worker starts: the registry's schema, and (for the
    example applications the tests start) the example's scans in the material store."""
    from adapters.materials_local import FileMaterialStore
    from filing.examples import example_materials
    from filing.ports import MaterialOwner
    from registry.migrate import upgrade
    upgrade(settings.registry_database_url)
    store = FileMaterialStore(settings.data_dir, settings.payload_keyring())
    for content in example_materials().values():
        await store.put(content, MaterialOwner.imported("tests"))
