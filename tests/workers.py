"""Running the engine's workers in a test: the filing worker and the SMS worker together,
as `worker.py` runs them, on the test's own task queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from engine.settings import Settings
from engine.wiring import split_activities
from worker import build_workers


#: How long the workers may take to stop after their block (seconds).
SHUTDOWN_WITHIN = 60.0


class Workers:
    """`async with Workers(...)`: both workers run for the block, and stop after it.

    Stopping is bounded: a workflow task that outran the SDK's deadlock detection (2 s; a
    flood of signals replayed on a loaded machine) leaves a run the SDK cannot evict, and
    the SDK's shutdown then waits for it for ever (issue 18, item 9: a test's teardown hung
    past pytest-timeout, whose alarm an asyncio callback swallows). After `shutdown_within`
    seconds the test fails naming it instead, and the stuck worker is left to the process."""

    def __init__(self, client: Client, settings: Settings, activities: list[Callable[..., Any]], *,
                 shutdown_within: float = SHUTDOWN_WITHIN, **overrides: Any) -> None:
        self.all: list[Worker] = build_workers(client, settings, split_activities(activities), **overrides)
        self._stack = AsyncExitStack()
        self._task_queue = settings.task_queue
        self._shutdown_within = shutdown_within

    @property
    def main(self) -> Worker:
        return self.all[0]

    async def __aenter__(self) -> Workers:
        for worker in self.all:
            await self._stack.enter_async_context(worker)
        return self

    async def __aexit__(self, *exc: object) -> None:
        stopping = asyncio.ensure_future(self._stack.aclose())
        done, _ = await asyncio.wait({stopping}, timeout=self._shutdown_within)
        if not done:
            stopping.cancel()  # not awaited: a worker that cannot stop may not hear it either
            raise AssertionError(
                f"the workers of task queue {self._task_queue} did not stop within {self._shutdown_within:g} s: "
                "a workflow run the SDK could not evict (a workflow task past its deadlock detection)")
        stopping.result()


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
