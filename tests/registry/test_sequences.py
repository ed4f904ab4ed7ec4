"""What the registry does as people use it over days (SPEC §11, L8), on SQLite and PostgreSQL."""

from __future__ import annotations

import inspect
import json

import pytest
from sqlalchemy import create_engine, func, select

from filing.models import FilingKind
from filing.registry import RecordState
from filing.ports import Registry
from registry.sql_registry import LookupRefused, SqlRegistry
from registry.tables import mini_programs, people_on_record, registry_changes, subjects
from tests.registry.conftest import Clock
from tests.registry.filings import application, appid, approval, new, number, subject_number

S = subject_number()


def _count(url: str, table: object) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]
    finally:
        engine.dispose()


async def test_a_mini_program_from_approval_to_cancellation(registry: SqlRegistry, clock: Clock) -> None:
    wx = appid(1)
    # Day 1: the province approves the NEW filing with the first number under a new subject.
    assert await registry.next_number(S) == number(sequence=1)
    first = await registry.apply(new(application(wx), number(sequence=1), approved_at=clock()))
    assert first.applied and first.service_number == number(sequence=1) and first.subject_number == S
    record = await registry.mini_program(wx)
    assert record is not None and record.state is RecordState.ACTIVE and record.name == "示例小程序"
    assert record.approved_at == clock.now and record.last_filing_id == f"filing-{wx}"

    # Day 40: a CHANGE renames the mini-program and hands it to another principal; the number stays.
    changed_at = clock.advance(days=40)
    changed = application(wx, kind=FilingKind.CHANGE, program_name="示例小程序Pro", own_principal=True,
                          subject_name="河北示例网络科技股份有限公司")
    outcome = await registry.apply(approval(FilingKind.CHANGE, wx, number(sequence=1), approved_at=changed_at,
                                            app=changed))
    assert outcome.applied and outcome.service_number == number(sequence=1)
    record = await registry.mini_program(wx)
    assert record is not None and record.name == "示例小程序Pro" and record.subject_name == "河北示例网络科技股份有限公司"
    assert record.approved_at < record.updated_at == changed_at
    people = await registry.people_on_record(number(sequence=1))
    assert people is not None and people.mini_program_principal.name == "李四"

    # Day 90: the mini-program is cancelled (注销小程序).
    cancelled = await registry.apply(approval(FilingKind.CANCEL_MINI_PROGRAM, wx, number(sequence=1),
                                              approved_at=clock.advance(days=50)))
    assert cancelled.applied and cancelled.cancelled == [number(sequence=1)]
    record = await registry.mini_program(wx)
    assert record is not None and record.state is RecordState.CANCELLED  # the latest, as nothing is active

    # Day 91: a CHANGE of the cancelled number is not applied, and says why.
    late = await registry.apply(approval(FilingKind.CHANGE, wx, number(sequence=1), approved_at=clock.advance(days=1),
                                         app=changed))
    assert not late.applied and late.why_key == "not_active"
    assert late.why is not None and number(sequence=1) in late.why and "cancelled" in late.why

    # The number is never issued again, to anyone; the next one under the subject is -2X.
    again = await registry.apply(new(application(appid(2), named_subject_number=S), number(sequence=1),
                                     approved_at=clock()))
    assert not again.applied and again.why_key == "number_taken" and wx in (again.why or "")
    assert await registry.next_number(S) == number(sequence=2)


