"""The registry of filings (备案库, SPEC §11) as data: what it holds, what L8 writes, what
the public may read. The port is `filing.ports.Registry`; implementations live in `registry/`.

The registry is the system of record of what has been filed, apart from the workflows
(which end and are deleted after their retention). Numbers follow SPEC §6: a subject
number (`冀ICP备18021892号`) and, under it, one service number per mini-program
(`冀ICP备18021892号-2X`), each issued once, never reused, also after a cancellation.
"""

from __future__ import annotations

from datetime import datetime
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


class RegistryOutcome(Model):
    """The answer to a `RegistryChange`: applied, or not applied with why (L9)."""

    applied: bool
    #: A stable key (`number_taken`, `number_outside_subject`, `subject_number_taken`,
    #: `not_active`, `filing_recorded_otherwise`) and an explanation, when not applied.
    why_key: str | None = None
    why: str | None = None
    service_number: str | None = None
    subject_number: str | None = None
    #: The service numbers a cancellation marked cancelled.
    cancelled: list[str] = Field(default_factory=list)


class PublicEntry(Model):
    """What MIIT publishes for a filing (备案查询), and nothing else: no personal data."""

    subject_name: str
    subject_type: SubjectType
    subject_number: str
    mini_program_name: str
    service_number: str
    approved_at: datetime
    state: RecordState


class ImportEntry(Model):
    """One filing made before this system (`filings registry import`): the facts of the
    application as it was approved, its service number and approval date."""

    application: Application
    service_number: str
    approved_at: datetime
    state: RecordState = RecordState.ACTIVE
