"""The workflow's messages (SPEC §7): the contract reviewer tools and integrators rely on.

Field names here are part of the contract: the official `temporal` CLI sends these as
plain JSON, so they stay flat and spelled exactly as in the SPEC.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from filing.models import Application, CancellationRequest, FilingKind, Model


class Stage(StrEnum):
    SUBMITTED = "SUBMITTED"
    PLATFORM_REVIEW = "PLATFORM_REVIEW"  # 平台初审
    SMS_VERIFICATION = "SMS_VERIFICATION"  # 工信部短信核验
    PROVINCIAL_REVIEW = "PROVINCIAL_REVIEW"  # 通管局审核
    APPROVED = "APPROVED"  # 备案成功
    RETURNED = "RETURNED"  # 退回 / 驳回
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"  # cancellations only: refused at L1, by the platform or by the province

    @property
    def is_terminal(self) -> bool:
        return self in (Stage.APPROVED, Stage.WITHDRAWN, Stage.EXPIRED, Stage.REJECTED)


#: L7: the stages from which the applicant may withdraw.
WITHDRAWABLE = frozenset({Stage.SUBMITTED, Stage.PLATFORM_REVIEW, Stage.RETURNED})


class ReturnedBy(StrEnum):
    SUBMISSION = "SUBMISSION"
    PLATFORM = "PLATFORM"
    MIIT_SMS = "MIIT_SMS"
    PROVINCE = "PROVINCE"


class Reason(Model):
    """Why something was returned, per field, as reviewers write it."""

    field: str = Field(min_length=1, max_length=200)
    error: str = Field(min_length=1, max_length=1000)
    suggestion: str | None = Field(default=None, max_length=1000)


class Violation(Model):
    """A rule violation (R1–R8): field path, stable key, and a message in both languages."""

    field: str
    key: str  # e.g. "R4.shared_mobile"
    message_zh: str
    message_en: str

    def as_reason(self) -> Reason:
        return Reason(field=self.field, error=f"{self.key}: {self.message_en}", suggestion=self.message_zh)


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class PlatformDecision(Model):
    """`platform_decision` signal (平台初审 result)."""

    decision: Decision
    reviewer: str = Field(min_length=1, max_length=64)
    reasons: list[Reason] = Field(default_factory=list, max_length=50)
    attempt: int | None = Field(default=None, ge=1)


class ProvinceDecision(Model):
    """`province_decision` signal (通管局审核 result)."""

    decision: Decision
    reviewer: str = Field(min_length=1, max_length=64)
    filing_number: str | None = Field(default=None, max_length=40)
    reasons: list[Reason] = Field(default_factory=list, max_length=50)
    attempt: int | None = Field(default=None, ge=1)


class SmsCodeEntry(Model):
    """`verify_sms_code` update: what the verifier types on the MIIT site."""

    mobile: str = Field(pattern=r"^1[3-9]\d{9}$")
    code: str = Field(pattern=r"^\d{6}$", repr=False)
    id_last6: str = Field(pattern=r"^[0-9A-Za-z]{6}$", repr=False)


class SmsVerifyResult(Model):
    result: Literal["verified", "wrong_code", "no_valid_code"]
    attempts_left: int
    all_verified: bool


class SmsResendRequest(Model):
    mobile: str = Field(pattern=r"^1[3-9]\d{9}$")


class SmsResendResult(Model):
    """`sent` is true when a new code is on its way: the workflow sends it right after
    answering (an update never waits on the SMS gateway); `status` shows it."""

    sent: bool
    resends_left: int
    reason: str | None = None


class DecisionResult(Model):
    """The answer to a reviewer's decision sent as an update (`decide_platform`,
    `decide_province`): applied, or not applied with why (L9)."""

    applied: bool
    stage: Stage
    attempt: int
    why: str | None = None
    filing_number: str | None = None


class Resubmission(Model):
    application: Application


class ResubmitResult(Model):
    attempt: int


class WithdrawRequest(Model):
    reason: str = Field(min_length=1, max_length=500)


class WithdrawResult(Model):
    stage: Stage


class CalendarUpdated(Model):
    """`calendar_updated` signal: the operators loaded new calendar data."""


class DeadlineView(Model):
    due_at: datetime
    provisional: bool
    sla_breached: bool


class VerifierView(Model):
    mobile: str  # masked
    verified: bool
    attempts_left: int
    resends_left: int


class SmsView(Model):
    expires_at: datetime | None
    verifiers: list[VerifierView]


class ReturnedView(Model):
    by: ReturnedBy
    reasons: list[Reason]


class TimelineEntry(Model):
    at: datetime
    event: str
    #: The engine's own note (English, for operators and the CLI; pages say `event` in Chinese).
    detail: str | None = None
    #: A return or refusal: how many reasons it gave ("平台初审驳回：2 项需修改"); None in
    #: entries recorded before it was kept, and on every other event.
    reasons: int | None = None


class FilingStatus(Model):
    """The `status` query's answer. Holds no personal data in clear (SPEC §9)."""

    filing_id: str
    kind: FilingKind
    stage: Stage
    attempt: int
    deadline: DeadlineView | None = None
    sms: SmsView | None = None
    returned: ReturnedView | None = None
    filing_number: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    #: L10: the timeline keeps its last entries; this many older ones were dropped.
    timeline_dropped: int = 0
    #: L10: messages ignored (L9) by name, counted; their payloads are not kept.
    ignored: dict[str, int] = Field(default_factory=dict)
    appid: str | None = None
    province: str | None = None  # filing-number prefix of the subject's province


class FilingOutcome(Model):
    """The workflow's result: a summary (L10), the timeline's last entries only."""

    stage: Stage
    kind: FilingKind
    filing_number: str | None
    attempts: int
    timeline: list[TimelineEntry]
    timeline_dropped: int = 0
    returned: ReturnedView | None = None


class ApplicationView(Model):
    """The `application` query: the current application (or cancellation request) in
    clear, for the filing service only (SPEC §9, §12: reviewers' reads are audited there)."""

    filing_id: str
    kind: FilingKind
    stage: Stage
    attempt: int
    application: Application | None = None
    cancellation: CancellationRequest | None = None
    #: SHA-256 of every material the application names.
    materials: list[str] = Field(default_factory=list)
