"""Outside services (SPEC §8) as interfaces. Local implementations live in `adapters/`.

Every effect carries an idempotency key (filing, attempt, and what makes the effect
unique): activities run at least once, so a port must treat a repeated key as done.
A port raises `PermanentFailure` for what retrying cannot fix; anything else is
treated as transient and retried with backoff (`RetryLater` when the service said when).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import Field

from filing.messages import Reason
from filing.models import FaceVerification, IdentityDocument, Model
from filing.registry import (
    ImportEntry,
    MiniProgramRecord,
    PeopleOnRecord,
    PublicEntry,
    RegistryChange,
    RegistryOutcome,
    SubjectCertificate,
    SubjectRecord,
)


class PermanentFailure(Exception):
    """The outside service refused for good (bad number, unknown province, ...)."""


class RetryLater(Exception):
    """The outside service did not take the effect this time (down, overloaded, too slow): the
    activity is retried, after `retry_after` when the service said how long to wait."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


class Recipient(Model):
    """Who gets a notice on which channel: the applicant's account (`account`, the appid's
    administrators) for 站内信 and 模板消息, a principal's mobile for 短信, the operators
    for an escalation. A mobile is personal data: masked in logs."""

    channel: Channel
    to: str


class Notice(Model):
    """A notification, naming its recipients (taken from the application or the registry)."""

    filing_id: str
    attempt: int
    event: str
    channels: list[Channel]
    detail: str | None = None
    reasons: list[Reason] = []
    filing_number: str | None = None
    idempotency_key: str
    recipients: list[Recipient] = Field(default_factory=list)
    # The filing's facts the text names (filled by the workflow; None in notices of earlier
    # versions, whose text then names the filing by its AppID alone).
    appid: str | None = None
    kind: str | None = None
    #: The mini-program's name (小程序名称).
    service_name: str | None = None
    #: The stage the filing is in when the notice is made, and its deadline (what to do by when).
    stage: str | None = None
    due_at: datetime | None = None
    #: The filing-number prefix of the province reviewing it (冀).
    province: str | None = None
    returned_by: str | None = None
    #: The Chinese text the person reads, rendered from the event's template
    #: (`filing.notice_texts`) by the notifier activity when the notice is delivered.
    text: str | None = None


class HandOver(Model):
    """A filing handed to a review desk (platform queue or a province), with what the desk
    needs to review it: where to read the application and which materials it names."""

    filing_id: str
    attempt: int
    kind: str
    province: str  # filing-number prefix, e.g. 冀
    idempotency_key: str
    #: The filing service's path of the application (`/v1/filings/<appid>/application`).
    application_ref: str | None = None
    #: SHA-256 of every material the application names (readable at `/v1/materials/<sha256>`).
    materials: list[str] = Field(default_factory=list)
    #: A cancellation's request: the number it names and why.
    filing_number: str | None = None
    reason: str | None = None


class SmsGateway(Protocol):
    async def send(self, message: SmsMessage) -> SmsMessage:
        """Deliver once per idempotency key; answers the message actually delivered."""
        ...


class Notifier(Protocol):
    async def notify(self, notice: Notice) -> None: ...


class OpenVerification(Model):
    """A filing waiting for a verifier's 12381 code, found from the verifier's mobile."""

    filing_id: str
    opened_at: datetime
    expires_at: datetime


class OpenVerifications(Protocol):
    """The verifications open per mobile (issue 17): the SMS activity opens one when it sends
    a code, so the verification site finds the filing from what the verifier has (mobile,
    code, last six characters of their document), without an AppID. Keyed by a keyed digest
    of the mobile: the mobile itself is not stored. A hint, never an authority: the filing
    itself judges the code, the window and the attempts left."""

    async def open(self, mobile: str, filing_id: str, expires_at: datetime) -> None:
        """Open (or reopen, for a resend or a later attempt) the mobile's verification of the filing."""
        ...

    async def find(self, mobile: str, now: datetime) -> list[OpenVerification]:
        """The mobile's verifications not expired at `now`, the most recently opened first."""
        ...

    async def close(self, mobile: str, filing_id: str) -> None:
        """The verifier of this mobile is verified for the filing: nothing left to find."""
        ...


class ReviewDesk(Protocol):
    async def enqueue_platform_review(self, handover: HandOver) -> str:
        """Answers the ticket id; the same key answers the same ticket."""
        ...

    async def hand_over_to_province(self, handover: HandOver) -> str: ...


