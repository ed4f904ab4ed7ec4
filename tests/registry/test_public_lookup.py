"""备案查询 (SPEC §11) and operating-licence numbers (SPEC §6) in the registry, as people use
them: on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from filing.ids import uscc_check_char
from filing.models import Application, CancellationRequest, FilingKind, PreApproval, SubjectType
from filing.references import reference_violations
from filing.registry import PublicEntry, RecordState
from registry.importer import import_file
from registry.sql_registry import LookupRefused, SqlRegistry
from tests.registry.conftest import Clock
from tests.registry.filings import application, appid, approval, csv_text, entry, new, number, subject_number

#: What MIIT's 备案查询 shows, by our field names, plus the record's state (README, Decisions).
MIIT_FIELDS = {"subject_name", "subject_type", "subject_number", "service_number", "service_name",
               "approval_date", "pre_approvals", "access_restricted"}
#: 2025-03-03 17:30 UTC is already 2025-03-04 in China: MIIT's 审核日期 is China's day.
EVENING = datetime(2025, 3, 3, 17, 30, tzinfo=UTC)


def company(n: int, name: str, *, pre_approvals: tuple[str, ...] = (), subject: str | None = None,
            kind: FilingKind = FilingKind.NEW, program_name: str = "示例小程序") -> Application:
    """A company of its own (its own credit code), filing mini-program `appid(n)`."""
    app = application(appid(n), subject_name=name, named_subject_number=subject, kind=kind,
                      program_name=program_name)
    first17 = f"91130000MA{n:07d}"
    assert app.subject.unit_certificate is not None
    certificate = app.subject.unit_certificate.model_copy(update={"number": first17 + uscc_check_char(first17)})
    records = [PreApproval(category=c, approval_number=f"{c}-2025-001", document_name=f"{c}许可证")
               for c in pre_approvals]
    return app.model_copy(update={
        "subject": app.subject.model_copy(update={"unit_certificate": certificate}),
        "mini_program": app.mini_program.model_copy(update={"pre_approvals": records}),
    })


def certificate_of(app: Application) -> str:
    assert app.subject.unit_certificate is not None
    return app.subject.unit_certificate.number


def numbers(found: list[PublicEntry]) -> list[str]:
    return [e.service_number for e in found]


async def test_the_lookup_answers_miit_fields_by_number_appid_name_and_certificate(
    registry: SqlRegistry, clock: Clock
) -> None:
    news = company(1, "河北甲乙网络科技有限公司", pre_approvals=("新闻", "新闻", "出版"))
    other = company(2, "石家庄丙丁科技有限公司")
    person = application(appid(3), personal=True)
    assert (await registry.apply(new(news, number("20250001", 1), approved_at=EVENING))).applied
    assert (await registry.apply(new(other, number("20250002", 1), approved_at=clock()))).applied
    assert (await registry.apply(new(person, number("20250003", 1), approved_at=clock()))).applied

    (found,) = await registry.lookup(number=number("20250001", 1))
    assert set(found.model_dump()) == MIIT_FIELDS | {"state"}
    assert found == PublicEntry(
        subject_name="河北甲乙网络科技有限公司", subject_type=SubjectType.ENTERPRISE,
        subject_number=subject_number("20250001"), service_number=number("20250001", 1), service_name="示例小程序",
        approval_date=date(2025, 3, 4), pre_approvals=["新闻", "出版"], access_restricted=False,
        state=RecordState.ACTIVE)

    # The same filing by its subject number, its appid, a part of its name, its credit code (any case).
    assert await registry.lookup(number=subject_number("20250001")) == [found]
    assert await registry.lookup(appid=appid(1)) == [found]
    assert await registry.lookup(subject="甲乙") == [found]
    assert await registry.lookup(certificate=certificate_of(news).lower()) == [found]
    # A part every unit shares finds both units, never the person; a person is found by the full name only.
    assert numbers(await registry.lookup(subject="科技有限公司")) == [number("20250001", 1), number("20250002", 1)]
    assert await registry.lookup(subject="张*") == []
    (own,) = await registry.lookup(subject=person.subject.name)
    assert (own.subject_name, own.subject_type, own.pre_approvals) == ("张*", SubjectType.PERSONAL, [])
    # A person's identity number is no lookup key; LIKE's wildcards are plain characters.
    assert await registry.lookup(certificate=person.subject_principal.identity_document.number) == []
    assert await registry.lookup(subject="%%") == await registry.lookup(subject="__") == []

    shown = json.dumps([e.model_dump(mode="json") for e in [found, own]], ensure_ascii=False)
    for someone in (news.subject_principal, person.subject_principal):
        for personal in (someone.name, someone.identity_document.number, someone.mobile, someone.email):
            assert personal not in shown
    assert news.subject.address.detail not in shown


@pytest.mark.parametrize("asked", [{"subject": "甲"}, {"subject": " "}, {"certificate": ""},
                                   {"subject": "甲乙", "certificate": "91130000MA0000001X"},
                                   {"number": "冀B2-2025001-1X"}])
async def test_a_lookup_by_too_little_or_too_much_is_refused_in_both_languages(
    registry: SqlRegistry, asked: dict[str, str]
) -> None:
    with pytest.raises(LookupRefused) as refused:
        await registry.lookup(**asked)
    assert refused.value.message_zh and str(refused.value)


async def test_cancelled_filings_show_only_when_asked_and_a_cancelled_access_is_restricted(
    registry: SqlRegistry, clock: Clock
) -> None:
    first = company(1, "河北甲乙网络科技有限公司")
    second = company(1, "河北甲乙网络科技有限公司", subject=subject_number("20250001"))
    second = second.model_copy(update={"mini_program": second.mini_program.model_copy(update={"appid": appid(2)})})
    assert (await registry.apply(new(first, number("20250001", 1), approved_at=clock()))).applied
    assert (await registry.apply(new(second, number("20250001", 2), approved_at=clock.advance(days=3)))).applied

    # Day 20: the platform stops hosting the first (取消接入): still on record, 是否限制接入 = 是.
    done = await registry.apply(approval(FilingKind.CANCEL_ACCESS, appid(1), number("20250001", 1),
                                         approved_at=clock.advance(days=17)))
    assert done.applied
    restricted = {e.service_number: (e.access_restricted, e.state) for e in
                  await registry.lookup(number=subject_number("20250001"))}
    assert restricted == {number("20250001", 1): (True, RecordState.ACCESS_CANCELLED),
                          number("20250001", 2): (False, RecordState.ACTIVE)}

    # Day 30: the second is cancelled (注销小程序): gone from the lookup, unless asked for.
    done = await registry.apply(approval(FilingKind.CANCEL_MINI_PROGRAM, appid(2), number("20250001", 2),
                                         approved_at=clock.advance(days=10)))
    assert done.applied
    assert numbers(await registry.lookup(number=subject_number("20250001"))) == [number("20250001", 1)]
    assert await registry.lookup(number=number("20250001", 2)) == []
    assert await registry.lookup(appid=appid(2)) == []
    (cancelled,) = await registry.lookup(number=number("20250001", 2), include_cancelled=True)
    assert (cancelled.state, cancelled.access_restricted) == (RecordState.CANCELLED, False)
    assert numbers(await registry.lookup(subject="甲乙", include_cancelled=True)) == [
        number("20250001", 1), number("20250001", 2)]


async def test_operating_licence_numbers_through_import_change_cancellation_and_lookup(
    registry: SqlRegistry, clock: Clock, tmp_path: Path
) -> None:
    licence, old_licence = "冀B2-20250001", "冀ICP证000123号"
    holder, veteran = company(1, "河北许可网络科技有限公司"), company(2, "河北老牌信息服务有限公司")

    # An operator loads two licensed subjects' filings from before this system (CSV).
    path = tmp_path / "licensed.csv"
    path.write_text(csv_text([entry(holder, f"{licence}-1626X"), entry(veteran, f"{old_licence}-1X")]))
    assert await import_file(path, registry) == 2
    (imported,) = await registry.lookup(number=f"{licence}-1626X")
    assert (imported.subject_number, imported.service_number) == (licence, f"{licence}-1626X")
    assert numbers(await registry.lookup(number=old_licence)) == [f"{old_licence}-1X"]
    assert numbers(await registry.lookup(number="蜀B2-20250001-1626X")) == []  # another province's licence

    # Its second mini-program is filed under the licence: the next number follows the licence's.
    assert await registry.next_number(licence) == f"{licence}-1627X"
    second = company(1, "河北许可网络科技有限公司", subject=licence)
    second = second.model_copy(update={"mini_program": second.mini_program.model_copy(update={"appid": appid(3)})})
    issued = await registry.apply(new(second, f"{licence}-1627X", approved_at=clock()))
    assert issued.applied and issued.subject_number == licence, issued.why

    # A licence number the registry does not hold cannot be issued by a filing approval.
    stranger = company(4, "河北无证网络科技有限公司")
    refused = await registry.apply(new(stranger, "冀B2-20259999-1X", approved_at=clock()))
    assert (refused.applied, refused.why_key) == (False, "licence_not_on_record")
    assert await registry.lookup(appid=appid(4)) == [] and await registry.lookup(number="冀B2-20259999") == []

    # CHANGE and cancellations name the licence's numbers: R8 at the start, then L8.
    changed = company(3, "河北许可网络科技有限公司", kind=FilingKind.CHANGE, program_name="许可小程序Pro")
    changed = changed.model_copy(update={"filing_number": f"{licence}-1627X"})
    assert [v.key for v in await reference_violations(changed, registry)] == []
    assert (await registry.apply(approval(FilingKind.CHANGE, appid(3), f"{licence}-1627X",
                                          approved_at=clock.advance(days=5), app=changed))).applied
    assert [e.service_name for e in await registry.lookup(appid=appid(3))] == ["许可小程序Pro"]

    cancel_one = CancellationRequest(kind=FilingKind.CANCEL_MINI_PROGRAM, appid=appid(1),
                                     filing_number=f"{licence}-1626X", reason="停止运营")
    assert await reference_violations(cancel_one, registry) == []
    wrong_appid = cancel_one.model_copy(update={"appid": appid(3)})
    assert [v.key for v in await reference_violations(wrong_appid, registry)] == ["R8.not_on_record"]
    assert (await registry.apply(approval(FilingKind.CANCEL_MINI_PROGRAM, appid(1), f"{licence}-1626X",
                                          approved_at=clock.advance(days=5)))).applied

    cancel_all = CancellationRequest(kind=FilingKind.CANCEL_SUBJECT, appid=appid(3), filing_number=licence,
                                     reason="公司注销")
    assert await reference_violations(cancel_all, registry) == []
    done = await registry.apply(approval(FilingKind.CANCEL_SUBJECT, appid(3), licence,
                                         approved_at=clock.advance(days=5)))
    assert done.applied and done.cancelled == [f"{licence}-1627X"]
    assert await registry.lookup(number=licence) == []
    assert {e.state for e in await registry.lookup(number=licence, include_cancelled=True)} == {RecordState.CANCELLED}
