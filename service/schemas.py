"""The API's own bodies and answers; everything else is the project's models as they are
(`Application`, `FilingStatus`, `DecisionResult`, `PublicEntry`, ...), so the OpenAPI
document and the workflow's contract cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from filing.field_labels import label
from filing.messages import Decision, Reason, Stage
from filing.models import Application, CancellationRequest, FilingKind, Model
from filing.preapproval import declared_hits
from filing.registry import RecordState


class FilingStarted(BaseModel):
    filing_id: str
    stage: str
    status: Literal["started", "already_running"]


class PlatformDecisionBody(Model):
    """平台初审: the reviewer is the token's `sub`, never a field here."""

    decision: Decision
    reasons: list[Reason] = Field(default_factory=list, max_length=50)
    attempt: int | None = Field(default=None, ge=1, le=1_000_000)


class ProvinceDecisionBody(Model):
    """通管局审核: an approval carries the issued filing number (see `next-number`)."""

    decision: Decision
    filing_number: str | None = Field(default=None, max_length=40)
    reasons: list[Reason] = Field(default_factory=list, max_length=50)
    attempt: int | None = Field(default=None, ge=1, le=1_000_000)


class FilingListItem(BaseModel):
    """One filing as its search attributes show it (no personal data)."""

    filing_id: str
    run_id: str
    running: bool
    stage: str
    kind: str
    province: str
    appid: str
    attempt: int | None
    deadline: datetime | None
    provisional: bool
    sla_breached: bool
    overdue: bool
    started_at: datetime


class FilingPage(BaseModel):
    items: list[FilingListItem]
    total: int = Field(description="Filings matching the filters (counted by the server).")
    next: str | None = Field(default=None, description="Pass as `cursor` for the next page; null on the last page.")


class MaterialLink(BaseModel):
    sha256: str
    field: str = Field(description="Where the application names it, e.g. subject_principal.identity_document.scan.")
    href: str = Field(description="GET it here (audited).")


class ScreenFlag(BaseModel):
    """前置审批提示: R6's keyword screen found a pre-approval category in an application that
    answered "以上都不涉及" and names no record of it. A keyword is a hint, so the application
    was accepted; the reviewer judges whether the declaration holds."""

    field: str = Field(description="Where the keyword was found: mini_program.name, mini_program.remark or "
                                   "mini_program.service_categories[i].")
    label_zh: str = Field(description="That field's Chinese label, as the console shows it (服务类目（第1项）).")
    keyword: str = Field(description="The keyword found (在线问诊).")
    category: str = Field(description="The pre-approval category it hints at (医疗保健).")

    @staticmethod
    def of(application: Application | None) -> list[ScreenFlag]:
        """The flags of an application, on the packaged keyword screen; none for a cancellation."""
        if application is None:
            return []
        return [ScreenFlag(field=hit.field, label_zh=label(hit.field), keyword=hit.keyword, category=hit.category)
                for hit in declared_hits(application)]


class ApplicationRead(BaseModel):
    """The current application (or cancellation request) in clear. Every read is audited."""

    filing_id: str
    kind: FilingKind
    stage: Stage
    attempt: int
    application: Application | None = None
    cancellation: CancellationRequest | None = None
    materials: list[MaterialLink] = Field(default_factory=list)
    screen_flags: list[ScreenFlag] = Field(
        default_factory=list, description="前置审批提示 for the reviewer: keyword-screen hits the applicant answered "
                                          "\"以上都不涉及\" for (R6); empty when there are none.")


class NextNumber(BaseModel):
    subject_number: str | None = Field(description="The subject's number (主体备案号), when it has one.")
    number: str | None = Field(description="The next service number never issued under it, or null.")


class CalendarRefreshed(BaseModel):
    calendar_version: str
    signalled: int = Field(description="Filings with a provisional deadline told to recompute it.")
    filings: list[str]
    finished_meanwhile: list[str] = Field(default_factory=list)


class HealthCheck(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    checks: dict[str, HealthCheck]


class MobileVerifyResult(Model):
    """`POST /v1/sms/verify`'s answer (工信部短信核验 by mobile): nothing in it names a filing."""

    result: Literal["verified", "wrong_code", "no_valid_code", "no_open_verification"]
    attempts_left: int
    all_verified: bool
    #: What the verification page shows (the MIIT site's wording).
    message_zh: str


class OnRecordApplication(BaseModel):
    """What the registry holds of an approved filing, in clear, for its applicant's CHANGE once
    the filing's workflow is gone (past the namespace's retention). Every read is audited."""

    appid: str
    filing_number: str = Field(title="服务备案号")
    approved_at: datetime
    application: dict[str, Any] = Field(
        description="A partial application (its JSON shape): kind CHANGE, the number, the subject (name, type, "
                    "province, a unit's certificate), the mini-program's appid and name, and both principals as "
                    "approved. Not a valid application by itself: complete it, then check or start it.")
    missing: list[str] = Field(
        description="The sections the registry does not hold, in Chinese for the applicant: fill them in again.")


class OnRecord(Model):
    """The registry's record of a mini-program, for its applicant (no personal data in clear)."""

    appid: str
    service_number: str = Field(title="服务备案号")
    subject_number: str = Field(title="主体备案号")
    service_name: str = Field(title="服务名称")
    subject_name: str = Field(title="主办单位名称")
    province: str
    state: RecordState
    approved_at: datetime
    #: Per cancellation kind, the masked mobiles the MIIT's 12381 SMS would go to: the subject
    #: principal on record (注销主体), the mini-program principal on record (注销小程序), nobody (取消接入).
    sms_to: dict[FilingKind, list[str]]
    #: The other mini-programs of the subject on record that a 注销主体 cancels too (their service numbers).
    subject_mini_programs: list[str] = Field(default_factory=list)
