"""The application rules R1–R8 and R10 (SPEC §3), run together so every violation is reported at once.

Each rule is a generator of `Violation`s over one `_Context`; none stops at the first
problem. Rules are pure: the clock, the R6 category list, the provinces' material lists
and the material store's answer come in as arguments, so the workflow's `resubmit`
validator can run them deterministically, and the worker re-runs the clock-dependent
ones (`CLOCK_RULES`) at submission (L1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from filing.dates import add_months, as_utc, china_date
from filing.filing_number import InvalidFilingNumber, parse_filing_number
from filing.ids import is_valid_identity_number, is_valid_unit_certificate_number
from filing.messages import Violation
from filing.models import (
    Application,
    FilingKind,
    IdentityDocument,
    IdentityDocumentType,
    Person,
    SubjectType,
    UnitCertificateType,
    Validity,
)
from filing.materials import legal_representative_applies, r10_violations
from filing.ports import StoredMaterial
from filing.preapproval import (
    CategoryIndex,
    KeywordIndex,
    category_index,
    load_preapproval_index,
    load_preapproval_keywords,
    screen,
)
from filing.service_types import MAX_SERVICE_CATEGORIES, SOURCE_NAME, load_service_types, resolve
from filing.province_materials import ProvinceMaterials, load_province_materials
from filing.provinces import find_province
from filing.schema_errors import violations_from_validation_error

ALL_RULES = frozenset({"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R10"})
#: Rules whose outcome depends on the clock or outside services: re-checked at submission (L1).
CLOCK_RULES = frozenset({"R2", "R7"})

#: An application is a few KB; the limit keeps any one payload far below Temporal's
#: blob limits (every field has its own limit too, see `filing.models`).
MAX_APPLICATION_BYTES = 64 * 1024

MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_HINT = ("11位大陆手机号，以13–19开头", "an 11-digit mainland mobile starting with 13–19")

_U = UnitCertificateType
#: Which unit certificates each subject type may hold; OTHER covers the rarer registrations.
CERTIFICATES_FOR: dict[SubjectType, frozenset[UnitCertificateType]] = {
    SubjectType.ENTERPRISE: frozenset({_U.BUSINESS_LICENSE, _U.OTHER}),
    SubjectType.INDIVIDUAL_BUSINESS: frozenset({_U.BUSINESS_LICENSE}),
    SubjectType.GOVERNMENT: frozenset({_U.GOVERNMENT_CODE_CERTIFICATE, _U.OTHER}),
    SubjectType.PUBLIC_INSTITUTION: frozenset({_U.PUBLIC_INSTITUTION_CERTIFICATE, _U.OTHER}),
    SubjectType.SOCIAL_ORGANIZATION: frozenset({_U.SOCIAL_ORGANIZATION_CERTIFICATE, _U.OTHER}),
    SubjectType.OTHER_ORGANIZATION: frozenset(_U),
}

#: R3: (key, what a valid number looks like in Chinese, in English).
_ID_FORMATS: dict[IdentityDocumentType, tuple[str, str, str]] = {
    IdentityDocumentType.RESIDENT_ID: (
        "R3.invalid_resident_id",
        "居民身份证号应为18位：6位大陆地区码、8位真实出生日期、3位顺序码和GB 11643校验码（0–9或X）",
        "a resident ID has 18 characters: a 6-digit mainland region code, a real birth date "
        "YYYYMMDD, a 3-digit sequence and the GB 11643 check character (0-9 or X)",
    ),
    IdentityDocumentType.PASSPORT: (
        "R3.invalid_passport",
        "护照号码应为5–17位字母或数字，且至少含一位数字",
        "a passport number has 5 to 17 letters or digits, at least one of them a digit",
    ),
    IdentityDocumentType.HK_MACAO_PERMIT: (
        "R3.invalid_hk_macao_permit",
        "港澳居民来往内地通行证号码应为H或M加8位或10位数字",
        "a Hong Kong/Macao permit number is H or M followed by 8 or 10 digits",
    ),
    IdentityDocumentType.TAIWAN_PERMIT: (
        "R3.invalid_taiwan_permit",
        "台湾居民来往大陆通行证号码应为8位数字",
        "a Taiwan permit number has 8 digits",
    ),
    IdentityDocumentType.FOREIGN_PERMANENT_RESIDENT_ID: (
        "R3.invalid_foreign_permanent_resident_id",
        "外国人永久居留身份证号码应为15位（3位字母国籍代码加12位数字）或以9开头的18位新号码（含GB 11643校验码）",
        "a foreign permanent resident ID has 15 characters (3-letter nationality and 12 digits) "
        "or, since 2023, 18 characters starting with 9 with a GB 11643 check character",
    ),
    IdentityDocumentType.HK_MACAO_TAIWAN_RESIDENCE_PERMIT: (
        "R3.invalid_residence_permit",
        "港澳台居民居住证号码应为18位：810000（香港）、820000（澳门）或830000（台湾），8位真实出生日期、3位顺序码和GB 11643校验码（0–9或X）",
        "a Hong Kong/Macao/Taiwan residents' residence permit number has 18 characters: 810000 (Hong Kong), "
        "820000 (Macao) or 830000 (Taiwan), a real birth date YYYYMMDD, a 3-digit sequence and the "
        "GB 11643 check character (0-9 or X)",
    ),
}


@dataclass(frozen=True, slots=True)
class _Context:
    app: Application
    now: datetime  # UTC
    today: date  # submission day in China
    categories: CategoryIndex  # R6: every name and alias -> canonical name
    validity_months: int
    face_max_age: timedelta
    clock_skew: timedelta
    province_lists: ProvinceMaterials  # R10
    materials: Mapping[str, StoredMaterial | None] | None  # R10: the store's answer, if asked
    past_filing: bool  # a filing made before this system: the form's later fields are not asked
    service_types: Collection[str] = ()  # R6 form: `父类-子类` names; empty = not known (skip)
    keywords: KeywordIndex = field(default_factory=dict)  # R6: the keyword screen

    def people(self) -> list[tuple[str, Person]]:
        """The people the filing names, with their field paths; an ignored person is not one."""
        people = [("subject_principal", self.app.subject_principal)]
        own = self.app.mini_program_principal
        if not own.reuse_subject_principal and own.person is not None:
            people.append(("mini_program_principal.person", own.person))
        return people

    def identity_documents(self) -> list[tuple[str, IdentityDocument]]:
        """R2/R3 judge the people's documents (the legal representative gives a number only)."""
        return [(f"{path}.identity_document", person.identity_document) for path, person in self.people()]


