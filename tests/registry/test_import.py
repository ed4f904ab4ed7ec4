"""Operators load filings made before this system (SPEC §11): checked line by line, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from filing.models import FilingKind
from filing.registry import ImportEntry, RecordState
from registry.importer import ImportRefused, import_file
from registry.sql_registry import SqlRegistry
from registry.tables import mini_programs, people_on_record, subjects
from tests.registry.conftest import Clock
from tests.registry.filings import (
    application,
    appid,
    approval,
    csv_text,
    entry,
    jsonl,
    new,
    number,
    subject_number,
)

S1, S2, S3 = subject_number("11110001"), subject_number("22220002"), subject_number("33330003")


def _good_entries() -> list[ImportEntry]:
    company_a, company_b = "甲公司", "乙公司"
    return [
        entry(application(appid(1), subject_name=company_a), number("11110001", 1)),
        entry(application(appid(2), subject_name=company_a, named_subject_number=S1, program_name="旧小程序"),
              number("11110001", 2), state=RecordState.CANCELLED),
        entry(application(appid(3), subject_name=company_b, own_principal=True), number("22220002", 1)),
        entry(application(appid(4), personal=True), number("33330003", 1), state=RecordState.ACCESS_CANCELLED),
        entry(application(appid(5), subject_name=company_a, program_name="新小程序"), number("11110001", 3)),
    ]


def _with_bad_id_check_digit(e: ImportEntry) -> ImportEntry:
    broken = e.model_copy(deep=True)
    document = broken.application.subject_principal.identity_document
    document.number = document.number[:-1] + ("1" if document.number[-1] != "1" else "2")
    return broken


def _bad_entries() -> tuple[list[ImportEntry], str]:
    """Line 3: a resident ID whose check digit is wrong; line 5: line 1's number again."""
    entries = _good_entries()
    bad_id = entries[2].application.subject_principal.identity_document.number
    entries[2] = _with_bad_id_check_digit(entries[2])
    entries[4] = entries[4].model_copy(update={"service_number": entries[0].service_number})
    return entries, bad_id


def _rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return {t.name: int(c.execute(select(func.count()).select_from(t)).scalar_one())
                    for t in (subjects, mini_programs, people_on_record)}
    finally:
        engine.dispose()


