"""The application (备案申请) as the applicant submits it (SPEC §2, §3).

These models check *shape* only (types, required fields, lengths). The business
rules R1–R8, which need the whole application and the clock at once, live in
`filing.rules` so that every violation can be reported together.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from filing.dates import as_utc

#: A document valid without an end date (长期).
LONG_TERM = "LONG_TERM"
Validity = date | Literal["LONG_TERM"]

#: A material (备案材料, R10) is named by the SHA-256 of its content, lower-case hex: the
#: application carries the name only, never the file (claim check), so scans of 5 MiB
#: never travel in a workflow payload.
MaterialRef = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

# Size limits keep a single application well inside Temporal's payload limits.
_NAME = Field(min_length=1, max_length=100)
_TEXT = Field(min_length=1, max_length=500)
#: 主体备注: WeChat's API gives no limit; 200 characters, the 小程序备注's upper bound, keeps it a note.
SUBJECT_REMARK_MAX = 200


class Model(BaseModel):
    """Base for every payload: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FilingKind(StrEnum):
    NEW = "NEW"  # 新增备案
    CHANGE = "CHANGE"  # 变更备案
    CANCEL_SUBJECT = "CANCEL_SUBJECT"  # 注销主体
    CANCEL_MINI_PROGRAM = "CANCEL_MINI_PROGRAM"  # 注销小程序
    CANCEL_ACCESS = "CANCEL_ACCESS"  # 取消接入

    @property
    def needs_sms(self) -> bool:
        """`CANCEL_ACCESS` is the platform's own act: the MIIT sends no SMS (SPEC §2)."""
        return self is not FilingKind.CANCEL_ACCESS

    @property
    def references_filing(self) -> bool:
        """Every kind but `NEW` acts on an existing filing number (R8)."""
        return self is not FilingKind.NEW

    @property
    def is_cancellation(self) -> bool:
        return self.name.startswith("CANCEL_")


class SubjectType(StrEnum):
    PERSONAL = "PERSONAL"  # 个人
    ENTERPRISE = "ENTERPRISE"  # 企业
    INDIVIDUAL_BUSINESS = "INDIVIDUAL_BUSINESS"  # 个体工商户
    GOVERNMENT = "GOVERNMENT"  # 政府机关
    PUBLIC_INSTITUTION = "PUBLIC_INSTITUTION"  # 事业单位
    SOCIAL_ORGANIZATION = "SOCIAL_ORGANIZATION"  # 社会团体
    OTHER_ORGANIZATION = "OTHER_ORGANIZATION"  # 其他组织 (基金会, 民办非企业单位, ...)


class IdentityDocumentType(StrEnum):
    RESIDENT_ID = "RESIDENT_ID"  # 居民身份证 (GB 11643)
    PASSPORT = "PASSPORT"  # 护照
    HK_MACAO_PERMIT = "HK_MACAO_PERMIT"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "TAIWAN_PERMIT"  # 台湾居民来往大陆通行证
    FOREIGN_PERMANENT_RESIDENT_ID = "FOREIGN_PERMANENT_RESIDENT_ID"  # 外国人永久居留身份证
    #: 港澳台居民居住证 (2018): 18 characters like a resident ID, region code 810000 (Hong Kong),
    #: 820000 (Macao) or 830000 (Taiwan); MIIT's list has it as one document type.
    HK_MACAO_TAIWAN_RESIDENCE_PERMIT = "HK_MACAO_TAIWAN_RESIDENCE_PERMIT"


class UnitCertificateType(StrEnum):
    """Unit certificates; since 2015 all of them carry the 统一社会信用代码 (GB 32100)."""

    BUSINESS_LICENSE = "BUSINESS_LICENSE"  # 营业执照
    PUBLIC_INSTITUTION_CERTIFICATE = "PUBLIC_INSTITUTION_CERTIFICATE"  # 事业单位法人证书
    SOCIAL_ORGANIZATION_CERTIFICATE = "SOCIAL_ORGANIZATION_CERTIFICATE"  # 社会团体法人登记证书
    GOVERNMENT_CODE_CERTIFICATE = "GOVERNMENT_CODE_CERTIFICATE"  # 统一社会信用代码证书 (机关)
    OTHER = "OTHER"


class IdentityDocument(Model):
    """A person's identity document as WeChat's form has it: validity start and end, and
    colour scans of its front (人像面) and back (国徽面) (R2, R10)."""

    type: IdentityDocumentType
    number: str = Field(min_length=1, max_length=32)
    #: First day of validity (有效期起始日期); absent in filings made before issue 17.
    valid_from: date | None = None
    valid_until: Validity
    #: Front of the document (人像面 of an ID card; a passport's photo page) (R10).
    front: MaterialRef | None = None
    #: Back of the document (国徽面 of an ID card) (R10); a passport has none to give.
    back: MaterialRef | None = None
    #: The single colour scan filings carried before front and back were asked for: decodes
    #: in old histories; a new application naming it is answered `R10.single_scan`.
    scan: MaterialRef | None = None


