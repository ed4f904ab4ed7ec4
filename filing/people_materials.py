"""The people's materials as WeChat's filing form asks for them (R10, SPEC §3; issue 17).

WeChat's `apply_icp_filing` takes, per principal, the identity document's front and back
(`certificate_photo_front` / `_back`) and, when the principal is not the subject's legal
representative, the subject's authorisation letter (`authorization_letter`); for the legal
representative only a name and an identity number (`legal_person_info`); and for a personal
subject who is not from the filing's province a residence certificate
(`personal_info.residence_permit`). This module says which of those an application must
name and what is wrong with the shapes filings used before (a single `scan`, the legal
representative's whole document). Pure; `filing.materials` folds it into R10.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from filing.ids import document_province_code
from filing.messages import Violation
from filing.models import Application, IdentityDocumentType, Person, SubjectType
from filing.provinces import find_province

#: Documents with no back to scan: a passport's photo page is the whole identity part.
WITHOUT_BACK = frozenset({IdentityDocumentType.PASSPORT})


@dataclass(frozen=True, slots=True)
class PersonMaterial:
    """One material of the people's part: where it goes, what it is, and the name given (None = missing)."""

    field: str
    what_zh: str
    what_en: str
    sha256: str | None


def _v(field: str, key: str, zh: str, en: str) -> Violation:
    return Violation(field=field, key=key, message_zh=zh, message_en=en)


def _principals(app: Application) -> list[tuple[str, str, str, Person]]:
    """The principals with their paths and how messages name them: as `Application.verifiers`,
    an ignored person or the subject principal entered twice (same document) is not another."""
    people = [("subject_principal", "主体负责人", "the subject principal", app.subject_principal)]
    verifiers = app.verifiers()
    if len(verifiers) > 1:
        people.append(("mini_program_principal.person", "小程序负责人", "the mini-program principal", verifiers[1]))
    return people


def _id(number: str | None) -> str:
    return (number or "").strip().upper()


def legal_representative_number(app: Application) -> str | None:
    """Whose identity number is the legal representative's: the subject principal's when they
    are it, else the one the application names; None for a personal subject (none)."""
    subject = app.subject
    if subject.type is SubjectType.PERSONAL:
        return None
    if subject.principal_is_legal_representative:
        return app.subject_principal.identity_document.number
    return subject.legal_representative.number if subject.legal_representative is not None else None


def needs_residence_certificate(app: Application) -> bool:
    """A personal subject files in the province its document shows, or proves residence there.

    A resident ID shows its province in its first two digits (a 2023 foreign permanent
    resident ID in its second and third); a passport, a permit or a residence permit shows
    none, so its holder shows a residence certificate too. An unknown province is R5's."""
    subject = app.subject
    if subject.type is not SubjectType.PERSONAL:
        return False
    province = find_province(subject.address.province)
    if province is None:
        return False
    document = app.subject_principal.identity_document
    return document_province_code(document.type, document.number) != province.code


def person_materials(app: Application) -> list[PersonMaterial]:
    """Every people's material R10 asks of this application, with the name it gives each."""
    needed: list[PersonMaterial] = []
    subject = app.subject
    legal = _id(legal_representative_number(app))
    for path, zh, en, person in _principals(app):
        document = person.identity_document
        base = f"{path}.identity_document"
        if document.scan is None:  # the old single scan is answered on its own (`people_violations`)
            needed.append(PersonMaterial(f"{base}.front", f"{zh}证件正面（人像面）彩色扫描件",
                                         f"the front (photo side) of {en}'s identity document", document.front))
            if document.type not in WITHOUT_BACK:
                needed.append(PersonMaterial(f"{base}.back", f"{zh}证件背面（国徽面）彩色扫描件",
                                             f"the back (emblem side) of {en}'s identity document", document.back))
        if subject.type is not SubjectType.PERSONAL and _id(document.number) != legal:
            needed.append(PersonMaterial(f"{path}.authorization_letter", f"{zh}授权书（主体出具，{zh}不是法人时）",
                                         f"the subject's authorisation letter for {en}, who is not its legal "
                                         "representative", person.authorization_letter))
    if needs_residence_certificate(app):
        needed.append(PersonMaterial("subject.residence_certificate", "居住证明（个人在证件所属省份以外备案时）",
                                     "a residence certificate (a personal subject filing outside the province of "
                                     "their identity document)", subject.residence_certificate))
    return needed


def people_violations(app: Application) -> Iterator[Violation]:
    """The shapes filings used before issue 17, answered with what to give instead."""
    for path, zh, en, person in _principals(app):
        if person.identity_document.scan is not None:
            yield _v(f"{path}.identity_document.scan", "R10.single_scan",
                     f"{zh}证件须分别上传正面（人像面）和背面（国徽面）彩色扫描件：请上传两面，以其SHA-256填写 front 和 back，"
                     "并删除 scan",
                     f"{en}'s identity document needs its front (photo side) and back (emblem side) scanned "
                     "separately: upload both, name them in front and back, and remove scan")
    subject = app.subject
    representative = subject.legal_representative
    if (representative is None or subject.type is SubjectType.PERSONAL
            or subject.principal_is_legal_representative):
        return
    path = "subject.legal_representative"
    if representative.identity_document is not None:
        yield _v(f"{path}.identity_document", "R10.legal_representative_document_replaced",
                 "法人信息只需姓名和证件号码（identity_type、identity_number），无需法人证件扫描件；"
                 "请删除 identity_document，并为主体负责人上传主体出具的授权书",
                 "the legal representative is named by name and identity number only (identity_type, "
                 "identity_number), not a scan of their document: remove identity_document and upload the "
                 "subject's authorisation letter for the subject principal instead")
    elif not representative.identity_number:
        yield _v(f"{path}.identity_number", "R10.legal_representative_number_missing",
                 "请填写法人的证件号码（identity_number）",
                 "the legal representative's identity number (identity_number) is missing")
