"""Loading filings made before this system (SPEC §11): `filings registry import FILE`.

A file is JSON lines (one `ImportEntry` per line) or CSV (flat columns, `registry.import_csv`).
Every line is checked by the domain's rules that apply to a past filing — R1, R3, R4, R5,
R6; not the clock rules R2/R7 (a document may have expired since) and not the materials —
and by the registry's own: the service number's format and province, its subject number,
and uniqueness of numbers (and of an appid's active filing) inside the file and against
the registry. All or nothing: every bad line is reported with its line number, field and
message, and nothing is loaded when any line is bad; a good file loads in one transaction.

`face_verification` may be left out of a line: the registry does not keep it (a filing
from before 2023 had none), so a placeholder stands in for the model's sake.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import ValidationError
from sqlalchemy import Connection

from engine.sealing import Sealer
from filing.filing_number import FilingNumber, InvalidFilingNumber, parse_filing_number
from filing.preapproval import load_preapproval_categories
from filing.provinces import find_province
from filing.registry import ImportEntry, RecordState, SubjectCertificate
from filing.rules import check_application
from filing.schema_errors import field_path
from registry import identity, import_csv
from registry import queries as q
from registry.changes import insert_program, insert_subject, lock_keys
from registry.database import serialize_on
from registry.numbers import key_of, subject_part

#: The rules a past filing is checked by (not R2/R7: they depend on the clock at submission).
IMPORT_RULES = frozenset({"R1", "R3", "R4", "R5", "R6"})
Format = Literal["csv", "jsonl"]
Numbered = tuple[int, ImportEntry]


class NumberedImport(Protocol):
    """What `import_file` loads into: `SqlRegistry.import_numbered` (named by shape, so this
    module, which the registry imports, does not import the registry back)."""

    async def import_numbered(self, entries: Iterable[Numbered], *, dry_run: bool = False) -> int: ...


@dataclass(frozen=True)
class ImportProblem:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class ImportRefused(ValueError):
    """Bad lines: nothing was loaded. `problems` holds every one, in line order."""

    def __init__(self, problems: Iterable[ImportProblem], source: str = "import") -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        lines = len({p.line for p in self.problems})
        self.summary = f"{source}: {len(self.problems)} problem(s) on {lines} line(s); nothing was loaded"
        super().__init__("\n".join([self.summary, *map(str, self.problems)]))


# --- checks --------------------------------------------------------------------------


def check_entries(entries: Sequence[Numbered], categories: frozenset[str] | None = None) -> list[ImportProblem]:
    """The checks that need no database: rules, numbers, and uniqueness inside the file."""
    categories = load_preapproval_categories() if categories is None else categories
    problems: list[ImportProblem] = []
    numbers: dict[str, int] = {}
    active_appids: dict[str, int] = {}
    subjects: dict[str, tuple[int, str]] = {}
    for line, entry in entries:
        app = entry.application
        for v in check_application(app, entry.approved_at, categories=categories, rules=IMPORT_RULES,
                                   past_filing=True):
            problems.append(ImportProblem(line, f"application.{v.field}", f"{v.key}: {v.message_en}"))
        try:
            number = parse_filing_number(entry.service_number, mini_program=True)
        except InvalidFilingNumber as err:
            problems.append(ImportProblem(line, "service_number", f"invalid_number: {err}"))
            continue
        problems += _number_fits_subject(line, entry, number)
        if (first := numbers.setdefault(key_of(number), line)) != line:
            problems.append(ImportProblem(line, "service_number", f"duplicate_number: {entry.service_number} is "
                                          f"also on line {first}; a number is issued once"))
        if entry.state is RecordState.ACTIVE and (first := active_appids.setdefault(app.appid, line)) != line:
            problems.append(ImportProblem(line, "application.mini_program.appid", f"already_filed: {app.appid} has "
                                          f"an active filing on line {first} too; an appid holds one at a time"))
        subject_key = key_of(subject_part(number))
        first, name = subjects.setdefault(subject_key, (line, app.subject.name))
        if name != app.subject.name:
            problems.append(ImportProblem(line, "application.subject.name", f"subject_number_taken: the subject "
                                          f"number of {entry.service_number} belongs to another subject name on "
                                          f"line {first}"))
    return problems


def _number_fits_subject(line: int, entry: ImportEntry, number: FilingNumber) -> list[ImportProblem]:
    subject = entry.application.subject
    problems = []
    province = find_province(subject.address.province)
    if province is not None and province != number.province:
        problems.append(ImportProblem(line, "service_number", f"province_mismatch: {entry.service_number} is a "
                                      f"number of {number.province.name}, the subject is in {province.name} "
                                      f"(prefix {province.prefix})"))
    if subject.subject_number:
        try:
            named = parse_filing_number(subject.subject_number, mini_program=False)
            fits = named.is_subject_number and key_of(named) == key_of(subject_part(number))
        except InvalidFilingNumber:
            fits = False
        if not fits:
            problems.append(ImportProblem(line, "application.subject.subject_number", f"number_outside_subject: "
                                          f"{entry.service_number} does not extend the subject number "
                                          f"{subject.subject_number}"))
    return problems


def check_against_registry(connection: Connection, entries: Sequence[Numbered]) -> list[ImportProblem]:
    """Numbers never issued before, an appid's single active filing, subjects that match."""
    problems: list[ImportProblem] = []
    for line, entry in entries:
        try:
            number = parse_filing_number(entry.service_number, mini_program=True)
        except InvalidFilingNumber:
            continue  # reported by check_entries
        taken = q.program_by_key(connection, key_of(number))
        if taken is not None:
            problems.append(ImportProblem(line, "service_number", f"number_taken: {entry.service_number} is already "
                                          f"in the registry, issued to the {q.holder(taken)}"))
        app = entry.application
        active = q.active_program(connection, app.appid) if entry.state is RecordState.ACTIVE else None
        if active is not None and active.service_key != key_of(number):
            problems.append(ImportProblem(line, "application.mini_program.appid", f"already_filed: {app.appid} "
                                          f"already holds the active filing {active.service_number} in the registry"))
        subject = q.subject_by_key(connection, key_of(subject_part(number)))
        if subject is not None and subject.name != app.subject.name:
            problems.append(ImportProblem(line, "application.subject.name", f"subject_number_taken: the subject "
                                          f"number {subject.subject_number} is held by "
                                          f"{q.public_subject_name(subject.name, subject.type)} in the registry"))
        elif subject is not None and subject.state != RecordState.ACTIVE and entry.state is RecordState.ACTIVE:
            problems.append(ImportProblem(line, "state", f"not_active: the subject number {subject.subject_number} "
                                          "is cancelled in the registry; an active filing cannot be added under it"))
    return problems