async def test_a_second_mini_program_of_the_subject_is_numbered_under_it(registry: SqlRegistry, clock: Clock) -> None:
    await registry.apply(new(application(appid(1)), number(sequence=1), approved_at=clock()))
    clock.advance(days=200)

    # The provincial reviewer's tool proposes the next number; the applicant named the subject number.
    proposed = await registry.next_number(S)
    assert proposed == number(sequence=2)
    second = application(appid(2), named_subject_number=S, program_name="第二个小程序")
    outcome = await registry.apply(new(second, proposed, approved_at=clock()))
    assert outcome.applied and outcome.subject_number == S
    programs = await registry.subject_mini_programs(S)
    assert [p.service_number for p in programs] == [number(sequence=1), number(sequence=2)]
    assert {p.subject_number for p in programs} == {S}
    assert await registry.next_number(number(sequence=2)) == number(sequence=3)  # a service number names S too

    # Another company's NEW given a number under S: S is someone's already; not applied, naming the holder.
    unnamed = await registry.apply(new(application(appid(3), subject_name="别家公司"), number(sequence=3),
                                       approved_at=clock()))
    assert not unnamed.applied and unnamed.why_key == "subject_number_taken"
    assert "河北示例网络科技有限公司" in (unnamed.why or "") and S in (unnamed.why or "")

    # Naming the subject number with a number under another one: not applied.
    outside = await registry.apply(new(application(appid(3), named_subject_number=S),
                                       number(serial="20240001", sequence=1), approved_at=clock()))
    assert not outside.applied and outside.why_key == "number_outside_subject"
    assert number(sequence=3) in (outside.why or "")  # it says which number would fit

    # A subject number that is not in the registry cannot be named.
    unknown = subject_number("19990001")
    missing = await registry.apply(new(application(appid(3), subject_name="别家公司", named_subject_number=unknown),
                                       number(serial="19990001", sequence=1), approved_at=clock()))
    assert not missing.applied and missing.why_key == "not_active"


async def test_a_refused_approval_leaves_nothing_and_the_reviewer_retries(
    registry: SqlRegistry, clock: Clock, database_url: str
) -> None:
    await registry.apply(new(application(appid(1)), number(sequence=1), approved_at=clock()))
    other = application(appid(2), subject_name="另一家公司")
    key = "filing-other/run-1"

    # The reviewer typed a number already issued: nothing of the other filing is recorded...
    taken = await registry.apply(new(other, number(sequence=1), approved_at=clock(), key=key))
    assert not taken.applied and taken.why_key == "number_taken"
    assert number(sequence=1) in (taken.why or "") and appid(1) in (taken.why or "")
    assert _count(database_url, subjects) == 1 and _count(database_url, registry_changes) == 1
    assert await registry.mini_program(appid(2)) is None

    # ...so the same filing, approved again with a number of its own, is applied.
    retried = await registry.apply(new(other, number(serial="20250002", sequence=1), approved_at=clock(), key=key))
    assert retried.applied and retried.subject_number == subject_number("20250002")


async def test_the_same_filing_applied_twice_is_one_change(
    registry: SqlRegistry, clock: Clock, database_url: str
) -> None:
    change = new(application(appid(1)), number(sequence=1), approved_at=clock())
    first = await registry.apply(change)
    clock.advance(hours=3)  # the activity is retried hours later (a worker died after writing)
    assert await registry.apply(change) == first
    cancel = approval(FilingKind.CANCEL_ACCESS, appid(1), number(sequence=1), approved_at=clock())
    assert (await registry.apply(cancel)).applied
    assert await registry.apply(cancel) == await registry.apply(cancel)
    assert _count(database_url, registry_changes) == 2 and _count(database_url, mini_programs) == 1
    record = await registry.mini_program(appid(1))
    assert record is not None and record.state is RecordState.ACCESS_CANCELLED
    # A replay of the first NEW answers what it answered, even though the filing has moved on.
    assert await registry.apply(change) == first


