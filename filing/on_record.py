"""A CHANGE's starting point from the registry alone (issue 19): what it holds of an approved
filing, as the application's JSON shape, and which parts of the form must be filled again.

A filing's workflow is deleted after the namespace's retention; the registry (SPEC §11) is
the system of record and keeps, of an approved NEW or CHANGE: the subject (name, type,
province, a unit's certificate type and number), the mini-program (appid, name) and, sealed,
both principals as they were approved (people on record, with their identity documents and
the scans of them). It does not keep the subject's address below the province, the unit
certificate's validity, registered address and scan, the legal representative, the service
categories and pre-approval records, the remarks or the province's extra materials: those
sections are named (in Chinese, for the applicant) to fill in again.
"""

from __future__ import annotations

from typing import Any

from filing.models import Person, SubjectType
from filing.provinces import find_province
from filing.registry import MiniProgramRecord, PeopleOnRecord, SubjectRecord

#: What the registry never held, as the applicant is told to fill it in again.
NOT_HELD_UNIT = "主体信息：单位证件的有效期、证件住所和扫描件，以及法定代表人（负责人不是法定代表人时）"
NOT_HELD_ADDRESS = "主体信息：通讯地址的城市、区县和详细地址"
NOT_HELD_MINI_PROGRAM = "小程序信息：服务类目、前置审批材料（所选类目需要时）和备注"
NOT_HELD_EXTRAS = "所在省份要求的补充材料"
NOT_HELD_CERTIFICATE = "主体信息：单位证件类型和号码（备案库未记录）"
NOT_HELD_PEOPLE = "主体负责人、小程序负责人（备案库未存有其信息）"


def _person(person: Person) -> dict[str, Any]:
    return person.model_dump(mode="json", exclude_none=True)


def _same(a: Person, b: Person) -> bool:
    return (a.identity_document.type, a.identity_document.number.strip().upper()) == (
        b.identity_document.type, b.identity_document.number.strip().upper())


def application_on_record(
    record: MiniProgramRecord, subject: SubjectRecord | None, people: PeopleOnRecord | None
) -> tuple[dict[str, Any], list[str]]:
    """The CHANGE's prefill (partial `Application` JSON: kind, number, what the registry holds)
    and the sections the applicant fills in again, in the form's order."""
    province = find_province(record.province)
    subject_json: dict[str, Any] = {
        "type": record.subject_type.value,
        "name": record.subject_name,
        "subject_number": record.subject_number,
        "address": {"province": province.name if province else record.province},
    }
    missing = [NOT_HELD_ADDRESS]
    if record.subject_type is not SubjectType.PERSONAL:
        if subject is not None and subject.unit_certificate_number:
            certificate: dict[str, Any] = {"number": subject.unit_certificate_number}
            if subject.unit_certificate_type:
                certificate["type"] = subject.unit_certificate_type
            subject_json["unit_certificate"] = certificate
        else:
            missing.append(NOT_HELD_CERTIFICATE)
        missing.append(NOT_HELD_UNIT)
    application: dict[str, Any] = {
        "kind": "CHANGE",
        "filing_number": record.service_number,
        "subject": subject_json,
        "mini_program": {"appid": record.appid, "name": record.name},
    }
    if people is not None:
        application["subject_principal"] = _person(people.subject_principal)
        own = people.mini_program_principal
        reuse = _same(own, people.subject_principal)
        application["mini_program_principal"] = {"reuse_subject_principal": reuse} | (
            {} if reuse else {"person": _person(own)})
    else:
        missing.append(NOT_HELD_PEOPLE)
    return application, [*missing, NOT_HELD_MINI_PROGRAM, NOT_HELD_EXTRAS]