def check_certificates(connection: Connection, sealer: Sealer, entries: Sequence[Numbered]) -> list[ImportProblem]:
    """One subject number per certificate (issue 17): inside the file, and against the
    subjects on record (a cancelled subject's certificate may come back under a new number)."""
    problems: list[ImportProblem] = []
    seen: dict[str, tuple[int, str]] = {}
    for line, entry in entries:
        certificate = SubjectCertificate.of(entry.application)
        try:
            subject = subject_part(parse_filing_number(entry.service_number, mini_program=True))
        except InvalidFilingNumber:
            continue  # reported by check_entries
        if certificate is None:
            continue
        field = ("application.subject_principal.identity_document.number" if certificate.personal
                 else "application.subject.unit_certificate.number")
        first, first_subject = seen.setdefault(certificate.canonical, (line, key_of(subject)))
        if first_subject != key_of(subject):
            problems.append(ImportProblem(line, field, f"subject_certificate_elsewhere: the subject's certificate is "
                                          f"under another subject number on line {first}; a subject has one"))
            continue
        on_record = identity.active_subject_of(connection, sealer, certificate)
        if on_record is not None and on_record.subject_key != key_of(subject):
            problems.append(ImportProblem(line, field, f"subject_certificate_elsewhere: the subject's certificate is "
                                          f"on record under the subject number {on_record.subject_number}; a "
                                          "subject has one"))
    return problems