def _v(field: str, key: str, zh: str, en: str) -> Violation:
    return Violation(field=field, key=key, message_zh=zh, message_en=en)


def _person_id(person: Person) -> str:
    return person.identity_document.number.strip().upper()


def _r1_subject_type(c: _Context) -> Iterator[Violation]:
    subject = c.app.subject
    cert = subject.unit_certificate
    if subject.type is SubjectType.PERSONAL:
        if cert is not None:
            yield _v(
                "subject.unit_certificate",
                "R1.personal_with_unit_certificate",
                "个人主体不应提交单位证件，请删除单位证件或选择单位主体类型",
                "a personal subject has no unit certificate: remove it or choose a non-personal subject type",
            )
        if subject.name != c.app.subject_principal.name:
            yield _v(
                "subject.name",
                "R1.personal_name_mismatch",
                "个人主体的主体名称应为主体负责人本人姓名",
                "a personal subject's name must be the subject principal's own name",
            )
    elif cert is None:
        yield _v(
            "subject.unit_certificate",
            "R1.unit_certificate_missing",
            "非个人主体须提交单位证件（如营业执照，含统一社会信用代码）",
            "a non-personal subject needs a unit certificate "
            "(e.g. a business licence with its unified social credit code)",
        )
    elif cert.type not in CERTIFICATES_FOR[subject.type]:
        allowed = ", ".join(sorted(CERTIFICATES_FOR[subject.type]))
        yield _v(
            "subject.unit_certificate.type",
            "R1.certificate_type_mismatch",
            f"主体类型 {subject.type} 不能使用证件类型 {cert.type}，可用：{allowed}",
            f"subject type {subject.type} cannot hold a {cert.type}; allowed: {allowed}",
        )


