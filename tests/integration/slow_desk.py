"""A review desk that holds a hand-over until the test releases it: an activity in flight
on a real worker process, plugged in by configuration (FILINGS_ADAPTERS__REVIEW_DESK=
tests.integration.slow_desk:build), the way a production adapter would be."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.review_desk import FileReviewDesk
from engine.settings import Settings
from filing.ports import HandOver

STARTED, RELEASE, FINISHED = "desk-started", "desk-release", "desk-finished"


class SlowDesk(FileReviewDesk):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._dir = data_dir

    async def enqueue_platform_review(self, handover: HandOver) -> str:
        (self._dir / STARTED).touch()
        while not (self._dir / RELEASE).exists():
            await asyncio.sleep(0.05)
        ticket = await super().enqueue_platform_review(handover)
        (self._dir / FINISHED).write_text(ticket)
        return ticket


def build(settings: Settings) -> SlowDesk:
    return SlowDesk(settings.data_dir)