class UnitCertificate(Model):
    type: UnitCertificateType
    number: str = Field(min_length=1, max_length=32)
    valid_until: Validity
    #: Colour scan of the certificate (R10).
    scan: MaterialRef | None = None
    #: 证件住所: the address printed on the certificate (WeChat's `certificate_address`);
    #: empty in filings made before issue 17, required of a new application (R5).
    address: str = Field(default="", max_length=200)


class Address(Model):
    province: str = Field(min_length=1, max_length=20)
    city: str = Field(default="", max_length=50)
    #: 区县 (WeChat's `district`); empty in filings made before issue 17, required of a new one (R5).
    district: str = Field(default="", max_length=50)
    detail: str = Field(default="", max_length=200)


class LegalRepresentative(Model):
    """法人: named when a non-personal subject's principal is not its legal representative (R10).

    WeChat's form asks for the name and the identity number only (`legal_person_info`); the
    subject's authorisation letter (授权书) goes with the principal it authorises
    (`Person.authorization_letter`), not a scan of the legal representative's document."""

    name: str = _NAME
    #: Which document `identity_number` is, for its format check (R3); a resident ID by default.
    identity_type: IdentityDocumentType = IdentityDocumentType.RESIDENT_ID
    identity_number: str | None = Field(default=None, min_length=1, max_length=32)
    #: The whole document with its scan, as filings before issue 17 named it: decodes in old
    #: histories; a new application naming it is answered `R10.legal_representative_document_replaced`.
    identity_document: IdentityDocument | None = None

    @property
    def number(self) -> str | None:
        """The legal representative's identity number, from either shape."""
        if self.identity_number:
            return self.identity_number
        return self.identity_document.number if self.identity_document is not None else None


class Subject(Model):
    """主体."""

    type: SubjectType
    name: str = _NAME
    unit_certificate: UnitCertificate | None = None
    address: Address
    #: A subject that already holds a subject number (主体备案号, `冀ICP备18021892号`) names it
    #: on a NEW filing, so the new mini-program is numbered under it (R8, SPEC §6).
    subject_number: str | None = Field(default=None, max_length=40)
    #: Whether the subject principal is the legal representative (法人); when not, a
    #: non-personal subject names its `legal_representative` (R10).
    principal_is_legal_representative: bool = True
    legal_representative: LegalRepresentative | None = None
    #: 主体备注 (WeChat's `base_info.comment`, optional): what the reviewers should know of the subject.
    remark: str = Field(default="", max_length=SUBJECT_REMARK_MAX)
    #: 居住证明 (WeChat's `personal_info.residence_permit`): a personal subject filing outside the
    #: province of their identity document shows they live there (R10).
    residence_certificate: MaterialRef | None = None


class Person(Model):
    """A responsible person (负责人); identified by their identity document (R4)."""

    name: str = _NAME
    identity_document: IdentityDocument
    mobile: str = Field(max_length=20)
    emergency_mobile: str = Field(max_length=20)
    email: str = Field(default="", max_length=100)
    #: 授权书 (WeChat's `principal_info.authorization_letter`): the subject's letter authorising
    #: this person, when they are not its legal representative (non-personal subjects, R10).
    authorization_letter: MaterialRef | None = None


class PreApproval(Model):
    """前置审批 record for a service category that needs one (R6)."""

    category: str = Field(min_length=1, max_length=50)
    approval_number: str = Field(default="", max_length=100)
    document_name: str = Field(default="", max_length=200)
    #: The pre-approval document itself (前置审批文件, R10).
    document: MaterialRef | None = None


class ExtraMaterial(Model):
    """A province's supplementary material (各省补充材料, R10), by the name its list gives it."""

    name: str = Field(min_length=1, max_length=50)
    sha256: MaterialRef


class MiniProgram(Model):
    appid: str = Field(pattern=r"^wx[0-9a-f]{16}$", description="WeChat appid, e.g. wx1234567890abcdef")
    name: str = _NAME
    #: 服务内容类型 from the service-content type list (`filing.service_types`): at most 5 is a
    #: rule (`R6.too_many_categories`), so a filing recorded with more still decodes.
    service_categories: list[str] = Field(min_length=1, max_length=20)
    pre_approvals: list[PreApproval] = Field(default_factory=list, max_length=20)
    #: 小程序备注: what the mini-program really does, 20–200 characters (a rule, `R6.remark_*`):
    #: reviewers compare it with the categories. None only in filings recorded before it existed.
    remark: str | None = Field(default=None, max_length=2000)
    #: WeChat's explicit answer "以上都不涉及" (the `nrlx_details` entry saying no pre-approval
    #: applies): a NEW or CHANGE names pre-approval records or gives this answer.
    no_pre_approval_needed: bool = False


