"""The registry of filings (备案库, SPEC §11) as data: what it holds, what L8 writes, what
the public may read. The port is `filing.ports.Registry`; implementations live in `registry/`.

The registry is the system of record of what has been filed, apart from the workflows
(which end and are deleted after their retention). Numbers follow SPEC §6: a subject
number (`冀ICP备18021892号`) and, under it, one service number per mini-program
(`冀ICP备18021892号-2X`), each issued once, never reused, also after a cancellation.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from filing.models import Application, FilingKind, Model, Person, SubjectType


class RecordState(StrEnum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"  # 注销主体 / 注销小程序
    ACCESS_CANCELLED = "ACCESS_CANCELLED"  # 取消接入: the number stays, the platform no longer hosts it


class SubjectRecord(Model):
    """A subject (主体) with its subject number. No personal data: the principal is kept
    apart, encrypted (`PeopleOnRecord`)."""

    subject_number: str
    name: str
    type: SubjectType
    province: str  # filing-number prefix, e.g. 冀
    state: RecordState
    created_at: datetime
    updated_at: datetime
    #: Whether the registry knows the subject's certificate (not yet for a subject recorded
    #: before issue 17 until `filings registry identify-subjects` or its next NEW fills it).
    identified: bool = False
    #: A unit subject's certificate as recorded (not personal data; a personal subject's
    #: identity document is sealed and never here): a CHANGE's prefill once its workflow is gone.
    unit_certificate_type: str | None = None
    unit_certificate_number: str | None = None


class SubjectCertificate(Model):
    """Who a subject is (SPEC §11, issue 17): the unit certificate of a non-personal subject
    (its 统一社会信用代码, whatever certificate carries it, compared case-insensitively), the
    identity document (type + number) of a personal one, which is the subject principal's.
    One subject number per certificate, in one province."""

    personal: bool
    type: str
    number: str

    @property
    def canonical(self) -> str:
        """What two certificates are compared on (and digested as)."""
        if self.personal:
            return f"PERSON|{self.type}|{self.number.strip().upper()}"
        return f"UNIT|{self.number.strip().upper()}"

    @classmethod
    def of(cls, application: Application) -> SubjectCertificate | None:
        """The application's subject certificate; None when it names none (R5 says so)."""
        subject = application.subject
        if subject.type is SubjectType.PERSONAL:
            document = application.subject_principal.identity_document
            return cls(personal=True, type=document.type.value, number=document.number)
        if subject.unit_certificate is None:
            return None
        return cls(personal=False, type=subject.unit_certificate.type.value, number=subject.unit_certificate.number)


class MiniProgramRecord(Model):
    """A mini-program's filing: its service number, its subject and its state."""

    service_number: str
    appid: str
    name: str
    subject_number: str
    subject_name: str
    subject_type: SubjectType
    province: str
    state: RecordState
    approved_at: datetime
    updated_at: datetime
    #: The workflow id of the filing that made the last change.
    last_filing_id: str | None = None


class PeopleOnRecord(Model):
    """Who the registry texts for a cancellation (SPEC §2): stored encrypted at rest."""

    subject_principal: Person
    mini_program_principal: Person


class RegistryChange(Model):
    """What an approved filing writes (L8). Applied once per `filing_key`: a retried or
    replayed write answers the first outcome and changes nothing."""

    #: Names the filing itself (its first run), never only the workflow id: a later filing
    #: of the same appid reuses the workflow id (SPEC §8).
    filing_key: str = Field(min_length=1, max_length=200)
    filing_id: str
    kind: FilingKind
    appid: str
    #: NEW: the issued service number. CHANGE: the number it changes. Cancellations: the
    #: number named by the request (for CANCEL_SUBJECT, the subject or a mini-program number).
    number: str
    approved_at: datetime
    #: NEW and CHANGE: the facts recorded (subject, people, mini-program).
    application: Application | None = None
    #: When the provincial review this approval ends began (the forecast's samples, issue 19);
    #: None from filings of the earlier shape and for what no province reviewed.
    review_started_at: datetime | None = None


class RegistryOutcome(Model):
    """The answer to a `RegistryChange`: applied, or not applied with why (L9)."""

    applied: bool
    #: A stable key (`number_taken`, `number_outside_subject`, `subject_number_taken`,
    #: `not_active`, `filing_recorded_otherwise`, `subject_on_record_elsewhere`, ...) and an
    #: explanation, when not applied.
    why_key: str | None = None
    why: str | None = None
    #: The explanation in Chinese, where one is given (issue 17's refusals: the subject on record).
    why_zh: str | None = None
    service_number: str | None = None
    subject_number: str | None = None
    #: The service numbers a cancellation marked cancelled.
    cancelled: list[str] = Field(default_factory=list)


class PublicEntry(Model):
    """What MIIT publishes for a filing (备案查询), and nothing else: no personal data.

    The eight fields of MIIT's lookup, plus the record's `state`, since a lookup asked to
    include cancelled filings (MIIT shows none) must say which ones are."""

    subject_name: str = Field(title="主办单位名称", description="A personal subject's name is masked.")
    subject_type: SubjectType = Field(title="主办单位性质")
    subject_number: str = Field(title="主体备案号", description="Or the operating licence's number (粤B2-20090059).")
    service_number: str = Field(title="服务备案号")
    service_name: str = Field(title="服务名称")
    approval_date: date = Field(title="审核日期", description="The day of the approval, China time.")
    pre_approvals: list[str] = Field(
        default_factory=list, title="服务前置审批项",
        description="The categories approved in advance (R6); empty: none (or recorded before they were kept).")
    access_restricted: bool = Field(
        title="是否限制接入", description="true (是) when access was cancelled (取消接入, ACCESS_CANCELLED).")
    state: RecordState = Field(description="ACTIVE, ACCESS_CANCELLED, or CANCELLED (only when asked for).")


class ImportEntry(Model):
    """One filing made before this system (`filings registry import`): the facts of the
    application as it was approved, its service number and approval date."""

    application: Application
    service_number: str
    approved_at: datetime
    state: RecordState = RecordState.ACTIVE
