"""R8 against the registry (SPEC §3, §11): a CHANGE or a cancellation acts on a filing the
registry holds as active and as this mini-program's. A NEW of a subject on record (found by
its certificate, issue 17) files under that subject's one number, in its one province; a typed
subject number must be that one. R4 across the registry: no mobile of the application is on
record for another person.

Run at the start (starter, filing service) and again in L1 by the worker: the registry
may have changed in between, and any client may start a workflow directly.
"""

from __future__ import annotations

from filing.filing_number import FilingNumber, InvalidFilingNumber, parse_filing_number
from filing.messages import Violation
from filing.models import Application, CancellationRequest, FilingKind, Person
from filing.ports import Registry
from filing.provinces import find_province, province_by_prefix
from filing.registry import MiniProgramRecord, RecordState, SubjectCertificate, SubjectRecord

#: WeChat's answer 86353 for a mini-program the registry does not hold as filed.
NOT_FILED_ZH = "小程序未备案,不支持注销"


def _v(field: str, key: str, zh: str, en: str) -> Violation:
    return Violation(field=field, key=key, message_zh=zh, message_en=en)


def _active_of(record: MiniProgramRecord | None, appid: str) -> bool:
    return record is not None and record.state is RecordState.ACTIVE and record.appid == appid


async def reference_violations(request: Application | CancellationRequest, registry: Registry) -> list[Violation]:
    """Every R8 violation that needs the registry (the format checks are `filing.rules`')."""
    if isinstance(request, CancellationRequest):
        return await _cancellation(request, registry)
    if request.kind is FilingKind.NEW:
        return await _new(request, registry)
    if request.kind is FilingKind.CHANGE and request.filing_number:
        return await _change(request, registry)
    return []


def _same_number(a: str, b: str) -> bool:
    """Two subject numbers are one when they name the same province and serial (`川` is `蜀`)."""
    try:
        x, y = parse_filing_number(a), parse_filing_number(b)
    except InvalidFilingNumber:
        return False
    return (x.province, x.subject_number[len(x.prefix):]) == (y.province, y.subject_number[len(y.prefix):])


def _subject_on_record(app: Application, subject: SubjectRecord) -> list[Violation]:
    """A subject on record files under its one subject number, in its one province."""
    found: list[Violation] = []
    province = find_province(app.subject.address.province)
    if province is not None and province.prefix != subject.province:
        where = province_by_prefix(subject.province)
        name = where.name if where is not None else subject.province
        found.append(_v(
            "subject.address.province", "R8.subject_in_another_province",
            f"该主体已在{name}备案（主体备案号{subject.subject_number}），同主体在所有平台的备案省份必须保持一致，"
            f"请选择{name}",
            f"the subject is on record in {name} under {subject.subject_number}: a subject files in one province "
            f"on every platform; choose {name}",
        ))
    typed = app.subject.subject_number
    if typed and not _same_number(typed, subject.subject_number):
        found.append(_v(
            "subject.subject_number", "R8.subject_number_not_the_subjects",
            f"该主体的主体备案号为{subject.subject_number}，与填写的{typed}不符；可不填写，系统按证件自动关联",
            f"the subject's certificate is on record under {subject.subject_number}, not {typed}: leave "
            "subject_number out (the registry finds it by the certificate) or give that number",
        ))
    return found


async def _mobiles(app: Application, registry: Registry) -> list[Violation]:
    """R4 across the registry: no mobile of the application is on record for another person."""
    people: list[tuple[str, Person]] = [("subject_principal", app.subject_principal)]
    own = app.mini_program_principal
    if not own.reuse_subject_principal and own.person is not None:
        people.append(("mini_program_principal.person", own.person))
    found: list[Violation] = []
    for path, person in people:
        for field in ("mobile", "emergency_mobile"):
            mobile = getattr(person, field)
            if mobile.strip() and await registry.mobile_held_by_another(mobile, person.identity_document):
                found.append(_v(
                    f"{path}.{field}", "R4.mobile_on_record_for_another_person",
                    "该手机号已被他人（证件号码不同）作为负责人手机号备案，请填写本人的手机号",
                    "this mobile is on record for another person (another identity document) in an active filing: "
                    "give the person's own mobile",
                ))
    return found


