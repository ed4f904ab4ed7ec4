"""A filing's state as data: what `FilingWorkflow` decides on, and what it carries into the
next run when it continues as new (L10).

A filing lives for weeks; its history is cut at each resubmission and whenever the
server suggests it, and everything the next run needs travels here: stage, attempt,
deadlines, the SMS verifiers, pending decisions, the capped timeline and the counts of
what it ignored. No Temporal import: the workflow owns the behaviour, this the shape.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from filing.calendar import Deadline
from filing.messages import (
    PlatformDecision,
    ProvinceDecision,
    ReturnedView,
    Stage,
    TimelineEntry,
)
from filing.models import Application, CancellationRequest, FilingKind, Model
from filing.policy import FilingPolicy
from filing.ports import Notice
from filing.province_materials import ProvinceMaterials

#: L10: the timeline keeps its last entries; older ones are counted, not kept.
TIMELINE_LIMIT = 200
#: The answers of the last updates applied, by update id, kept across runs (Temporal
#: deduplicates an update id within one run only).
ANSWERS_KEPT = 64


class Route(Model):
    """Which stages a filing passes through (SPEC §2, §4), fixed at its start."""

    platform_review: bool
    sms: bool
    #: Applications go back to the applicant (RETURNED); cancellations end instead.
    returns: bool
    withdrawable: bool

    @classmethod
    def of(cls, kind: FilingKind, short_request: bool) -> Route:
        """`short_request` is false for cancellations started as full applications before
        cancellations became requests: they keep the route they started on."""
        if kind.is_cancellation and short_request:
            return cls(platform_review=kind is FilingKind.CANCEL_ACCESS, sms=kind.needs_sms,
                       returns=False, withdrawable=False)
        return cls(platform_review=True, sms=kind.needs_sms, returns=True, withdrawable=True)


class VerifierState(Model):
    """One SMS verifier (L3). The digest is a keyed HMAC: the code itself never gets here."""

    mobile: str
    id_last6: str
    attempts_left: int = 0
    resends_left: int = 0
    resend: int = 0
    digest: str | None = None
    #: What the digest binds: the send's idempotency key (older codes: `code_context`).
    context: str | None = None
    verified: bool = False
    #: A code (the first, or a resend) the main flow is to send: an update never waits on
    #: the gateway, it records the request and the workflow sends.
    send_pending: bool = False


class PendingNotice(Model):
    """A notice not yet delivered when the run continued as new: the next run sends it again
    under the same idempotency key, until `give_up_at` (its first send plus the policy's
    `outside_service_timeout`)."""

    notice: Notice
    give_up_at: datetime


class FilingState(Model):
    """Everything a run of `FilingWorkflow` knows; carried whole into the next run."""

    #: Names the filing itself: `<workflow id>/<first run id>`. Every effect's idempotency
    #: key starts with it, so a later filing of the same appid gets its own effects.
    filing_key: str
    submission_id: str
    kind: FilingKind
    route: Route
    province: str  # filing-number prefix of the subject's province
    application: Application | None = None
    cancellation: CancellationRequest | None = None
    stage: Stage = Stage.SUBMITTED
    attempt: int = 1
    stage_since: datetime
    timeline: list[TimelineEntry] = Field(default_factory=list)
    timeline_dropped: int = 0
    #: L9/L10: messages ignored, by name; their payloads are not kept.
    ignored: dict[str, int] = Field(default_factory=dict)
    returned: ReturnedView | None = None
    #: The RETURNED stage's notice went out (so a continued run does not send it again).
    returned_notified: bool = False
    filing_number: str | None = None
    # The current stage's deadline: a review SLA (business days) or a plain instant.
    deadline: Deadline | None = None
    due_at: datetime | None = None
    sla_breached: bool = False
    calendar_changed: bool = False
    #: The last calendar problem escalated, so one broken file is escalated once.
    calendar_problem: str | None = None
    #: The review stage whose hand-over is done, as `<STAGE>:<attempt>`.
    handed_over: str | None = None
    # Decisions accepted for the current stage and attempt; cleared when a stage is entered.
    platform_decision: PlatformDecision | None = None
    province_decision: ProvinceDecision | None = None
    verifiers: list[VerifierState] = Field(default_factory=list)
    sms_expires_at: datetime | None = None
    sms_exhausted: bool = False
    sms_undeliverable: bool = False
    #: Notices sent so far: the counter makes each notice's idempotency key.
    notices: int = 0
    #: The R6 categories (every name and alias to its canonical name) and the R10 province
    #: lists in force at L1, so the `resubmit` validator judges by the same data without
    #: reading a file (filings of the earlier shape kept the canonical names only).
    preapproval_categories: list[str] = Field(default_factory=list)
    preapproval_index: dict[str, str] = Field(default_factory=dict)
    province_materials: ProvinceMaterials = Field(default_factory=ProvinceMaterials)
    #: The service-content type list and the R6 keyword screen in force at L1 (empty in
    #: filings checked before they existed: the `resubmit` validator then skips them).
    service_types: list[str] = Field(default_factory=list)
    preapproval_keywords: dict[str, list[str]] = Field(default_factory=dict)
    #: Continued runs so far (L10), for the timeline and the tests.
    runs: int = 1
    #: Notices on their way, carried into the next run (L10: a notifier that is down never
    #: holds continue-as-new back).
    pending_notices: list[PendingNotice] = Field(default_factory=list)
    #: The answers of the last `ANSWERS_KEPT` updates applied, by update id: a retried update
    #: that reaches a later run gets the answer it was given, and is not applied twice.
    answers: dict[str, dict[str, object]] = Field(default_factory=dict)

    @property
    def appid(self) -> str:
        if self.application is not None:
            return self.application.appid
        assert self.cancellation is not None
        return self.cancellation.appid

    def verifier(self, mobile: str) -> VerifierState | None:
        return next((v for v in self.verifiers if v.mobile == mobile), None)

    def remember(self, update_id: str, answer: dict[str, object]) -> None:
        self.answers[update_id] = answer
        while len(self.answers) > ANSWERS_KEPT:
            del self.answers[next(iter(self.answers))]

    def record(self, entry: TimelineEntry) -> None:
        self.timeline.append(entry)
        if len(self.timeline) > TIMELINE_LIMIT:
            drop = len(self.timeline) - TIMELINE_LIMIT
            del self.timeline[:drop]
            self.timeline_dropped += drop


class FilingInput(Model):
    """The workflow's start payload: the application (NEW, CHANGE) or the cancellation
    request, the caller's submission id (R9), and the policy in force when it was
    submitted. A continued run (L10) also carries the filing's state (`filing.state`)."""

    application: Application | None = None
    cancellation: CancellationRequest | None = None
    submission_id: str = Field(min_length=1, max_length=128)
    policy: FilingPolicy = Field(default_factory=FilingPolicy)
    #: Where clients reach the codec server (FILINGS_CODEC_URL when it was started), named
    #: when the filing refuses personal data sent without the codec. None: started before
    #: filings carried it, or by a caller that did not say; the refusal then names no address.
    codec_endpoint: str | None = Field(default=None, max_length=2048)
    #: The state of the run this one continues (L10).
    carried: FilingState | None = None

    @model_validator(mode="after")
    def _one_request(self) -> FilingInput:
        if (self.application is None) == (self.cancellation is None):
            raise ValueError("give exactly one of application (NEW, CHANGE) and cancellation (CANCEL_*)")
        return self

    @property
    def kind(self) -> FilingKind:
        return self.application.kind if self.application is not None else self.cancellation.kind  # type: ignore[union-attr]

    @property
    def appid(self) -> str:
        return self.application.appid if self.application is not None else self.cancellation.appid  # type: ignore[union-attr]
