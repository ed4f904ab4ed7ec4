"""Who a subject and a person are, as the registry stores and finds them (issue 17, R4, R8).

A subject is known by its certificate (`SubjectCertificate`): a unit's 统一社会信用代码 is kept
in clear (it is public, MIIT's lookup shows the unit), a personal subject's identity document
only sealed, with the payload keyring, as the people on record are. Both are found through a
keyed digest (`Sealer.digest`): a plain hash of an identity number or a mobile would be
reversed by trying every number. Lookups match the digest under every key of the ring, so a
key rotation does not hide the rows digested before it.

Mobiles on record (R4 across the registry): one row per mobile of a person on record, naming
the mobile and the person's identity document by their digests, never in clear.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select

from engine.sealing import Sealer
from filing.models import IdentityDocument
from filing.registry import PeopleOnRecord, RecordState, SubjectCertificate
from registry.tables import mini_programs, mobiles_on_record, subjects

_CERTIFICATE = "subject-certificate"
_PERSON = "person"
_MOBILE = "mobile"


def certificate_context(subject_key: str) -> str:
    """Sealing context of a personal subject's document: it opens only on its own row."""
    return f"registry.subject_certificate:{subject_key}"


def certificate_columns(sealer: Sealer, certificate: SubjectCertificate, subject_key: str) -> dict[str, Any]:
    """The `subjects` columns that say who the subject is."""
    return {
        "certificate_type": certificate.type,
        "certificate_number": None if certificate.personal else certificate.number.strip().upper(),
        "certificate_digest": sealer.digest(certificate.canonical, _CERTIFICATE),
        "certificate_sealed": (
            sealer.seal(certificate.model_dump_json().encode(), certificate_context(subject_key))
            if certificate.personal else None
        ),
    }


def sealed_certificate(sealer: Sealer, row: Row[Any]) -> SubjectCertificate | None:
    """The certificate a subject row holds (opened for a personal one), None if unidentified."""
    if row.certificate_sealed is not None:
        return SubjectCertificate.model_validate_json(sealer.open(row.certificate_sealed,
                                                                 certificate_context(row.subject_key)))
    if row.certificate_number is not None:
        return SubjectCertificate(personal=False, type=row.certificate_type or "", number=row.certificate_number)
    return None


def active_subject_of(
    connection: Connection, sealer: Sealer, certificate: SubjectCertificate, *, for_update: bool = False
) -> Row[Any] | None:
    """The ACTIVE subject holding `certificate`, None when none does (a cancelled subject is
    not on record: a later NEW of it gets a new subject number)."""
    found = subjects.c.certificate_digest.in_(sealer.digests(certificate.canonical, _CERTIFICATE))
    if not certificate.personal:
        found = or_(found, subjects.c.certificate_number == certificate.number.strip().upper())
    query = (select(subjects).where(found, subjects.c.state == RecordState.ACTIVE.value)
             .order_by(subjects.c.created_at, subjects.c.subject_key))
    if for_update:
        query = query.with_for_update()
    return connection.execute(query).first()


def person_digests(sealer: Sealer, document: IdentityDocument) -> list[str]:
    return sealer.digests(f"{document.type.value}|{document.number.strip().upper()}", _PERSON)


def canonical_mobile(mobile: str) -> str:
    """`+86 138-0013-8000` and `13800138000` are one mobile."""
    digits = re.sub(r"[\s\-()]", "", mobile)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


def mobile_digests(sealer: Sealer, mobile: str) -> list[str]:
    return sealer.digests(canonical_mobile(mobile), _MOBILE)


def record_mobiles(connection: Connection, sealer: Sealer, service_key: str, people: PeopleOnRecord) -> None:
    """(Re)write the mobiles on record of one mini-program: each person's own mobile."""
    connection.execute(delete(mobiles_on_record).where(mobiles_on_record.c.service_key == service_key))
    rows = {
        (sealer.digest(canonical_mobile(person.mobile), _MOBILE), person_digests(sealer, person.identity_document)[0])
        for person in (people.subject_principal, people.mini_program_principal)
        if person.mobile.strip()
    }
    for mobile_digest, person_digest in sorted(rows):
        connection.execute(insert(mobiles_on_record).values(
            service_key=service_key, mobile_digest=mobile_digest, person_digest=person_digest))


def mobile_held_by_another(connection: Connection, sealer: Sealer, mobile: str, document: IdentityDocument) -> bool:
    """Whether `mobile` is on record, in an ACTIVE filing, for a person with another identity document."""
    query = (
        select(mobiles_on_record.c.service_key)
        .join(mini_programs, mini_programs.c.service_key == mobiles_on_record.c.service_key)
        .where(
            mobiles_on_record.c.mobile_digest.in_(mobile_digests(sealer, mobile)),
            mobiles_on_record.c.person_digest.not_in(person_digests(sealer, document)),
            mini_programs.c.state == RecordState.ACTIVE.value,
        )
        .limit(1)
    )
    return connection.execute(query).first() is not None
