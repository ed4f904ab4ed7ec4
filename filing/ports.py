"""Outside services (SPEC §8) as interfaces. Local implementations live in `adapters/`.

Every effect carries an idempotency key (filing, attempt, and what makes the effect
unique): activities run at least once, so a port must treat a repeated key as done.
A port raises `PermanentFailure` for what retrying cannot fix; anything else is
treated as transient and retried with backoff.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from filing.messages import Reason
from filing.models import FaceVerification, Model


class PermanentFailure(Exception):
    """The outside service refused for good (bad number, unknown province, ...)."""


class SmsMessage(Model):
    """One line of the SMS outbox: `{"to", "sender", "text", "code", "sent_at"}` (SPEC §7)."""

    to: str
    sender: str = "12381"
    text: str
    code: str
    sent_at: datetime
    idempotency_key: str


class Channel(StrEnum):
    IN_APP = "in_app"  # 站内信
    TEMPLATE = "template"  # 模板消息
    SMS = "sms"  # 短信
    OPERATOR = "operator"  # escalation to the platform's operators


class Notice(Model):
    """A notification. Holds no personal data: recipients are resolved by filing id."""

    filing_id: str
    attempt: int
    event: str
    channels: list[Channel]
    detail: str | None = None
    reasons: list[Reason] = []
    filing_number: str | None = None
    idempotency_key: str


class HandOver(Model):
    """A filing handed to a review desk (platform queue or a province)."""

    filing_id: str
    attempt: int
    kind: str
    province: str  # filing-number prefix, e.g. 冀
    idempotency_key: str


class SmsGateway(Protocol):
    async def send(self, message: SmsMessage) -> SmsMessage:
        """Deliver once per idempotency key; answers the message actually delivered."""
        ...


class Notifier(Protocol):
    async def notify(self, notice: Notice) -> None: ...


class ReviewDesk(Protocol):
    async def enqueue_platform_review(self, handover: HandOver) -> str:
        """Answers the ticket id; the same key answers the same ticket."""
        ...

    async def hand_over_to_province(self, handover: HandOver) -> str: ...


class FaceVerifier(Protocol):
    async def problems(self, record: FaceVerification, now: datetime) -> list[str]:
        """Answers what is wrong with the 人脸核身 record (empty when it is good)."""
        ...
