"""A review desk that holds a hand-over until the test releases it: an activity in flight
on a real worker process, plugged in by configuration (FILINGS_ADAPTERS__REVIEW_DESK=
tests.integration.slow_desk:build), the way a production adapter would be.

A file in the data dir makes it an activity that never ends, in one of the two ways a
real adapter does: IGNORES_CANCEL (a coroutine that swallows its cancellation) or
BLOCKED (a blocking call, e.g. I/O without a timeout, in a thread, which nothing can
cancel)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from adapters.review_desk import FileReviewDesk
from engine.settings import Settings
from filing.ports import HandOver

STARTED, RELEASE, FINISHED = "desk-started", "desk-release", "desk-finished"
IGNORES_CANCEL, BLOCKED = "desk-ignores-cancel", "desk-blocked"


class SlowDesk(FileReviewDesk):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._dir = data_dir

    async def enqueue_platform_review(self, handover: HandOver) -> str:
        (self._dir / STARTED).touch()
        if (self._dir / BLOCKED).exists():
            await asyncio.to_thread(self._block_until_released)
        while not (self._dir / RELEASE).exists():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if not (self._dir / IGNORES_CANCEL).exists():
                    raise
        ticket = await super().enqueue_platform_review(handover)
        (self._dir / FINISHED).write_text(ticket)
        return ticket

    def _block_until_released(self) -> None:
        while not (self._dir / RELEASE).exists():
            time.sleep(0.05)


def build(settings: Settings) -> SlowDesk:
    return SlowDesk(settings.data_dir)