class Registry(Protocol):
    """The registry of filings (SPEC §11). Written only by the workflow's L8 step."""

    async def mini_program(self, appid: str) -> MiniProgramRecord | None:
        """The appid's ACTIVE filing, or else its latest one (any state), or None."""
        ...

    async def mini_program_by_number(self, service_number: str) -> MiniProgramRecord | None: ...

    async def subject(self, subject_number: str) -> SubjectRecord | None: ...

    async def subject_mini_programs(self, subject_number: str) -> list[MiniProgramRecord]: ...

    async def subject_of(self, certificate: SubjectCertificate) -> SubjectRecord | None:
        """The ACTIVE subject known by this certificate (issue 17), None when none is on record."""
        ...

    async def mobile_held_by_another(self, mobile: str, document: IdentityDocument) -> bool:
        """R4 across the registry: whether `mobile` is on record, in an active filing, for a
        person with another identity document than `document`."""
        ...

    async def people_on_record(self, service_number: str) -> PeopleOnRecord | None:
        """The principals recorded for a mini-program's filing (decrypted)."""
        ...

    async def next_number(self, subject_number: str) -> str:
        """The next service number never issued under the subject number (`…号-3X`)."""
        ...

    async def apply(self, change: RegistryChange) -> RegistryOutcome:
        """L8, once per `change.filing_key`: a repeated key answers the first outcome."""
        ...

    async def lookup(
        self,
        *,
        number: str | None = None,
        appid: str | None = None,
        subject: str | None = None,
        certificate: str | None = None,
        include_cancelled: bool = False,
    ) -> list[PublicEntry]:
        """备案查询: by service or subject number (ICP备, ICP证, B2), appid, subject name (a unit's
        also in part) or a unit's certificate number; cancelled filings only when asked for.
        What MIIT publishes, no personal data; raises `ValueError` for a query naming no one key."""
        ...

    async def import_entries(self, entries: list[ImportEntry]) -> int:
        """Load filings made before this system: all of them, or none (raises)."""
        ...


MediaType = Literal["image/jpeg", "image/png", "application/pdf", "video/mp4"]


class StoredMaterial(Model):
    """A material in the store, named by the SHA-256 of its content (R10)."""

    sha256: str
    media_type: MediaType
    bytes: int


class MaterialRejected(ValueError):
    """Content the store refuses (R10: JPEG, PNG or PDF by content; at most 5 MiB)."""

    def __init__(self, key: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.key, self.message_zh, self.message_en = key, message_zh, message_en


class MaterialOwner(Model):
    """Who stored a material (R10): a material belongs to its uploader, and a hash alone —
    copied from a hand-over ticket, a console URL or a log — opens nothing.

    `principal` is a caller of the filing service as it names callers (`applicant:zhang`,
    `operator:ops-1`), or an operator's import naming its source (`cli:alice`,
    `starter:alice`); `appids` the mini-programs it was stored for (an applicant's token's
    appids; the application's for an import). `source` says which door it came through."""

    principal: str = Field(min_length=1, max_length=200)
    appids: list[str] = Field(default_factory=list)
    source: str = Field(default="api", min_length=1, max_length=200)

    def claims(self) -> list[str]:
        """What ties a caller to a material: themselves, or one of their mini-programs (the
        administrators of one appid share its materials)."""
        return [f"principal:{self.principal}", *(f"appid:{appid}" for appid in sorted(set(self.appids)))]

    @classmethod
    def imported(cls, source: str, appids: list[str] | None = None) -> MaterialOwner:
        """An operator's import (`cli:<user>`, `starter:<user>`, `tests`): it names its source."""
        return cls(principal=source, appids=appids or [], source=source.split(":", 1)[0])


class MaterialStore(Protocol):
    """备案材料, encrypted at rest and named by content hash (SPEC §8, R10).

    The store also keeps who stored each material (`MaterialOwner`), beside the material
    itself, so that every replica and every restart sees the same owners."""

    async def put(self, content: bytes, owner: MaterialOwner) -> StoredMaterial:
        """Store once (the same content is the same material) and record `owner` as one of its
        owners; answers the material as stored (an image re-encoded: its own SHA-256); raises
        `MaterialRejected`."""
        ...

    async def get(self, sha256: str) -> bytes | None: ...

    async def stat(self, sha256: str) -> StoredMaterial | None: ...

    async def owned_by(self, sha256: str, caller: MaterialOwner) -> bool:
        """Whether `caller` (or one of its appids) stored this material."""
        ...


class FaceVerifier(Protocol):
    async def problems(self, record: FaceVerification, now: datetime) -> list[str]:
        """Answers what is wrong with the 人脸核身 record (empty when it is good)."""
        ...