def _r2_validity(c: _Context) -> Iterator[Violation]:
    limit = add_months(c.today, c.validity_months)
    docs: list[tuple[str, Validity]] = [(path, doc.valid_until) for path, doc in c.identity_documents()]
    if c.app.subject.unit_certificate is not None:
        docs.insert(0, ("subject.unit_certificate", c.app.subject.unit_certificate.valid_until))
    for path, until in docs:
        if isinstance(until, str) or until > limit:  # the only string is LONG_TERM
            continue
        expired = until < c.today
        yield _v(
            f"{path}.valid_until",
            "R2.expired" if expired else "R2.expires_too_soon",
            f"证件有效期至{until}，{'已过期' if expired else '剩余有效期不足'}；有效期须大于{c.validity_months}个月，"
            f"即晚于{limit}（提交日{c.today}，北京时间），或为长期",
            f"valid until {until}, {'already expired' if expired else 'too soon'}: it must stay valid more than "
            f"{c.validity_months} month(s) after the submission day {c.today} (China time), "
            f"i.e. until after {limit}, or be LONG_TERM",
        )
    if not c.past_filing:
        for path, doc in c.identity_documents():
            yield from _validity_start(c, path, doc)


def _validity_start(c: _Context, path: str, doc: IdentityDocument) -> Iterator[Violation]:
    """WeChat's form asks each principal's document validity start (`certificate_validity_date_start`)."""
    start = doc.valid_from
    if start is None:
        yield _v(f"{path}.valid_from", "R2.valid_from_missing",
                 "请填写证件有效期起始日期（证件上的签发或有效期开始日期）",
                 "the document's validity start date (valid_from, as printed on it) is missing")
    elif start > c.today:
        yield _v(f"{path}.valid_from", "R2.valid_from_in_future",
                 f"证件有效期起始日期{start}晚于提交日{c.today}（北京时间），请按证件填写",
                 f"the validity start {start} is after the submission day {c.today} (China time): "
                 "give the date printed on the document")
    elif not isinstance(doc.valid_until, str) and doc.valid_until <= start:
        yield _v(f"{path}.valid_from", "R2.validity_reversed",
                 f"证件有效期起始日期{start}应早于截止日期{doc.valid_until}",
                 f"the validity start {start} must be before its end {doc.valid_until}")


def _r3_numbers(c: _Context) -> Iterator[Violation]:
    cert = c.app.subject.unit_certificate
    if cert is not None and not is_valid_unit_certificate_number(cert.type, cert.number):
        if cert.type is UnitCertificateType.OTHER:
            yield _v(
                "subject.unit_certificate.number",
                "R3.invalid_certificate_number",
                "证件号码应为18位字母或数字",
                "the certificate number must have 18 letters or digits",
            )
        else:
            yield _v(
                "subject.unit_certificate.number",
                "R3.invalid_uscc",
                "统一社会信用代码应为18位（不含I、O、Z、S、V），第3–8位为行政区划码，末位为GB 32100校验码",
                "a unified social credit code has 18 characters (no I, O, Z, S, V), a 6-digit region "
                "code at positions 3-8 and the GB 32100 check character last",
            )
    for path, doc in c.identity_documents():
        if not is_valid_identity_number(doc.type, doc.number, today=c.today):
            key, zh, en = _ID_FORMATS[doc.type]
            yield _v(f"{path}.number", key, zh, en)
    representative = c.app.subject.legal_representative
    if representative is not None and representative.identity_number and legal_representative_applies(c.app):
        if not is_valid_identity_number(representative.identity_type, representative.identity_number, today=c.today):
            key, zh, en = _ID_FORMATS[representative.identity_type]
            yield _v("subject.legal_representative.identity_number", key, zh, en)


def _r4_phones(c: _Context) -> Iterator[Violation]:
    yield from _r4_formats_and_own(c)
    yield from _r4_across_people(c)