async def test_a_good_file_loads_and_its_filings_live_on(registry: SqlRegistry, tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "earlier.jsonl"
    lines = jsonl(_good_entries()).splitlines()
    document = json.loads(lines[0])  # a filing from before 人脸核身 existed: no record
    del document["application"]["mini_program_principal"]["face_verification"]
    path.write_text("\n".join([json.dumps(document, ensure_ascii=False), "", *lines[1:]]) + "\n")

    assert await import_file(path, registry) == 5
    assert [e.service_number for e in await registry.lookup(number=S1, include_cancelled=True)] == [
        number("11110001", n) for n in (1, 2, 3)]
    assert [e.state for e in await registry.lookup(number=S1, include_cancelled=True)] == [
        RecordState.ACTIVE, RecordState.CANCELLED, RecordState.ACTIVE]
    assert [e.service_number for e in await registry.lookup(number=S1)] == [number("11110001", n) for n in (1, 3)]
    personal = await registry.lookup(appid=appid(4))
    assert personal[0].state is RecordState.ACCESS_CANCELLED and personal[0].subject_name == "张*"
    people = await registry.people_on_record(number("22220002", 1))
    assert people is not None and people.mini_program_principal.name == "李四"
    record = await registry.mini_program(appid(5))
    assert record is not None and record.last_filing_id is None and record.approved_at == _good_entries()[4].approved_at

    # Imported filings are filings like any other: numbered on, changed, never issued twice.
    assert await registry.next_number(S1) == number("11110001", 4)
    changed = application(appid(1), subject_name="甲公司", kind=FilingKind.CHANGE, program_name="改名了")
    applied = await registry.apply(approval(FilingKind.CHANGE, appid(1), number("11110001", 1),
                                            approved_at=clock(), app=changed))
    assert applied.applied
    taken = await registry.apply(new(application(appid(9), subject_name="丙公司"), number("22220002", 1),
                                     approved_at=clock()))
    assert not taken.applied and taken.why_key == "number_taken"


async def test_a_file_with_bad_lines_loads_nothing_and_names_every_one(
    registry: SqlRegistry, tmp_path: Path, database_url: str
) -> None:
    entries, bad_id = _bad_entries()
    path = tmp_path / "earlier.jsonl"
    path.write_text(jsonl(entries))
    with pytest.raises(ImportRefused) as refused:
        await import_file(path, registry)
    problems = refused.value.problems
    assert [(p.line, p.field) for p in problems] == [
        (3, "application.subject_principal.identity_document.number"),
        (5, "service_number"),
    ]
    assert problems[0].message.startswith("R3.invalid_resident_id")
    assert problems[1].message.startswith("duplicate_number") and "line 1" in problems[1].message
    assert "nothing was loaded" in str(refused.value) and bad_id not in str(refused.value)
    assert _rows(database_url) == {"subjects": 0, "mini_programs": 0, "people_on_record": 0}

    # Fixed, the same file loads.
    entries[2], entries[4] = _good_entries()[2], _good_entries()[4]
    path.write_text(jsonl(entries))
    assert await import_file(path, registry) == 5


async def test_importing_the_same_numbers_again_is_refused(
    registry: SqlRegistry, tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "earlier.jsonl"
    path.write_text(jsonl(_good_entries()))
    await import_file(path, registry)
    loaded = _rows(database_url)
    with pytest.raises(ImportRefused) as refused:
        await import_file(path, registry)
    taken = [p for p in refused.value.problems if p.message.startswith("number_taken")]
    assert [p.line for p in taken] == [1, 2, 3, 4, 5]
    assert {p.message.split(":")[0] for p in refused.value.problems} == {"number_taken"}  # said once per line
    assert _rows(database_url) == loaded

    # An approval that took a number meanwhile is seen too, by the registry itself.
    with pytest.raises(ImportRefused, match="line 1: service_number: number_taken"):
        await registry.import_entries([entry(application(appid(7), subject_name="甲公司"), number("11110001", 1))])


async def test_unreadable_lines_are_reported_with_the_rest(registry: SqlRegistry, tmp_path: Path,
                                                           clock: Clock) -> None:
    await registry.apply(new(application(appid(8), subject_name="丁公司"), number("44440004", 1),
                             approved_at=clock()))
    good = _good_entries()
    missing_appid = json.loads(good[2].model_dump_json())
    del missing_appid["application"]["mini_program"]["appid"]
    clash = entry(application(appid(6), subject_name="丁公司"), number("44440004", 1))
    path = tmp_path / "earlier.jsonl"
    path.write_text(jsonl([good[0], "{not json", json.dumps(missing_appid), "[1, 2]", clash]))
    with pytest.raises(ImportRefused) as refused:
        await import_file(path, registry)
    assert [(p.line, p.field) for p in refused.value.problems] == [
        (2, "line"), (3, "application.mini_program.appid"), (4, "line"), (5, "service_number"),
    ]
    assert "number_taken" in refused.value.problems[-1].message  # checked against the registry all the same
    assert await registry.mini_program(appid(1)) is None


async def test_a_csv_file_loads_and_its_problems_name_columns(registry: SqlRegistry, tmp_path: Path) -> None:
    good = tmp_path / "earlier.csv"
    good.write_text("\ufeff" + csv_text(_good_entries()[:3]))  # saved from a spreadsheet: with a BOM
    assert await import_file(good, registry) == 3
    people = await registry.people_on_record(number("22220002", 1))
    assert people is not None and people.mini_program_principal.name == "李四"

    entries, _ = _bad_entries()
    bad = tmp_path / "more.csv"
    bad.write_text(csv_text(entries[3:] + [_with_bad_id_check_digit(_good_entries()[3])]))
    with pytest.raises(ImportRefused) as refused:
        await import_file(bad, registry)
    # Header is line 1: the rows are lines 2, 3 and 4.
    assert [(p.line, p.field) for p in refused.value.problems] == [
        (3, "service_number"),  # line 1's number of the first file, already loaded
        (4, "principal_id_number"),
        (4, "service_number"),  # the same number as line 2
    ]
    assert await registry.mini_program(appid(4)) is None


async def test_a_csv_header_with_an_unknown_column_is_refused(registry: SqlRegistry, tmp_path: Path) -> None:
    path = tmp_path / "earlier.csv"
    path.write_text("service_number,appid,licence\n冀ICP备11110001号-1X,wx0000000000000001,x\n")
    with pytest.raises(ImportRefused, match="line 1: header: unknown column.*licence.*the columns are service_number"):
        await import_file(path, registry)


async def test_csv_pre_approvals_are_checked_by_r6(registry: SqlRegistry, tmp_path: Path) -> None:
    from filing.models import PreApproval

    def teaching(*records: PreApproval) -> ImportEntry:
        app = application(appid(1))
        mini_program = app.mini_program.model_copy(update={"service_categories": ["生活服务", "教育"],
                                                           "pre_approvals": list(records)})
        return entry(app.model_copy(update={"mini_program": mini_program}), number("11110001", 1))

    path = tmp_path / "earlier.csv"
    path.write_text(csv_text([teaching()]))
    with pytest.raises(ImportRefused) as refused:
        await import_file(path, registry)
    assert [(p.line, p.field) for p in refused.value.problems] == [(2, "service_categories")]
    assert refused.value.problems[0].message.startswith("R6.pre_approval_missing")

    path.write_text(csv_text([teaching(PreApproval(category="教育", approval_number="冀教审〔2019〕12号",
                                                   document_name="民办学校办学许可证"))]))
    assert await import_file(path, registry) == 1
