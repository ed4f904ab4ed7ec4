"""The operator's side of subject identity (issue 17): filling in who the subjects recorded
before migration 0006 are, listing one subject under two numbers, and merging them.

`identify`: migration 0006 adds the certificate columns empty (a migration holds no keys);
this fills them where the registry has what is needed: a personal subject's identity
document from its sealed people on record, a unit's certificate from the operator
(`--certificate NUMBER=CODE`: the registry never recorded a unit's certificate before 0006).
It never fails half-way on conflicting history: a certificate already held by another ACTIVE
subject is reported as a conflict, not written, and so are ACTIVE unit subjects it cannot
identify that share a name, type and province (a company's registered name is unique: very
likely one subject under two numbers). Run again any time: it answers what is left.

`merge`: the operator's choice for a conflict, in one transaction. The other subject's
mini-programs move under the kept subject with their service numbers as issued (a number is
never changed or reissued: `冀ICP备18021893号-1X` stays the filing of record); the other
subject becomes CANCELLED with `merged_into` naming the kept one, so its number is never
issued again; the kept subject takes the other's certificate when it had none.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from engine.sealing import Sealer
from filing.filing_number import InvalidFilingNumber, parse_filing_number
from filing.models import SubjectType
from filing.registry import PeopleOnRecord, RecordState, SubjectCertificate
from registry import identity
from registry import queries as q
from registry.changes import people_context
from registry.database import serialize_on
from registry.numbers import key_of, subject_part
from registry.tables import mini_programs, people_on_record, subjects

ACTIVE = RecordState.ACTIVE.value


class MergeRefused(ValueError):
    """A merge the registry cannot make (nothing was changed)."""


@dataclass
class Conflict:
    """Subjects that look like one: `basis` is `certificate` (the same certificate) or `name`."""

    basis: str
    subject_numbers: list[str]

    def __str__(self) -> str:
        keep, *others = self.subject_numbers
        how = "hold the same certificate" if self.basis == "certificate" else \
            "are unit subjects of the same name, type and province with no certificate on record"
        merges = "; ".join(f"filings registry merge-subject {keep} {o}" for o in others)
        return f"{', '.join(self.subject_numbers)} {how}: one subject has one number ({merges})"


@dataclass
class IdentifyReport:
    identified: list[str] = field(default_factory=list)
    #: (subject number, why not)
    unidentified: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def _subject_key(text: str) -> str:
    try:
        return key_of(subject_part(parse_filing_number(text.strip())))
    except InvalidFilingNumber as err:
        raise ValueError(f"{text}: {err}") from None


def _personal_certificate(connection: Connection, sealer: Sealer, subject_key: str) -> SubjectCertificate | None:
    """A personal subject is its principal: the identity document in its earliest program's people on record."""
    row = connection.execute(
        select(mini_programs.c.service_number, people_on_record.c.sealed)
        .join(people_on_record, people_on_record.c.service_key == mini_programs.c.service_key)
        .where(mini_programs.c.subject_key == subject_key)
        .order_by(mini_programs.c.approved_at, mini_programs.c.id).limit(1)
    ).first()
    if row is None:
        return None
    people = PeopleOnRecord.model_validate_json(sealer.open(row.sealed, people_context(row.service_number)))
    document = people.subject_principal.identity_document
    return SubjectCertificate(personal=True, type=document.type.value, number=document.number)


