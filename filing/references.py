"""R8 against the registry (SPEC §3, §11): a CHANGE or a cancellation acts on a filing the
registry holds as active and as this mini-program's; a NEW may name its subject's number.

Run at the start (starter, filing service) and again in L1 by the worker: the registry
may have changed in between, and any client may start a workflow directly.
"""

from __future__ import annotations

from filing.filing_number import FilingNumber, InvalidFilingNumber, parse_filing_number
from filing.messages import Violation
from filing.models import Application, CancellationRequest, FilingKind
from filing.ports import Registry
from filing.registry import MiniProgramRecord, RecordState

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


async def _new(app: Application, registry: Registry) -> list[Violation]:
    found: list[Violation] = []
    held = await registry.mini_program(app.appid)
    if held is not None and held.state is RecordState.ACTIVE:
        found.append(_v(
            "mini_program.appid", "R8.already_filed",
            f"该小程序已备案（{held.service_number}），请提交变更备案",
            f"the mini-program already holds the filing {held.service_number}: file a CHANGE instead of a NEW",
        ))
    number = app.subject.subject_number
    if number:
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
        return []
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
    subject = await registry.subject(number.subject_number)
    if subject is None or subject.state is not RecordState.ACTIVE:
        return False
    if not number.is_subject_number:
        named = await registry.mini_program_by_number(number.text)
        if named is None or named.subject_number != subject.subject_number:
            return False
    own = await registry.mini_program(appid)
    return _active_of(own, appid) and own is not None and own.subject_number == subject.subject_number