def _r4_across_people(c: _Context) -> Iterator[Violation]:
    """不同人不能使用同一个号码: any number of one person (mobile or emergency) against any of
    another's; the same person twice (same identity document) is one person."""
    owner_of: dict[str, tuple[str, str]] = {}  # number -> (identity number, field path) of its first user
    for path, person in c.people():
        for attr in ("mobile", "emergency_mobile"):
            number = getattr(person, attr)
            if not MOBILE.fullmatch(number):
                continue
            owner, first = owner_of.setdefault(number, (_person_id(person), f"{path}.{attr}"))
            if owner != _person_id(person):
                yield _v(
                    f"{path}.{attr}",
                    "R4.shared_mobile",
                    f"不同人不能使用同一个手机号码：该号码已填写为{_number_zh(first)}，请填写本人使用的号码",
                    f"different people (different identity documents) may not use the same mobile: this number "
                    f"is already given as {first}; give each person their own",
                )


_WHO_ZH = {"subject_principal": "主体负责人", "mini_program_principal.person": "小程序负责人"}
_NUMBER_ZH = {"mobile": "手机号码", "emergency_mobile": "应急联系人手机号码"}


def _number_zh(path: str) -> str:
    """`subject_principal.emergency_mobile` -> 主体负责人的应急联系人手机号码."""
    who, attr = path.rsplit(".", 1)
    return f"{_WHO_ZH.get(who, who)}的{_NUMBER_ZH.get(attr, attr)}"


def _r4_formats_and_own(c: _Context) -> Iterator[Violation]:
    for path, person in c.people():
        for attr in ("mobile", "emergency_mobile"):
            if not MOBILE.fullmatch(getattr(person, attr)):
                yield _v(
                    f"{path}.{attr}",
                    "R4.invalid_mobile",
                    f"手机号码格式不正确，应为{_MOBILE_HINT[0]}",
                    f"not a valid mobile: use {_MOBILE_HINT[1]}",
                )
        if not MOBILE.fullmatch(person.mobile):
            continue
        if person.emergency_mobile == person.mobile:
            yield _v(
                f"{path}.emergency_mobile",
                "R4.emergency_same_as_own",
                "应急联系人手机号码不能与本人手机号码相同",
                "the emergency-contact mobile must differ from the person's own mobile",
            )


def _r5_address(c: _Context) -> Iterator[Violation]:
    address = c.app.subject.address
    if find_province(address.province) is None:
        yield _v(
            "subject.address.province",
            "R5.unknown_province",
            "省份应为31个大陆省级行政区之一，填写全称或简称（如 河北省 或 河北）",
            "the province must be one of the 31 mainland provincial-level regions, "
            "by full or short name (e.g. 河北省 or 河北)",
        )
    if not address.city:
        yield _v("subject.address.city", "R5.city_missing", "请填写所在城市", "the city is missing")
    if not address.detail:
        yield _v(
            "subject.address.detail",
            "R5.detail_missing",
            "请填写实际通讯地址（详细地址）",
            "the detailed mailing address is missing",
        )
    if c.past_filing:
        return
    if not address.district:
        yield _v("subject.address.district", "R5.district_missing", "请填写所在区县",
                 "the district (区县) is missing")
    cert = c.app.subject.unit_certificate
    if c.app.subject.type is not SubjectType.PERSONAL and cert is not None and not cert.address:
        yield _v("subject.unit_certificate.address", "R5.certificate_address_missing",
                 "请填写证件住所（单位证件上登记的住所或地址）",
                 "the address printed on the unit certificate (证件住所) is missing")


def _as_named(given: str, canonical: str | None) -> tuple[str, str]:
    """How a category is quoted in a message: as written, and which listed category that is."""
    if canonical is None or canonical == given:
        return f"“{given}”", f"'{given}'"
    return f"“{given}”（即“{canonical}”）", f"'{given}' (that is, '{canonical}')"


def _listed(categories: CategoryIndex, name: str) -> str | None:
    """The pre-approval category a service category is: by its whole name, or by its
    second-level part (`交通出行-网约车` is 网约车, that is 网络预约车)."""
    name = name.strip()
    return categories.get(name) or categories.get(name.split("-", 1)[-1])


