"""The SMS gateway over HTTP: each 12381 SMS is one signed POST to the gateway's webhook.

The request carries what a gateway needs to text a verifier: the mobile, the sender, the
text, and the code on its own for gateways that fill a template (the code is in the text
too, so the field shows the gateway nothing more). The code never reaches a log: the
webhook client logs the host, status and a digest of the key only. The answer carries no
code back: a repeated key (409) is answered with the message of this attempt, whose code
the activity derives again from the same key.
"""

from __future__ import annotations

from datetime import datetime

from adapters.webhook import WebhookClient
from filing.ports import SmsMessage

EVENT = "sms.send"


class HttpSmsGateway:
    def __init__(self, client: WebhookClient) -> None:
        self._client = client

    async def send(self, message: SmsMessage) -> SmsMessage:
        body = {
            "to": message.to,
            "sender": message.sender,
            "text": message.text,
            "code": message.code,
            "sent_at": message.sent_at.isoformat(),
        }
        answer = await self._client.post(EVENT, body, message.idempotency_key)
        sent_at = _datetime(answer.body.get("sent_at"))
        return message.model_copy(update={"sent_at": sent_at}) if sent_at else message


def _datetime(value: object) -> datetime | None:
    """The gateway's own `sent_at` when it gives a readable, zoned one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
