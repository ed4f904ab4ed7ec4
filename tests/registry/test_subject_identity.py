"""One subject, one number (issue 17): the registry knows a subject by its certificate, on
SQLite and PostgreSQL. Written as the applicants, reviewers and operators go about it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select, update
from typer.testing import CliRunner, Result

from cli.app import app as filings_app
from filing.examples import example_resident_id
from filing.models import Application, FilingKind, Person
from filing.references import reference_violations
from filing.registry import RecordState, SubjectCertificate
from registry.sql_registry import SqlRegistry
from registry.tables import mobiles_on_record, subjects
from tests.conftest import write_test_keys
from tests.registry.conftest import Clock
from tests.registry.filings import application, appid, approval, new, number, subject_number

S = subject_number()


def _keys(violations: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(v.field, v.key) for v in violations]


def _in(app: Application, province: str) -> Application:
    address = app.subject.address.model_copy(update={"province": province})
    return app.model_copy(update={"subject": app.subject.model_copy(update={"address": address})})


def _another_person(person: Person, sequence: str = "555", **changes: str) -> Person:
    """Someone else: another identity document (the same region, another birth and sequence)."""
    document = person.identity_document
    other = document.model_copy(update={"number": example_resident_id(document.number[:2], "19920101", sequence)})
    return person.model_copy(update={"identity_document": other, **changes})


def _count(url: str, table: object) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]
    finally:
        engine.dispose()


async def test_a_company_files_three_mini_programs_under_its_one_subject_number(
    registry: SqlRegistry, clock: Clock, database_url: str
) -> None:
    first = application(appid(1))
    certificate = SubjectCertificate.of(first)
    assert certificate is not None and await registry.subject_of(certificate) is None  # a new subject
    assert (await registry.apply(new(first, number(sequence=1), approved_at=clock()))).applied

    # The 2nd and 3rd mini-programs: the applicant does not type the subject number; the start
    # check finds the subject by its certificate, the province is proposed -2X, then -3X.
    for n in (2, 3):
        later = application(appid(n), program_name=f"第{n}个小程序")
        assert await reference_violations(later, registry) == []
        found = await registry.subject_of(certificate)
        assert found is not None and found.subject_number == S and found.identified
        proposed = await registry.next_number(found.subject_number)
        assert proposed == number(sequence=n)
        outcome = await registry.apply(new(later, proposed, approved_at=clock.advance(days=30)))
        assert outcome.applied and outcome.subject_number == S
    assert [p.service_number for p in await registry.subject_mini_programs(S)] == [number(sequence=n) for n in (1, 2, 3)]
    assert _count(database_url, subjects) == 1

    # The reviewer types a number under another subject number: refused, saying why in both languages.
    fourth = application(appid(4), program_name="第四个小程序")
    elsewhere = await registry.apply(new(fourth, number(serial="20250004"), approved_at=clock()))
    assert not elsewhere.applied and elsewhere.why_key == "number_outside_subject"
    assert S in (elsewhere.why or "") and number(sequence=4) in (elsewhere.why or "")
    assert elsewhere.why_zh is not None and "一个主体只有一个主体备案号" in elsewhere.why_zh
    assert await registry.mini_program(appid(4)) is None and _count(database_url, subjects) == 1

    # The applicant types a subject number that is not the subject's: a violation at the start.
    typed = application(appid(4), named_subject_number=subject_number("20250004"))
    assert ("subject.subject_number", "R8.subject_number_not_the_subjects") in _keys(
        await reference_violations(typed, registry))

    # The same company in another province: refused at the start (naming 河北) and at approval.
    canton = _in(application(appid(5)), "广东省")
    violations = await reference_violations(canton, registry)
    assert ("subject.address.province", "R8.subject_in_another_province") in _keys(violations)
    assert any("河北" in v.message_zh and "同主体在所有平台的备案省份必须保持一致" in v.message_zh for v in violations)
    refused = await registry.apply(new(canton, number(serial="20250005", prefix="粤"), approved_at=clock()))
    assert not refused.applied and refused.why_key == "subject_on_record_elsewhere"
    assert await registry.mini_program(appid(5)) is None

    # Another company may not take a number under this subject's number.
    other = await registry.apply(new(application(appid(6), subject_name="别家公司"), number(sequence=4),
                                     approved_at=clock()))
    assert not other.applied and other.why_key == "subject_number_taken"


async def test_a_personal_subject_is_known_by_its_identity_document(registry: SqlRegistry, clock: Clock) -> None:
    person = subject_number("30000001")
    first = application(appid(1), personal=True)
    assert (await registry.apply(new(first, f"{person}-1X", approved_at=clock()))).applied

    # The same person (same document, typed in lower case) files again: found, numbered under it.
    again = application(appid(2), personal=True, program_name="个人第二个小程序")
    document = again.subject_principal.identity_document
    again = again.model_copy(update={"subject_principal": again.subject_principal.model_copy(
        update={"identity_document": document.model_copy(update={"number": document.number.lower()})})})
    assert await reference_violations(again, registry) == []
    found = await registry.subject_of(SubjectCertificate.of(again))  # type: ignore[arg-type]
    assert found is not None and found.subject_number == person
    assert (await registry.apply(new(again, await registry.next_number(person), approved_at=clock()))).applied
    assert [p.service_number for p in await registry.subject_mini_programs(person)] == [f"{person}-1X", f"{person}-2X"]

    # Not in another province, not under another number.
    assert "R8.subject_in_another_province" in {v.key for v in await reference_violations(
        _in(application(appid(3), personal=True), "广东省"), registry)}
    outside = await registry.apply(new(application(appid(3), personal=True), number(serial="30000009"),
                                       approved_at=clock()))
    assert not outside.applied and outside.why_key == "number_outside_subject"

    # Another person is another subject: a new subject number.
    stranger = application(appid(4), personal=True)
    stranger = stranger.model_copy(update={"subject_principal": _another_person(
        stranger.subject_principal, mobile="13300133000", emergency_mobile="13300133001")})
    assert await registry.subject_of(SubjectCertificate.of(stranger)) is None  # type: ignore[arg-type]

    # The identity number is never stored in clear.
    engine = create_engine(registry.url)
    try:
        with engine.connect() as c:
            row = c.execute(select(subjects).where(subjects.c.subject_number == person)).one()
    finally:
        engine.dispose()
    assert row.certificate_number is None and row.certificate_sealed is not None
    assert document.number.encode() not in row.certificate_sealed and document.number not in row.certificate_digest


async def test_a_cancelled_subject_filing_again_gets_a_new_subject_number(registry: SqlRegistry, clock: Clock) -> None:
    assert (await registry.apply(new(application(appid(1)), number(sequence=1), approved_at=clock()))).applied
    assert (await registry.apply(new(application(appid(2)), number(sequence=2), approved_at=clock()))).applied
    cancelled = await registry.apply(approval(FilingKind.CANCEL_SUBJECT, appid(1), S, approved_at=clock.advance(days=5)))
    assert cancelled.applied and sorted(cancelled.cancelled) == [number(sequence=1), number(sequence=2)]

    back = application(appid(3))
    certificate = SubjectCertificate.of(back)
    assert certificate is not None and await registry.subject_of(certificate) is None  # 注销主体: not on record
    assert await reference_violations(back, registry) == []
    old = await registry.apply(new(back, number(sequence=3), approved_at=clock.advance(days=30)))
    assert not old.applied and old.why_key == "subject_cancelled" and "新的主体备案号" in (old.why_zh or "")
    fresh = await registry.apply(new(back, number(serial="20260001"), approved_at=clock()))
    assert fresh.applied and fresh.subject_number == subject_number("20260001")
    found = await registry.subject_of(certificate)
    assert found is not None and found.subject_number == subject_number("20260001")


async def test_a_mobile_on_record_for_another_person_is_refused(registry: SqlRegistry, clock: Clock) -> None:
    first = application(appid(1))
    assert (await registry.apply(new(first, number(sequence=1), approved_at=clock()))).applied
    mobile = first.subject_principal.mobile

    # Another company's principal, another person, gives the same mobile: refused (R4), nothing started.
    other = application(appid(2), subject_name="别家公司")
    other = other.model_copy(update={"subject_principal": _another_person(
        other.subject_principal, mobile=mobile, emergency_mobile="13300133001")})
    assert _keys(await reference_violations(other, registry)) == [
        ("subject_principal.mobile", "R4.mobile_on_record_for_another_person")]

    # ... or gives it as the emergency number.
    emergency = other.model_copy(update={"subject_principal": other.subject_principal.model_copy(
        update={"mobile": "13300133000", "emergency_mobile": f"+86 {mobile}"})})
    assert _keys(await reference_violations(emergency, registry)) == [
        ("subject_principal.emergency_mobile", "R4.mobile_on_record_for_another_person")]

    # The same person (same document) is the principal of another company too: their own mobile is fine.
    same_person = application(appid(3), subject_name="别家公司")
    assert await reference_violations(same_person, registry) == []

    # Filed under its own principal's mobile, the other company cannot take the first's in a CHANGE.
    filed = application(appid(4), subject_name="别家公司")
    filed = filed.model_copy(update={"subject_principal": _another_person(
        filed.subject_principal, mobile="13300133002", emergency_mobile="13300133003")})
    assert (await registry.apply(new(filed, number("27000001", sequence=1), approved_at=clock()))).applied
    unchanged = filed.model_copy(update={"kind": FilingKind.CHANGE, "filing_number": number("27000001", sequence=1)})
    assert await reference_violations(unchanged, registry) == []
    change = unchanged.model_copy(update={"subject_principal": other.subject_principal})
    assert _keys(await reference_violations(change, registry)) == [
        ("subject_principal.mobile", "R4.mobile_on_record_for_another_person")]

    # Once the first filing is cancelled, its mobiles are no longer on record for anyone.
    assert (await registry.apply(approval(FilingKind.CANCEL_MINI_PROGRAM, appid(1), number(sequence=1),
                                          approved_at=clock()))).applied
    assert await reference_violations(other, registry) == []


@pytest.fixture
def filings(database_url: str, tmp_path: Path) -> Callable[..., Awaitable[Result]]:
    """`filings registry …` with the operator's environment (the registry URL and the keys
    file), run in a thread as its own process would: the command runs its own event loop."""
    write_test_keys(tmp_path / "data")
    env = {"FILINGS_DATA_DIR": str(tmp_path / "data"), "FILINGS_REGISTRY_URL": database_url}
    return lambda *args: asyncio.to_thread(CliRunner().invoke, filings_app, ["registry", *args], env=env)


async def test_one_company_under_three_numbers_is_reported_and_merged(
    registry: SqlRegistry, clock: Clock, database_url: str, filings: Callable[..., Awaitable[Result]]
) -> None:
    # Today's code let the README walk run three times give one company three subject numbers;
    # migration 0006 leaves what it adds empty (it holds no keys): that registry, as migrated.
    def as_before_0006() -> None:
        engine = create_engine(database_url)
        try:
            with engine.begin() as c:
                c.execute(update(subjects).values(certificate_type=None, certificate_number=None,
                                                  certificate_digest=None, certificate_sealed=None))
                c.execute(delete(mobiles_on_record))
        finally:
            engine.dispose()

    serials = ("18021892", "18021893", "18021894")
    for n, serial in enumerate(serials, start=1):
        app = application(appid(n), program_name=f"示例小程序{n}")
        assert (await registry.apply(new(app, number(serial=serial), approved_at=clock.advance(days=1)))).applied
        as_before_0006()
    keep, *others = (subject_number(s) for s in serials)

    # The operator's command lists the conflict (exit 1) and what resolves it.
    listed = await filings("identify-subjects")
    assert listed.exit_code == 1, listed.output
    assert f"conflict: {keep}, {others[0]}, {others[1]}" in listed.stdout
    assert f"filings registry merge-subject {keep} {others[0]}" in listed.stdout

    # Merged by the command, one transaction each; a wrong merge changes nothing.
    assert (await filings("merge-subject", keep, keep)).exit_code == 1
    for other in others:
        merged = await filings("merge-subject", keep, other)
        assert merged.exit_code == 0, merged.output
        assert f"merged {other} into {keep}" in merged.stdout

    # The company's certificate, which the registry never kept, given by the operator: no conflict left.
    code = SubjectCertificate.of(application(appid(1)))
    assert code is not None
    done = await filings("identify-subjects", "--certificate", f"{keep}={code.number.lower()}")
    assert done.exit_code == 0, done.output
    assert (await filings("identify-subjects")).exit_code == 0

    # Lookups right afterwards: one subject with its three filings, numbers as issued; the merged
    # numbers are retired; the next mini-program is proposed under the kept number.
    programs = await registry.subject_mini_programs(keep)
    assert [p.service_number for p in programs] == [number(serial=s) for s in serials]
    assert {p.subject_number for p in programs} == {keep}
    for other in others:
        retired = await registry.subject(other)
        assert retired is not None and retired.state is RecordState.CANCELLED
    found = await registry.subject_of(code)
    assert found is not None and found.subject_number == keep
    assert await registry.next_number(keep) == number(sequence=2)
    assert await reference_violations(application(appid(4)), registry) == []
    fourth = await registry.apply(new(application(appid(4)), number(sequence=2), approved_at=clock()))
    assert fourth.applied and fourth.subject_number == keep
    # A moved mini-program still cancels its (kept) subject through its own number.
    whole = await registry.apply(approval(FilingKind.CANCEL_SUBJECT, appid(2), number(serial=serials[1]),
                                          approved_at=clock()))
    assert whole.applied and len(whole.cancelled) == 4