def _r6_pre_approval(c: _Context) -> Iterator[Violation]:
    """Categories are compared by their canonical name, so 网约车 and 网络预约车 are one category.
    Then, except for a past filing, the mini-program's fields of WeChat's current form (`_form`)."""
    mp = c.app.mini_program

    def canonical(name: str) -> str:
        return _listed(c.categories, name) or name

    declared = {canonical(name) for name in mp.service_categories}
    recorded = {canonical(p.category) for p in mp.pre_approvals}
    for i, category in enumerate(mp.service_categories):
        listed = _listed(c.categories, category)
        if listed is not None and listed not in recorded:
            zh, en = _as_named(category, listed)
            yield _v(
                f"mini_program.service_categories[{i}]",
                "R6.pre_approval_missing",
                f"服务类目{zh}须经主管部门前置审批，请添加该类目的前置审批记录（审批号、文件名和前置审批文件）",
                f"the service category {en} needs a pre-approval: add a pre_approvals entry "
                "for it with the approval number, the document name and the document",
            )
    for j, record in enumerate(mp.pre_approvals):
        path = f"mini_program.pre_approvals[{j}]"
        if canonical(record.category) not in declared and not _screened(c, canonical(record.category)):
            zh, en = _as_named(record.category, _listed(c.categories, record.category))
            yield _v(
                f"{path}.category",
                "R6.pre_approval_for_undeclared_category",
                f"前置审批记录的类目{zh}不在服务类目中，请核对类目名称",
                f"the pre-approval category {en} is not among the service categories: check its name",
            )
        if not record.approval_number:
            yield _v(
                f"{path}.approval_number",
                "R6.approval_number_missing",
                "请填写前置审批号",
                "the pre-approval's approval number is missing",
            )
        if not record.document_name:
            yield _v(
                f"{path}.document_name",
                "R6.document_name_missing",
                "请填写前置审批文件名",
                "the pre-approval's document name is missing",
            )


    if not c.past_filing and not c.app.kind.is_cancellation:
        yield from _form(c)


def _screened(c: _Context, category: str) -> bool:
    """A record for a category the keyword screen found is for a category the application has."""
    return any(hit.category == category for hit in screen(c.app, c.keywords))


#: 小程序备注: WeChat's form asks 20 to 200 characters.
REMARK_MIN, REMARK_MAX = 20, 200
_REMARK_HINT = (
    f"请具体描述小程序实际经营内容和主要服务内容（{REMARK_MIN}–{REMARK_MAX}字），审核人员将与服务类目比对",
    f"describe what the mini-program really does and its main services in {REMARK_MIN} to {REMARK_MAX} "
    "characters: reviewers compare it with the service categories",
)
_TYPES_SOURCE = (
    f"小程序服务内容类型列表（微信 {SOURCE_NAME} 接口，本系统 filing/data/service_content_types.json）",
    f"the service-content type list (WeChat's {SOURCE_NAME}; here filing/data/service_content_types.json)",
)