def identify(
    connection: Connection, sealer: Sealer, unit_certificates: dict[str, str] | None = None
) -> IdentifyReport:
    """Fill in the certificates the registry can know; report the rest (see the module)."""
    given = {_subject_key(number): code for number, code in (unit_certificates or {}).items()}
    report = IdentifyReport()
    rows = list(connection.execute(select(subjects).order_by(subjects.c.created_at, subjects.c.subject_key)))
    known = {row.subject_key for row in rows}
    for key in given:
        if key not in known:
            raise ValueError(f"--certificate names {key}, which is not a subject in the registry")
    held: dict[str, list[str]] = defaultdict(list)  # canonical certificate -> subject numbers (ACTIVE)
    unknown_units: list[Row[Any]] = []
    for row in rows:
        certificate = identity.sealed_certificate(sealer, row)
        if certificate is None:
            if SubjectType(row.type) is SubjectType.PERSONAL:
                certificate = _personal_certificate(connection, sealer, row.subject_key)
            elif row.subject_key in given:
                certificate = SubjectCertificate(personal=False, type="", number=given[row.subject_key])
            if certificate is None:
                if row.state == ACTIVE:
                    unknown_units.append(row)
                report.unidentified.append((row.subject_number, "no certificate on record (a unit subject recorded "
                                            "before the registry kept certificates): give it with --certificate"))
                continue
            if row.state == ACTIVE and held.get(certificate.canonical):
                held[certificate.canonical].append(row.subject_number)  # reported below, not written
                continue
            connection.execute(update(subjects).where(subjects.c.subject_key == row.subject_key)
                               .values(**identity.certificate_columns(sealer, certificate, row.subject_key)))
            report.identified.append(row.subject_number)
        if row.state == ACTIVE:
            held[certificate.canonical].append(row.subject_number)
    report.conflicts = [Conflict("certificate", numbers) for numbers in held.values() if len(numbers) > 1]
    by_name: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for row in unknown_units:
        by_name[(row.name, row.type, row.province)].append(row.subject_number)
    report.conflicts += [Conflict("name", numbers) for numbers in by_name.values() if len(numbers) > 1]
    return report


@dataclass
class Merged:
    kept: str
    merged: str
    moved: list[str]


def merge(connection: Connection, sealer: Sealer, keep: str, other: str) -> Merged:
    """Move `other`'s mini-programs under `keep` and retire `other` (see the module)."""
    keep_key, other_key = _subject_key(keep), _subject_key(other)
    if keep_key == other_key:
        raise MergeRefused(f"{keep} and {other} are the same subject number")
    serialize_on(connection, [f"subject:{keep_key}", f"subject:{other_key}"])
    kept, gone = (q.subject_by_key(connection, key, for_update=True) for key in (keep_key, other_key))
    for text, row in ((keep, kept), (other, gone)):
        if row is None:
            raise MergeRefused(f"{text} is not a subject number in the registry")
        if row.state != ACTIVE:
            raise MergeRefused(f"the subject number {row.subject_number} is {row.state.lower()}: only active "
                               "subjects are merged")
    assert kept is not None and gone is not None
    if kept.province != gone.province:
        raise MergeRefused(f"{kept.subject_number} is in {kept.province}, {gone.subject_number} in {gone.province}: "
                           "one subject files in one province; these are not one subject")
    kept_certificate, gone_certificate = identity.sealed_certificate(sealer, kept), identity.sealed_certificate(sealer, gone)
    if kept_certificate and gone_certificate and kept_certificate.canonical != gone_certificate.canonical:
        raise MergeRefused(f"{kept.subject_number} and {gone.subject_number} hold different certificates: "
                           "they are two subjects")
    moved = [row.service_number for row in q.programs_of_subject(connection, other_key)]
    connection.execute(update(mini_programs).where(mini_programs.c.subject_key == other_key)
                       .values(subject_key=keep_key))
    connection.execute(update(subjects).where(subjects.c.subject_key == other_key)
                       .values(state=RecordState.CANCELLED.value, merged_into=keep_key, updated_at=datetime.now(UTC)))
    if kept_certificate is None and gone_certificate is not None:
        connection.execute(update(subjects).where(subjects.c.subject_key == keep_key)
                           .values(**identity.certificate_columns(sealer, gone_certificate, keep_key)))
    return Merged(kept=kept.subject_number, merged=gone.subject_number, moved=moved)