async def test_cancelling_a_subject_cancels_every_mini_program(registry: SqlRegistry, clock: Clock) -> None:
    await registry.apply(new(application(appid(1)), number(sequence=1), approved_at=clock()))
    for n in (2, 3, 4):
        app = application(appid(n), named_subject_number=S, program_name=f"小程序{n}")
        assert (await registry.apply(new(app, number(sequence=n), approved_at=clock.advance(days=1)))).applied
    await registry.apply(approval(FilingKind.CANCEL_ACCESS, appid(3), number(sequence=3), approved_at=clock()))
    await registry.apply(approval(FilingKind.CANCEL_MINI_PROGRAM, appid(4), number(sequence=4), approved_at=clock()))
    other = await registry.apply(new(application(appid(9), subject_name="别家公司"), number("20250009", 1),
                                     approved_at=clock()))
    assert other.applied

    # A subject cannot be cancelled through a mini-program of another subject.
    wrong = await registry.apply(approval(FilingKind.CANCEL_SUBJECT, appid(9), S, approved_at=clock()))
    assert not wrong.applied and wrong.why_key == "not_active"

    outcome = await registry.apply(approval(FilingKind.CANCEL_SUBJECT, appid(2), S, approved_at=clock.advance(days=1)))
    assert outcome.applied and outcome.subject_number == S
    assert sorted(outcome.cancelled) == [number(sequence=1), number(sequence=2), number(sequence=3)]
    assert {p.state for p in await registry.subject_mini_programs(S)} == {RecordState.CANCELLED}
    found = await registry.subject(S)
    assert found is not None and found.state is RecordState.CANCELLED
    other_record = await registry.mini_program(appid(9))
    assert other_record is not None and other_record.state is RecordState.ACTIVE

    # Nothing more under a cancelled subject; its numbers stay issued.
    again = await registry.apply(approval(FilingKind.CANCEL_SUBJECT, appid(2), number(sequence=2), approved_at=clock()))
    assert not again.applied and again.why_key == "not_active"
    late = await registry.apply(new(application(appid(5), named_subject_number=S), number(sequence=5),
                                    approved_at=clock()))
    assert not late.applied and late.why_key == "subject_cancelled"  # a new subject number, never the old one
    assert await registry.next_number(S) == number(sequence=5)


async def test_an_appid_holds_one_active_filing(registry: SqlRegistry, clock: Clock) -> None:
    wx = appid(1)
    await registry.apply(new(application(wx), number(sequence=1), approved_at=clock()))
    twice = await registry.apply(new(application(wx, subject_name="别家公司"), number("20250009", 1),
                                     approved_at=clock()))
    assert not twice.applied and twice.why_key == "already_filed" and number(sequence=1) in (twice.why or "")

    # After 取消接入 the number stays the mini-program's, and the appid may be filed again (another host).
    await registry.apply(approval(FilingKind.CANCEL_ACCESS, wx, number(sequence=1), approved_at=clock.advance(days=3)))
    later = await registry.apply(new(application(wx, named_subject_number=S), number(sequence=2),
                                     approved_at=clock.advance(days=30)))
    assert later.applied
    record = await registry.mini_program(wx)
    assert record is not None and record.service_number == number(sequence=2)
    old = await registry.mini_program_by_number(number(sequence=1))
    assert old is not None and old.state is RecordState.ACCESS_CANCELLED and old.appid == wx

    # A number of another appid cannot be changed or cancelled by this one.
    await registry.apply(new(application(appid(2), named_subject_number=S), number(sequence=3), approved_at=clock()))
    stolen = await registry.apply(approval(FilingKind.CANCEL_MINI_PROGRAM, wx, number(sequence=3),
                                           approved_at=clock()))
    assert not stolen.applied and stolen.why_key == "not_active" and appid(2) in (stolen.why or "")


async def test_a_number_written_with_a_province_alias_is_the_same_number(registry: SqlRegistry, clock: Clock) -> None:
    sichuan = application(appid(1)).model_copy(deep=True)
    sichuan.subject.address.province = "四川省"
    first = await registry.apply(new(sichuan, number(prefix="川"), approved_at=clock()))
    assert first.applied and first.service_number == number(prefix="川")  # stored as issued
    again = await registry.apply(new(application(appid(2)).model_copy(update={"subject": sichuan.subject}),
                                     number(prefix="蜀"), approved_at=clock()))
    assert not again.applied and again.why_key == "number_taken"
    assert await registry.next_number(subject_number(prefix="蜀")) == number(prefix="川", sequence=2)
    assert [e.service_number for e in await registry.lookup(number=number(prefix="蜀"))] == [number(prefix="川")]