def _form(c: _Context) -> Iterator[Violation]:
    """The mini-program's fields WeChat's current form asks of a NEW or CHANGE: the remark, at
    most 5 categories from the service-content type list, records or the explicit answer
    "以上都不涉及", and the keyword screen (a hit without a record and without the answer)."""
    mp = c.app.mini_program
    remark = (mp.remark or "").strip()
    if not remark:
        yield _v("mini_program.remark", "R6.remark_missing", f"请填写小程序备注：{_REMARK_HINT[0]}",
                 f"the mini-program's remark (小程序备注) is missing: {_REMARK_HINT[1]}")
    elif not REMARK_MIN <= len(remark) <= REMARK_MAX:
        short = len(remark) < REMARK_MIN
        bound = REMARK_MIN if short else REMARK_MAX
        yield _v("mini_program.remark", "R6.remark_too_short" if short else "R6.remark_too_long",
                 f"小程序备注为{len(remark)}字，{'少于' if short else '超过'}{bound}字：{_REMARK_HINT[0]}",
                 f"the remark has {len(remark)} characters, {'fewer' if short else 'more'} than {bound}: "
                 f"{_REMARK_HINT[1]}")
    if len(mp.service_categories) > MAX_SERVICE_CATEGORIES:
        yield _v("mini_program.service_categories", "R6.too_many_categories",
                 f"服务类目有{len(mp.service_categories)}个，最多{MAX_SERVICE_CATEGORIES}个，请保留主要的服务内容类型",
                 f"{len(mp.service_categories)} service categories are given; at most {MAX_SERVICE_CATEGORIES} "
                 "are accepted: keep the main ones")
    if c.service_types:
        for i, given in enumerate(mp.service_categories):
            if resolve(given, c.service_types) is None:
                top_level = any(full.split("-", 1)[0] == given.strip() for full in c.service_types)
                why_zh = "为一级类型，只能填写其下的二级类型" if top_level else "不在列表中"
                why_en = "it is a first-level type: name one of its second-level types" if top_level \
                    else "it is not on the list"
                yield _v(f"mini_program.service_categories[{i}]", "R6.unknown_service_category",
                         f"服务类目{why_zh}：请从{_TYPES_SOURCE[0]}中选择二级类型，写作“父类-子类”（如“生活服务-生活缴费”）",
                         f"unknown service category ({why_en}): choose a second-level type from {_TYPES_SOURCE[1]}, "
                         "written as parent-child (e.g. 生活服务-生活缴费)")
    if not mp.pre_approvals and not mp.no_pre_approval_needed:
        yield _v("mini_program.no_pre_approval_needed", "R6.pre_approval_answer_missing",
                 "请填写前置审批项；如不涉及任何前置审批，须明确选择“以上都不涉及”（no_pre_approval_needed 设为 true）",
                 "name the pre-approval records, or answer explicitly that none applies (以上都不涉及: set "
                 "no_pre_approval_needed to true)")
    if mp.no_pre_approval_needed and not mp.pre_approvals:
        return  # declared: the reviewer's page flags the hits (`filing.preapproval.declared_hits`)
    exact = {_listed(c.categories, name) for name in mp.service_categories} - {None}
    recorded = {_listed(c.categories, p.category) or p.category.strip() for p in mp.pre_approvals}
    reported: set[str] = set()
    for hit in screen(c.app, c.keywords):
        if hit.category in recorded or hit.category in exact or hit.category in reported:
            continue
        reported.add(hit.category)
        yield _v(hit.field, "R6.screened_pre_approval_missing",
                 f"内容涉及“{hit.keyword}”，可能属于须前置审批的“{hit.category}”类：请添加该类目的前置审批记录；"
                 "如确不涉及，请选择“以上都不涉及”，审核人员将予以核实",
                 f"mentions '{hit.keyword}', which suggests the pre-approval category '{hit.category}': add a "
                 "pre_approvals record for it, or, if it truly does not apply, answer no_pre_approval_needed "
                 "(以上都不涉及), which the reviewer checks")


