"""The API's own bodies and answers; everything else is the project's models as they are
(`Application`, `FilingStatus`, `DecisionResult`, `PublicEntry`, ...), so the OpenAPI
document and the workflow's contract cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from filing.messages import Decision, Reason, Stage
from filing.models import Application, CancellationRequest, FilingKind, Model


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


class ApplicationRead(BaseModel):
    """The current application (or cancellation request) in clear. Every read is audited."""

    filing_id: str
    kind: FilingKind
    stage: Stage
    attempt: int
    application: Application | None = None
    cancellation: CancellationRequest | None = None
    materials: list[MaterialLink] = Field(default_factory=list)


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