def load(
    connection: Connection, entries: Sequence[Numbered], sealer: Sealer, now: datetime, *, dry_run: bool = False
) -> int:
    """Check everything, then write everything (on the caller's transaction); raises
    `ImportRefused` with every problem, before any write, when a line is bad."""
    serialize_on(connection, (key for _, e in entries for key in lock_keys(e.application.appid, e.service_number)))
    problems = (check_entries(entries) + check_against_registry(connection, entries)
                + check_certificates(connection, sealer, entries))
    if problems:
        raise ImportRefused(problems)
    if dry_run:
        return len(entries)
    created: set[str] = set()
    for _, entry in entries:
        number = parse_filing_number(entry.service_number, mini_program=True)
        subject = subject_part(number)
        if key_of(subject) not in created and q.subject_by_key(connection, key_of(subject)) is None:
            insert_subject(connection, subject, entry.application, now, sealer)
        created.add(key_of(subject))
        insert_program(connection, sealer, now, number=number, application=entry.application, state=entry.state,
                       approved_at=entry.approved_at, last_filing_id=None)
    return len(entries)


# --- files ---------------------------------------------------------------------------


def _with_placeholder_face(document: Any, approved_at: Any) -> Any:
    """The registry does not keep 人脸核身 records: a line may leave it out."""
    own = document.get("application", {}).get("mini_program_principal") if isinstance(document, dict) else None
    if isinstance(own, dict) and "face_verification" not in own:
        own["face_verification"] = {"record_id": "imported", "passed": True, "verified_at": approved_at or "1970-01-01"}
    return document


def _entry(line: int, document: Any) -> tuple[ImportEntry | None, list[ImportProblem]]:
    if not isinstance(document, dict):
        return None, [ImportProblem(line, "line", "expected a JSON object (one ImportEntry per line)")]
    _with_placeholder_face(document, document.get("approved_at"))
    try:
        return ImportEntry.model_validate(document), []
    except ValidationError as err:
        return None, [
            ImportProblem(line, field_path(e["loc"], ImportEntry), f"schema.{e['type']}: {e['msg']}")
            for e in err.errors(include_input=False, include_url=False)
        ]


def read_jsonl(text: str) -> tuple[list[Numbered], list[ImportProblem]]:
    entries: list[Numbered] = []
    problems: list[ImportProblem] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as err:
            problems.append(ImportProblem(line, "line", f"not valid JSON: {err.msg} at column {err.colno}"))
            continue
        entry, found = _entry(line, document)
        problems += found
        if entry is not None:
            entries.append((line, entry))
    return entries, problems


def read_csv(text: str) -> tuple[list[Numbered], list[ImportProblem]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = import_csv.unknown_columns(list(header))
    if not header or "service_number" not in header or unknown:
        what = f"unknown column(s) {', '.join(unknown)}" if unknown else "no service_number column"
        raise ImportRefused([ImportProblem(1, "header", f"{what}; the columns are {', '.join(import_csv.COLUMNS)}")])
    entries: list[Numbered] = []
    problems: list[ImportProblem] = []
    line = reader.line_num + 1
    for row in reader:
        if None in row:
            problems.append(ImportProblem(line, "row", f"more cells than the header's {len(header)} columns"))
        elif any((cell or "").strip() for cell in row.values()):
            entry, found = _entry(line, import_csv.entry_document(row))
            problems += found
            if entry is not None:
                entries.append((line, entry))
        line = reader.line_num + 1
    return entries, problems


def format_of(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ValueError(f"{path.name}: cannot tell the format from the extension {suffix or '(none)'}; "
                     "use .csv or .jsonl, or name the format (--format csv|jsonl)")


def read_file(path: Path, fmt: Format | None = None) -> tuple[list[Numbered], list[ImportProblem]]:
    fmt = fmt or format_of(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ImportRefused([ImportProblem(1, "file", f"not UTF-8 text ({err.reason} at byte {err.start})")],
                            str(path)) from None
    return read_csv(text) if fmt == "csv" else read_jsonl(text)


async def import_file(path: Path, registry: NumberedImport, fmt: Format | None = None) -> int:
    """Load the file's filings, all or none; `ImportRefused` names every bad line."""
    fmt = fmt or format_of(path)
    entries, problems = read_file(path, fmt)
    try:
        # With lines that did not even parse, the others are still checked (nothing is written),
        # so that one run reports every bad line.
        count = await registry.import_numbered(entries, dry_run=bool(problems))
    except ImportRefused as refused:
        problems += refused.problems
    if problems:
        if fmt == "csv":
            problems = [replace(p, field=import_csv.column_of(p.field)) for p in problems]
        raise ImportRefused(problems, str(path))
    return count