async def test_a_number_of_another_province_than_the_subject_is_not_applied(
    registry: SqlRegistry, clock: Clock
) -> None:
    outcome = await registry.apply(new(application(appid(1)), number(prefix="京"), approved_at=clock()))
    assert not outcome.applied and outcome.why_key == "province_mismatch"
    malformed = await registry.apply(new(application(appid(1)), "冀ICP备1802号-1X", approved_at=clock()))
    assert not malformed.applied and malformed.why_key == "invalid_number"


async def test_public_lookup_shows_what_miit_publishes_and_no_personal_data(
    registry: SqlRegistry, clock: Clock
) -> None:
    company = application(appid(1), own_principal=True)
    await registry.apply(new(company, number(sequence=1), approved_at=clock()))
    person = application(appid(2), personal=True)
    await registry.apply(new(person, number("20250002", 1), approved_at=clock()))

    answers = [
        await registry.lookup(number=number(sequence=1)),
        await registry.lookup(number=S),
        await registry.lookup(appid=appid(1)),
        await registry.lookup(subject=company.subject.name),
        await registry.lookup(number=number("20250002", 1)),
        await registry.lookup(appid=appid(2)),
    ]
    assert all(len(found) == 1 for found in answers)
    entry = answers[0][0]
    assert (entry.subject_name, entry.subject_number, entry.service_name, entry.service_number, entry.state) == (
        company.subject.name, S, "示例小程序", number(sequence=1), RecordState.ACTIVE)
    shown = json.dumps([[e.model_dump(mode="json") for e in found] for found in answers], ensure_ascii=False)
    people = [company.subject_principal, company.mini_program_principal.person, person.subject_principal]
    for someone in people:
        assert someone is not None
        for personal in (someone.name, someone.identity_document.number, someone.mobile, someone.emergency_mobile,
                         someone.email):
            assert personal not in shown
    assert company.subject.address.detail not in shown
    assert answers[-1][0].subject_name == "张*"  # a personal subject is a person: masked
    assert await registry.lookup(subject="张*") == []  # a person's name only in full: no listing people by a fragment


async def test_people_on_record_are_sealed_at_rest(
    registry: SqlRegistry, clock: Clock, database_url: str
) -> None:
    app = application(appid(1), own_principal=True)
    await registry.apply(new(app, number(sequence=1), approved_at=clock()))
    people = await registry.people_on_record(number(sequence=1))
    assert people is not None
    assert people.subject_principal == app.subject_principal
    assert people.mini_program_principal == app.mini_program_principal.person

    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            raw = b"".join(c.execute(select(people_on_record.c.sealed)).scalars())
            dump = "\n".join(str(tuple(row)) for table in (subjects, mini_programs, registry_changes)
                             for row in c.execute(select(table)))
    finally:
        engine.dispose()
    for secret in ("张三", "李四", app.subject_principal.identity_document.number, "13800138000", "13700137000"):
        assert secret.encode() not in raw and secret not in dump
    assert await registry.people_on_record(number(sequence=9)) is None


@pytest.mark.parametrize("asked", [{}, {"number": "  "}, {"number": number(), "appid": appid(1)},
                                   {"number": "冀ICP备1802号-1X"}])
async def test_a_lookup_that_names_nothing_or_too_much_is_refused_clearly(
    registry: SqlRegistry, asked: dict[str, str]
) -> None:
    with pytest.raises(LookupRefused, match="number|appid|subject"):
        await registry.lookup(**asked)


def test_sql_registry_offers_every_method_of_the_port() -> None:
    for name, method in inspect.getmembers(Registry, inspect.isfunction):
        if name.startswith("_"):
            continue
        own = getattr(SqlRegistry, name)
        assert inspect.iscoroutinefunction(own), name
        expected = [p.name for p in inspect.signature(method).parameters.values()]
        assert [p.name for p in inspect.signature(own).parameters.values()] == expected, name