def _r7_mini_program_principal(c: _Context) -> Iterator[Violation]:
    own = c.app.mini_program_principal
    base = "mini_program_principal"
    if own.reuse_subject_principal:
        if own.person is not None:
            yield _v(
                f"{base}.person",
                "R7.person_with_reuse",
                "已选择复用主体负责人，请删除单独填写的小程序负责人，或取消复用",
                "reuse_subject_principal is true but a person is given: remove the person or set reuse to false",
            )
    elif c.app.subject.type is SubjectType.PERSONAL:
        yield _v(
            f"{base}.reuse_subject_principal",
            "R7.personal_must_reuse",
            "个人主体的小程序负责人须复用主体负责人",
            "a personal subject's mini-program principal must reuse the subject principal",
        )
    elif own.person is None:
        yield _v(
            f"{base}.person",
            "R7.person_missing",
            "未复用主体负责人时须填写小程序负责人信息",
            "without reuse of the subject principal, give the mini-program principal's details",
        )
    elif _person_id(own.person) == _person_id(c.app.subject_principal) and (
        own.person.name != c.app.subject_principal.name or own.person.mobile != c.app.subject_principal.mobile
    ):
        yield _v(
            f"{base}.person",
            "R7.same_person_differs",
            "小程序负责人与主体负责人证件号码相同但姓名或手机号码不同；同一人请复用主体负责人",
            "the mini-program principal has the subject principal's identity document but another name or "
            "mobile: for the same person, reuse the subject principal",
        )
    face = own.face_verification
    path = f"{base}.face_verification"
    if not face.passed:
        yield _v(
            f"{path}.passed",
            "R7.face_not_passed",
            "人脸核身未通过，请重新完成人脸核身",
            "the face verification did not pass: verify again",
        )
    age = c.now - as_utc(face.verified_at)
    if age > c.face_max_age:
        yield _v(
            f"{path}.verified_at",
            "R7.face_verification_stale",
            f"人脸核身已超过{_days(c.face_max_age)}天，请在提交前{_days(c.face_max_age)}天内重新核身",
            f"the face verification is older than {_days(c.face_max_age)} days at submission: verify again",
        )
    elif age < -c.clock_skew:
        yield _v(
            f"{path}.verified_at",
            "R7.face_verification_in_future",
            "人脸核身时间晚于提交时间，请核对",
            "the face verification time is later than the submission: check it",
        )


def _days(span: timedelta) -> str:
    return f"{span / timedelta(days=1):g}"


_KIND_ZH = {
    FilingKind.NEW: "新增备案",
    FilingKind.CHANGE: "变更备案",
    FilingKind.CANCEL_SUBJECT: "注销主体",
    FilingKind.CANCEL_MINI_PROGRAM: "注销小程序",
    FilingKind.CANCEL_ACCESS: "取消接入",
}


def _r8_references(c: _Context) -> Iterator[Violation]:
    app = c.app
    if app.kind is FilingKind.NEW:
        if app.filing_number:
            yield _v(
                "filing_number",
                "R8.filing_number_not_allowed",
                "新增备案不应填写备案号",
                "a NEW filing carries no filing number: remove it",
            )
    elif not app.filing_number:
        yield _v(
            "filing_number",
            "R8.filing_number_missing",
            f"{_KIND_ZH[app.kind]}须填写所涉及的备案号（如 冀ICP备18021892号-2X）",
            f"a {app.kind} filing names the filing number it acts on (e.g. 冀ICP备18021892号-2X)",
        )
    else:
        try:
            number = parse_filing_number(
                app.filing_number, mini_program=None if app.kind is FilingKind.CANCEL_SUBJECT else True
            )
        except InvalidFilingNumber as exc:
            yield _v("filing_number", "R8.invalid_filing_number", exc.message_zh, exc.message_en)
        else:
            province = find_province(app.subject.address.province)
            if province is not None and number.province != province:
                yield _v(
                    "filing_number",
                    "R8.province_mismatch",
                    f"备案号前缀“{number.prefix}”属于{number.province.name}，与主体所在省份{province.name}（{province.prefix}）不符",
                    f"the prefix '{number.prefix}' is {number.province.name}, but the subject is in "
                    f"{province.name} (prefix {province.prefix})",
                )
    if app.kind.is_cancellation and not app.cancellation_reason:
        yield _v(
            "cancellation_reason",
            "R8.cancellation_reason_missing",
            "注销或取消接入须填写原因",
            "a cancellation needs a cancellation_reason",
        )
    elif not app.kind.is_cancellation and app.cancellation_reason:
        yield _v(
            "cancellation_reason",
            "R8.cancellation_reason_not_allowed",
            "只有注销或取消接入才填写注销原因",
            "only cancellation kinds carry a cancellation_reason: remove it",
        )


def _r10_materials(c: _Context) -> Iterator[Violation]:
    """R10 lives in `filing.materials`, shared with the store-side checks."""
    yield from r10_violations(c.app, c.province_lists, c.materials)


