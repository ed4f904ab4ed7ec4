"""The review desks over HTTP: a hand-over to the platform's queue (L2) or a province (L4) is
one signed POST, answered with the desk's ticket.

The request proposes a ticket derived from the idempotency key, as the local desk makes it
(`PR-…` for the platform, the province's prefix for a province); the desk may answer its
own `{"ticket": …}` instead (a short token; anything else is not recorded). A repeated key
(409) without a ticket answers the proposed one, so a retry after a lost answer still
records a ticket.
"""

from __future__ import annotations

import re

from adapters.review_desk import ticket_for
from adapters.webhook import WebhookClient
from filing.ports import HandOver

PLATFORM_EVENT = "handover.platform"
PROVINCE_EVENT = "handover.province"
#: A desk's own ticket is recorded in the filing's timeline: a short token, or the proposed one.
_TICKET = re.compile(r"[\w.:#/\-]{1,64}")


class HttpReviewDesk:
    def __init__(self, client: WebhookClient) -> None:
        self._client = client

    async def enqueue_platform_review(self, handover: HandOver) -> str:
        return await self._hand_over(PLATFORM_EVENT, "platform", "PR", handover)

    async def hand_over_to_province(self, handover: HandOver) -> str:
        return await self._hand_over(PROVINCE_EVENT, "province", handover.province, handover)

    async def _hand_over(self, event: str, desk: str, prefix: str, handover: HandOver) -> str:
        ticket = ticket_for(prefix, handover.idempotency_key)
        body = {"desk": desk, "ticket": ticket, **handover.model_dump(mode="json")}
        answer = await self._client.post(event, body, handover.idempotency_key)
        given = answer.body.get("ticket")
        return given if isinstance(given, str) and _TICKET.fullmatch(given) else ticket
