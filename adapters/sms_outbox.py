"""The local SMS gateway: `<data dir>/sms-outbox.jsonl` stands in for the verifiers' phones."""

from __future__ import annotations

from pathlib import Path

from adapters.jsonl import JsonLines
from filing.ports import SmsMessage

OUTBOX_NAME = "sms-outbox.jsonl"

#: One outbox line (SPEC §7), plus the idempotency key the effect log is kept by. Spelled
#: out, so that a field added to `SmsMessage` does not silently change the phone's view.
OUTBOX_FIELDS = ("to", "sender", "text", "code", "sent_at", "idempotency_key")


class OutboxSmsGateway:
    def __init__(self, data_dir: Path) -> None:
        self._file = JsonLines(data_dir / OUTBOX_NAME)

    async def send(self, message: SmsMessage) -> SmsMessage:
        dumped = message.model_dump(mode="json")
        stored = await self._file.append_once({name: dumped[name] for name in OUTBOX_FIELDS})
        return SmsMessage.model_validate(stored)
