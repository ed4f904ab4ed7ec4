"""The notifier over HTTP: each notice (站内信, 模板消息, 短信, an escalation) is one signed POST.

The body is the notice as the workflow made it, recipients included (an SMS notice names
the mobiles it goes to: the channel needs them); the webhook client logs none of it.
"""

from __future__ import annotations

from adapters.webhook import WebhookClient
from filing.ports import Channel, Notice

EVENT = "notice"
ESCALATION = "escalation"


class HttpNotifier:
    def __init__(self, client: WebhookClient) -> None:
        self._client = client

    async def notify(self, notice: Notice) -> None:
        event = ESCALATION if Channel.OPERATOR in notice.channels else EVENT
        await self._client.post(event, notice.model_dump(mode="json"), notice.idempotency_key)