_RULES: dict[str, Callable[[_Context], Iterator[Violation]]] = {
    "R1": _r1_subject_type,
    "R2": _r2_validity,
    "R3": _r3_numbers,
    "R4": _r4_phones,
    "R5": _r5_address,
    "R6": _r6_pre_approval,
    "R7": _r7_mini_program_principal,
    "R8": _r8_references,
    "R10": _r10_materials,
}


def check_application(
    app: Application,
    now: datetime,
    *,
    categories: CategoryIndex | Iterable[str] | None = None,
    rules: frozenset[str] = ALL_RULES,
    validity_months: int = 1,
    face_max_age: timedelta = timedelta(days=3),
    clock_skew: timedelta = timedelta(minutes=5),
    province_lists: ProvinceMaterials | None = None,
    materials: Mapping[str, StoredMaterial | None] | None = None,
    past_filing: bool = False,
    service_types: Collection[str] | None = None,
    keywords: KeywordIndex | None = None,
) -> list[Violation]:
    """Every violation of the selected rules at submission instant `now` (naive = UTC).

    `categories` is the R6 list: an index of every name and alias to its canonical name
    (`load_preapproval_index`), or plain canonical names (then aliases are not known).
    `province_lists` are the R10 supplementary-material lists. Either, when omitted, is
    read from the packaged file (not in workflows: pass them). `materials` is the material
    store's answer for each named SHA-256: when None, R10 checks only that the required
    materials are named; when given, also that each is in the store, of an accepted type
    and within the size limit. `past_filing` (the registry's import of filings made before
    this system) leaves out what the form asks only since issue 17: the district, the
    certificate's address and the documents' validity start, and the mini-program's remark,
    categories from the list, explicit pre-approval answer and keyword screen.
    `service_types` (the service-content type list, `父类-子类` names) and `keywords` (the R6
    keyword screen), when omitted, are read from the packaged files; an empty list skips the
    category check (a filing whose L1 check predates the list)."""
    unknown = rules - ALL_RULES
    if unknown:
        raise ValueError(f"unknown rules {sorted(unknown)}; known: {sorted(ALL_RULES)}")
    if categories is None and "R6" in rules:
        categories = load_preapproval_index()
    if province_lists is None and "R10" in rules:
        province_lists = load_province_materials()
    if "R6" in rules and not past_filing:  # `service_types` empty: not known (checked before the list existed)
        service_types = load_service_types() if service_types is None else service_types
        keywords = load_preapproval_keywords() if keywords is None else keywords
    context = _Context(
        app,
        as_utc(now),
        china_date(now),
        category_index(categories or ()),
        validity_months,
        face_max_age,
        clock_skew,
        province_lists or ProvinceMaterials(),
        materials,
        past_filing,
        tuple(service_types or ()),
        keywords or {},
    )
    return [v for name in sorted(rules, key=_rule_order) for v in _RULES[name](context)]


def _rule_order(name: str) -> int:
    """R2 before R10: rules are reported in their SPEC order."""
    return int(name.removeprefix("R"))


def parse_application(
    data: dict[str, Any] | str | bytes,
    now: datetime,
    *,
    categories: CategoryIndex | Iterable[str] | None = None,
    province_lists: ProvinceMaterials | None = None,
) -> tuple[Application | None, list[Violation]]:
    """Schema errors as violations (`schema.<type>`), else the application with its rule violations.

    Never raises for bad input: whatever arrives from a file or an update is answered with
    field-named violations. The application is returned whenever it parses, even if it breaks rules."""
    size = len(data.encode() if isinstance(data, str) else data) if isinstance(data, str | bytes | bytearray) else 0
    if size > MAX_APPLICATION_BYTES:
        return None, [
            _v(
                "application",
                "schema.too_large",
                f"申请内容过大({size} 字节),上限为 {MAX_APPLICATION_BYTES} 字节",
                f"the application is {size} bytes; at most {MAX_APPLICATION_BYTES} bytes are accepted",
            )
        ]
    try:
        if isinstance(data, str | bytes | bytearray):
            app = Application.model_validate_json(data)
        else:
            app = Application.model_validate(data)
    except ValidationError as exc:
        return None, violations_from_validation_error(exc)
    return app, check_application(app, now, categories=categories, province_lists=province_lists)