def _convertible_to_utc(instant: datetime) -> datetime:
    """The rules compare instants in UTC (SPEC §5); one at the calendar's very ends with an
    offset (0001-01-01T00:00+01:00) has no UTC equivalent and is refused here, naming the field."""
    try:
        as_utc(instant)
    except OverflowError:
        raise ValueError("the instant is out of range once converted to UTC") from None
    return instant


class FaceVerification(Model):
    """人脸核身 record, produced by the platform's face-verification service."""

    record_id: str = Field(min_length=1, max_length=64)
    passed: bool
    verified_at: Annotated[datetime, AfterValidator(_convertible_to_utc)]


class MiniProgramPrincipal(Model):
    """小程序负责人: the subject principal again (the default), or a person of its own (R7)."""

    reuse_subject_principal: bool = True
    person: Person | None = None
    face_verification: FaceVerification


class Application(Model):
    """One filing application of any kind (SPEC §2, §3)."""

    kind: FilingKind = FilingKind.NEW
    subject: Subject
    subject_principal: Person
    mini_program: MiniProgram
    mini_program_principal: MiniProgramPrincipal
    #: The existing filing number a CHANGE acts on (R8).
    filing_number: str | None = Field(default=None, max_length=40)
    #: Filings started before cancellations became short requests (`CancellationRequest`)
    #: carried their reason here; kept so their histories still decode.
    cancellation_reason: str | None = Field(default=None, max_length=500)
    #: The province's supplementary materials (R10), where its list asks for them.
    extra_materials: list[ExtraMaterial] = Field(default_factory=list, max_length=20)

    @property
    def appid(self) -> str:
        return self.mini_program.appid

    def materials(self) -> list[tuple[str, str]]:
        """Every material the application names, as (field path, sha256)."""
        found: list[tuple[str, str | None]] = []
        subject = self.subject
        if subject.unit_certificate is not None:
            found.append(("subject.unit_certificate.scan", subject.unit_certificate.scan))
        if subject.residence_certificate is not None:
            found.append(("subject.residence_certificate", subject.residence_certificate))
        representative = subject.legal_representative
        if representative is not None and representative.identity_document is not None:
            found.append(("subject.legal_representative.identity_document.scan", representative.identity_document.scan))
        people = [("subject_principal", self.subject_principal)]
        own = self.mini_program_principal
        if not own.reuse_subject_principal and own.person is not None:
            people.append(("mini_program_principal.person", own.person))
        for path, person in people:
            document = person.identity_document
            for side in ("front", "back", "scan"):
                found.append((f"{path}.identity_document.{side}", getattr(document, side)))
            found.append((f"{path}.authorization_letter", person.authorization_letter))
        for i, record in enumerate(self.mini_program.pre_approvals):
            found.append((f"mini_program.pre_approvals[{i}].document", record.document))
        for i, extra in enumerate(self.extra_materials):
            found.append((f"extra_materials[{i}].sha256", extra.sha256))
        return [(path, sha) for path, sha in found if sha is not None]

    def verifiers(self) -> list[Person]:
        """Who receives the 12381 SMS (L3): the subject principal and, when it is a
        different person, the mini-program principal. Never an emergency contact."""
        people = [self.subject_principal]
        own = self.mini_program_principal
        if not own.reuse_subject_principal and own.person is not None:
            if own.person.identity_document.number.upper() != self.subject_principal.identity_document.number.upper():
                people.append(own.person)
        return people


class CancelReasonType(StrEnum):
    """Why a filing is cancelled: the `reason_type` of WeChat's 注销备案 interface
    (`cancel_icp_filing`: 1 不再运营该小程序, 2 主体信息发生变更，需注销备案后重新备案),
    with OTHER for what neither covers (the free text then says it)."""

    NO_LONGER_OPERATED = "NO_LONGER_OPERATED"  # 1 不再运营该小程序
    SUBJECT_CHANGED = "SUBJECT_CHANGED"  # 2 主体信息发生变更，需注销备案后重新备案
    OTHER = "OTHER"  # 其他（见注销原因）


class CancellationRequest(Model):
    """A cancellation (SPEC §2): a short request, not an application. Who is texted comes
    from the registry (§11), never from the request."""

    kind: FilingKind
    appid: str = Field(pattern=r"^wx[0-9a-f]{16}$", description="WeChat appid, e.g. wx1234567890abcdef")
    #: The number to cancel: a mini-program's service number (`-NX`), or for
    #: CANCEL_SUBJECT the subject number or any of its mini-programs' numbers.
    filing_number: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=500)
    #: WeChat's reason type; optional (as in WeChat's interface, and for requests made before it existed).
    reason_type: CancelReasonType | None = None

    @field_validator("kind")
    @classmethod
    def _a_cancellation(cls, kind: FilingKind) -> FilingKind:
        if not kind.is_cancellation:
            raise ValueError("a cancellation request's kind is CANCEL_SUBJECT, CANCEL_MINI_PROGRAM or CANCEL_ACCESS; "
                             "NEW and CHANGE are applications")
        return kind