async def _new(app: Application, registry: Registry) -> list[Violation]:
    found: list[Violation] = await _mobiles(app, registry)
    certificate = SubjectCertificate.of(app)
    on_record = await registry.subject_of(certificate) if certificate is not None else None
    if on_record is not None:
        found += _subject_on_record(app, on_record)
    held = await registry.mini_program(app.appid)
    if held is not None and held.state is RecordState.ACTIVE:
        found.append(_v(
            "mini_program.appid", "R8.already_filed",
            f"该小程序已备案（{held.service_number}），请提交变更备案",
            f"the mini-program already holds the filing {held.service_number}: file a CHANGE instead of a NEW",
        ))
    number = app.subject.subject_number
    if number and on_record is None:
        try:
            parsed = parse_filing_number(number, mini_program=False)
        except InvalidFilingNumber as err:
            return [*found, _v("subject.subject_number", "R8.invalid_subject_number", err.message_zh, err.message_en)]
        if not parsed.is_subject_number:
            return [*found, _v(
                "subject.subject_number", "R8.invalid_subject_number",
                "主体备案号不含“-序号”，形如 冀ICP备18021892号",
                "a subject number has no '-<sequence>' part, e.g. 冀ICP备18021892号",
            )]
        subject = await registry.subject(number)
        if subject is None or subject.state is not RecordState.ACTIVE:
            found.append(_v(
                "subject.subject_number", "R8.subject_not_on_record",
                "备案库中没有该主体备案号的有效记录，请核对，或不填写主体备案号",
                f"the registry holds no active subject under {number}: check it, or leave subject_number out",
            ))
        elif subject.identified:
            found.append(_v(
                "subject.subject_number", "R8.subject_number_of_another_subject",
                "该主体备案号属于另一主体（证件不符）",
                f"{number} is held by a subject with another certificate: a subject names only its own number",
            ))
        elif subject.name != app.subject.name:
            found.append(_v(
                "subject.subject_number", "R8.subject_number_of_another_subject",
                "该主体备案号属于另一主体（名称不符）",
                f"{number} is held by a subject of another name: a subject names only its own number",
            ))
    return found


async def _change(app: Application, registry: Registry) -> list[Violation]:
    number = app.filing_number or ""
    record = await registry.mini_program_by_number(number)
    if _active_of(record, app.appid):
        return await _mobiles(app, registry)  # a CHANGE may not take another person's mobile either (R4)
    return [_v(
        "filing_number", "R8.not_on_record",
        "小程序未备案,不支持变更：备案库中没有该小程序的此有效备案号",
        f"the registry does not hold {number} as this mini-program's active filing: a CHANGE names "
        "the mini-program's current filing number",
    )]


async def _cancellation(request: CancellationRequest, registry: Registry) -> list[Violation]:
    kind = request.kind
    try:
        parsed = parse_filing_number(
            request.filing_number, mini_program=None if kind is FilingKind.CANCEL_SUBJECT else True
        )
    except InvalidFilingNumber as err:
        return [_v("filing_number", "R8.invalid_filing_number", err.message_zh, err.message_en)]
    not_filed = _v(
        "filing_number", "R8.not_on_record", NOT_FILED_ZH,
        f"the registry does not hold {request.filing_number} as an active filing of {request.appid} "
        "(WeChat 86353: the mini-program is not filed, it cannot be cancelled)",
    )
    if kind is not FilingKind.CANCEL_SUBJECT:
        record = await registry.mini_program_by_number(request.filing_number)
        return [] if _active_of(record, request.appid) else [not_filed]
    return [] if await _subject_holds_appid(parsed, request.appid, registry) else [not_filed]


async def _subject_holds_appid(number: FilingNumber, appid: str, registry: Registry) -> bool:
    """CANCEL_SUBJECT: the number names an active subject (itself or through one of its
    mini-programs) and the appid's active filing is under that subject."""
    if number.is_subject_number:
        subject = await registry.subject(number.subject_number)
    else:  # through the program's own record: a merged subject's programs are under the kept one
        named = await registry.mini_program_by_number(number.text)
        if named is None:
            return False
        subject = await registry.subject(named.subject_number)
    if subject is None or subject.state is not RecordState.ACTIVE:
        return False
    own = await registry.mini_program(appid)
    return _active_of(own, appid) and own is not None and own.subject_number == subject.subject_number
