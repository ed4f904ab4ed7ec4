"""The local notifier: every notice as a JSON line in `<data dir>/notifications.jsonl`, and a log line."""

from __future__ import annotations

from pathlib import Path

import structlog

from adapters.jsonl import JsonLines
from filing.ports import Channel, Notice

log = structlog.get_logger("notifier")


class FileNotifier:
    def __init__(self, data_dir: Path) -> None:
        self._file = JsonLines(data_dir / "notifications.jsonl")

    async def notify(self, notice: Notice) -> None:
        await self._file.append_once(notice.model_dump(mode="json"))
        level = log.warning if Channel.OPERATOR in notice.channels else log.info
        level(
            "notice",
            filing_id=notice.filing_id,
            attempt=notice.attempt,
            notice_event=notice.event,
            channels=[c.value for c in notice.channels],
        )
