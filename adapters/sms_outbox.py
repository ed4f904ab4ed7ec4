"""The local SMS gateway: `<data dir>/sms-outbox.jsonl` stands in for the verifiers' phones."""

from __future__ import annotations

from pathlib import Path

from adapters.jsonl import JsonLines
from filing.ports import SmsMessage

OUTBOX_NAME = "sms-outbox.jsonl"


class OutboxSmsGateway:
    def __init__(self, data_dir: Path) -> None:
        self._file = JsonLines(data_dir / OUTBOX_NAME)

    async def send(self, message: SmsMessage) -> SmsMessage:
        stored = await self._file.append_once(message.model_dump(mode="json"))
        return SmsMessage.model_validate(stored)
