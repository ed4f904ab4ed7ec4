"""The application's subject and people fields as WeChat's filing form has them (issue 17).

District (区县), the certificate's address (证件住所), the subject remark (主体备注), each
document's validity start and its front and back scans, Hong Kong/Macao/Taiwan residents'
residence permits, the legal representative by name and number with the subject's
authorisation letter (授权书), the residence certificate (居住证明) of a personal subject
filing outside their document's province, and R4 across the people of one application.
Each field: present, missing, malformed, over its limit. Pure rules, except where the
applicant's sequence runs against the real local material store.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.materials_local import FileMaterialStore
from filing.examples import (
    example_authorization_letter,
    example_id_back,
    example_materials,
    example_residence_certificate,
    example_resident_id,
)
from filing.ids import resident_id_check_digit
from filing.materials import material_violations
from filing.messages import Violation
from filing.models import (
    Application,
    IdentityDocument,
    IdentityDocumentType,
    LegalRepresentative,
)
from filing.ports import MaterialOwner
from filing.rules import ALL_RULES, parse_application
from tests.conftest import TEST_KEYS
from tests.unit.applications import NOW, checked, example, keys_of, personal

TODAY = date(2025, 9, 26)


def check(app: Application, **kwargs: Any) -> list[Violation]:
    return checked(app, **kwargs)


def keys(app: Application, **kwargs: Any) -> set[tuple[str, str]]:
    return keys_of(check(app, **kwargs))


def schema(document: dict[str, Any]) -> set[tuple[str, str]]:
    """What the service answers a JSON body with: schema violations, or the rules'."""
    parsed, violations = parse_application(json.dumps(document, ensure_ascii=False), NOW)
    return {(v.key, v.field) for v in violations}


def document(app: Application) -> dict[str, Any]:
    return app.model_dump(mode="json", exclude_none=True)


def residence_permit(region: str, born: str = "19900101", sequence: str = "123") -> str:
    first17 = f"{region}{born}{sequence}"
    return first17 + resident_id_check_digit(first17)


# --- the subject: district, certificate address, remark ----------------------------------


def test_every_example_passes_with_the_new_fields() -> None:
    for kwargs in ({}, {"own_mini_program_principal": True}, {"legal_representative": True},
                   {"own_mini_program_principal": True, "legal_representative": True}, {"province": "广东省"}):
        assert check(example(**kwargs)) == [], kwargs


def test_the_district_is_required() -> None:
    app = example()
    app.subject.address.district = ""
    assert keys(app) == {("R5.district_missing", "subject.address.district")}


def test_the_district_over_its_limit_is_a_schema_violation() -> None:
    data = document(example())
    data["subject"]["address"]["district"] = "区" * 51
    assert schema(data) == {("schema.string_too_long", "subject.address.district")}


def test_the_certificate_address_is_required_of_a_unit() -> None:
    app = example()
    assert app.subject.unit_certificate is not None
    app.subject.unit_certificate.address = ""
    assert keys(app) == {("R5.certificate_address_missing", "subject.unit_certificate.address")}
    data = document(example())
    data["subject"]["unit_certificate"]["address"] = "址" * 201
    assert schema(data) == {("schema.string_too_long", "subject.unit_certificate.address")}


def test_a_personal_subject_has_no_certificate_address_to_give() -> None:
    assert check(personal()) == []


def test_a_filing_made_before_this_system_is_not_asked_the_forms_later_fields() -> None:
    """The registry's import judges past filings (R1, R3–R6): they recorded no district or validity start."""
    app = example()
    app.subject.address.district = ""
    assert app.subject.unit_certificate is not None
    app.subject.unit_certificate.address = ""
    app.subject_principal.identity_document.valid_from = None
    rules = frozenset({"R1", "R3", "R4", "R5", "R6"})
    assert check(app, rules=rules, past_filing=True) == []
    assert {k for k, _ in keys(app, rules=rules)} == {"R5.district_missing", "R5.certificate_address_missing"}


def test_the_subject_remark_is_optional_and_at_most_200_characters() -> None:
    data = document(example())
    data["subject"]["remark"] = "主体为示例公司，" + "备" * 192  # exactly 200
    assert schema(data) == set()
    data["subject"]["remark"] += "注"
    assert schema(data) == {("schema.string_too_long", "subject.remark")}


# --- the people's documents: validity start, front and back ----------------------------------


def test_the_validity_start_is_required() -> None:
    app = example()
    app.subject_principal.identity_document.valid_from = None
    assert keys(app) == {("R2.valid_from_missing", "subject_principal.identity_document.valid_from")}


def test_the_validity_start_is_not_after_the_submission_day_nor_the_end() -> None:
    app = example()
    document_ = app.subject_principal.identity_document
    document_.valid_from = TODAY + timedelta(days=1)
    assert keys(app) == {("R2.valid_from_in_future", "subject_principal.identity_document.valid_from")}
    document_.valid_from = TODAY  # issued on the submission day (China time)
    assert check(app) == []


def test_a_validity_end_before_its_start_is_refused() -> None:
    app = example()
    document_ = app.subject_principal.identity_document
    document_.valid_from = TODAY - timedelta(days=1)
    document_.valid_until = TODAY - timedelta(days=2)
    assert ("R2.validity_reversed", "subject_principal.identity_document.valid_from") in keys(app)


def test_a_malformed_validity_start_is_a_schema_violation() -> None:
    data = document(example())
    data["subject_principal"]["identity_document"]["valid_from"] = "2020-13-01"
    assert {f for _, f in schema(data)} == {"subject_principal.identity_document.valid_from"}


def test_front_and_back_are_both_required() -> None:
    app = example(own_mini_program_principal=True)
    assert app.mini_program_principal.person is not None
    app.subject_principal.identity_document.back = None
    app.mini_program_principal.person.identity_document.front = None
    assert keys(app) == {
        ("R10.material_missing", "subject_principal.identity_document.back"),
        ("R10.material_missing", "mini_program_principal.person.identity_document.front"),
    }
    message = next(v for v in check(app) if v.field.endswith(".back"))
    assert "背面（国徽面）" in message.message_zh and "back (emblem side)" in message.message_en


def test_a_passport_has_no_back_to_give() -> None:
    app = example()
    document_ = app.subject_principal.identity_document
    document_.type, document_.number, document_.back = IdentityDocumentType.PASSPORT, "E12345678", None
    assert check(app, rules=ALL_RULES - {"R7"}) == []


def test_a_new_application_with_the_old_single_scan_is_told_to_give_both_sides() -> None:
    app = example()
    document_ = app.subject_principal.identity_document
    document_.scan, document_.front, document_.back = document_.front, None, None
    assert keys(app) == {("R10.single_scan", "subject_principal.identity_document.scan")}
    violation = check(app)[0]
    assert "front" in violation.message_en and "back" in violation.message_en and "正面" in violation.message_zh


def test_an_old_history_with_a_single_scan_and_no_new_fields_still_decodes() -> None:
    data = document(example(legal_representative=True))
    person = data["subject_principal"]
    person["identity_document"] = {"type": "RESIDENT_ID", "number": person["identity_document"]["number"],
                                   "valid_until": "LONG_TERM", "scan": "a" * 64}
    del person["authorization_letter"]
    data["subject"]["address"].pop("district")
    data["subject"]["unit_certificate"].pop("address")
    data["subject"]["legal_representative"] = {
        "name": "王五", "identity_document": {"type": "RESIDENT_ID", "number": example_resident_id("13", "19700815", "789"),
                                             "valid_until": "LONG_TERM", "scan": "b" * 64}}
    app = Application.model_validate(data)
    assert ("subject_principal.identity_document.scan", "a" * 64) in app.materials()
    assert ("subject.legal_representative.identity_document.scan", "b" * 64) in app.materials()
    assert app.subject.legal_representative is not None
    assert app.subject.legal_representative.number == example_resident_id("13", "19700815", "789")


# --- document types -------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
def test_a_residence_permit_of_hong_kong_macao_or_taiwan_passes(region: str) -> None:
    app = example()
    document_ = app.subject_principal.identity_document
    document_.type, document_.number = IdentityDocumentType.HK_MACAO_TAIWAN_RESIDENCE_PERMIT, residence_permit(region)
    assert check(app) == []


@pytest.mark.parametrize("number", [
    residence_permit("840000"),  # no such region
    residence_permit("130102"),  # a mainland resident ID is another document type
    residence_permit("810000")[:-1] + "0" if residence_permit("810000")[-1] != "0" else residence_permit("810000")[:-1] + "1",
    residence_permit("810000", born="20991231"),  # born in the future
    "81000019900101123",  # 17 characters
])
def test_a_malformed_residence_permit_is_refused(number: str) -> None:
    app = example()
    document_ = app.subject_principal.identity_document
    document_.type, document_.number = IdentityDocumentType.HK_MACAO_TAIWAN_RESIDENCE_PERMIT, number
    refused = check(app)
    assert {(v.key, v.field) for v in refused} == {
        ("R3.invalid_residence_permit", "subject_principal.identity_document.number")}
    assert "810000" in refused[0].message_zh and number not in refused[0].message_zh


def test_a_document_number_over_its_limit_is_a_schema_violation() -> None:
    data = document(example())
    data["subject_principal"]["identity_document"]["number"] = "8" * 33
    assert schema(data) == {("schema.string_too_long", "subject_principal.identity_document.number")}


# --- the legal representative and the authorisation letter ----------------------------------


def test_the_legal_representative_is_a_name_and_a_number_with_the_subjects_letter() -> None:
    app = example(legal_representative=True)
    representative = app.subject.legal_representative
    assert representative is not None and representative.identity_document is None
    assert check(app) == []
    assert not [path for path, _ in app.materials() if path.startswith("subject.legal_representative")]
    app.subject_principal.authorization_letter = None
    assert keys(app) == {("R10.material_missing", "subject_principal.authorization_letter")}


def test_the_legal_representatives_number_is_required() -> None:
    app = example(legal_representative=True)
    assert app.subject.legal_representative is not None
    app.subject.legal_representative.identity_number = None
    assert keys(app) == {("R10.legal_representative_number_missing", "subject.legal_representative.identity_number")}


def test_the_legal_representatives_old_document_is_answered_with_what_to_give() -> None:
    app = example(legal_representative=True)
    number = example_resident_id("13", "19700815", "789")
    app.subject.legal_representative = LegalRepresentative(name="王五", identity_document=IdentityDocument(
        type=IdentityDocumentType.RESIDENT_ID, number=number, valid_until="LONG_TERM", scan="c" * 64))
    assert keys(app) == {("R10.legal_representative_document_replaced", "subject.legal_representative.identity_document")}


def test_a_mini_program_principal_who_is_not_the_legal_representative_brings_a_letter() -> None:
    app = example(own_mini_program_principal=True)
    assert app.mini_program_principal.person is not None
    app.mini_program_principal.person.authorization_letter = None
    assert keys(app) == {("R10.material_missing", "mini_program_principal.person.authorization_letter")}


def test_a_mini_program_principal_who_is_the_legal_representative_needs_no_letter() -> None:
    app = example(own_mini_program_principal=True, legal_representative=True)
    person, representative = app.mini_program_principal.person, app.subject.legal_representative
    assert person is not None and representative is not None
    representative.identity_number = person.identity_document.number  # 李四 is the 法人
    person.authorization_letter = None
    assert check(app) == []


def test_a_personal_subject_needs_no_letter() -> None:
    app = personal()
    assert app.subject_principal.authorization_letter is None and check(app) == []


# --- the residence certificate ---------------------------------------------------------------


def test_a_person_filing_outside_their_ids_province_shows_a_residence_certificate() -> None:
    app = personal("河北省")  # 河北 asks persons for no supplementary material
    app.subject_principal.identity_document.number = example_resident_id("44", "19900307", "123")  # 广东 ID
    assert keys(app) == {("R10.material_missing", "subject.residence_certificate")}
    app.subject.residence_certificate = example_residence_certificate()
    assert check(app) == []


def test_a_person_filing_in_their_ids_province_needs_none() -> None:
    app = personal("河北省")  # the example's ID is issued in the example's province
    assert app.subject_principal.identity_document.number.startswith("13")
    assert check(app) == []


def test_a_passport_holder_filing_as_a_person_shows_a_residence_certificate() -> None:
    app = personal()
    document_ = app.subject_principal.identity_document
    document_.type, document_.number, document_.back = IdentityDocumentType.PASSPORT, "E12345678", None
    assert keys(app) == {("R10.material_missing", "subject.residence_certificate")}


def test_a_company_needs_no_residence_certificate() -> None:
    app = example(province="广东省")
    app.subject_principal.identity_document.number = example_resident_id("13", "19900307", "123")
    assert check(app) == []


# --- R4 across the people of one application ---------------------------------------------------


@pytest.mark.parametrize(("mine", "theirs"), [
    ("emergency_mobile", "mobile"), ("mobile", "emergency_mobile"), ("emergency_mobile", "emergency_mobile"),
    ("mobile", "mobile"),
])
def test_no_number_of_one_person_is_another_persons(mine: str, theirs: str) -> None:
    app = example(own_mini_program_principal=True)
    other = app.mini_program_principal.person
    assert other is not None
    setattr(app.subject_principal, mine, getattr(other, theirs))
    if mine == "emergency_mobile" and getattr(other, theirs) == app.subject_principal.mobile:
        pytest.skip("not a distinct number")
    refused = check(app)
    assert [(v.key, v.field) for v in refused] == [("R4.shared_mobile", f"mini_program_principal.person.{theirs}")]
    assert getattr(other, theirs) not in refused[0].message_zh + refused[0].message_en  # no number repeated


def test_the_same_person_entered_twice_shares_their_own_numbers() -> None:
    app = example(own_mini_program_principal=True)
    app.mini_program_principal.person = app.subject_principal.model_copy(deep=True)
    assert check(app, rules=frozenset({"R4"})) == []


# --- an applicant's sequence ----------------------------------------------------------------


async def test_an_applicant_adds_the_missing_back_of_their_id_card(tmp_path: Path) -> None:
    """The applicant uploads the front of the ID card only and writes the application; the
    service refuses it naming the back (in Chinese and English), nothing started; a photo of
    the back that is not a real image is refused by the store; the real back goes in and
    the same application, now naming it, passes every rule and the store's check."""
    store = FileMaterialStore(tmp_path, TEST_KEYS.payload)
    owner = MaterialOwner.imported("tests")
    app = example()
    back = app.subject_principal.identity_document.back
    assert back == example_id_back()
    app.subject_principal.identity_document.back = None
    for _, sha in app.materials():
        await store.put(example_materials()[sha], owner)
    text = app.model_dump_json(exclude_none=True)

    parsed, violations = parse_application(text, NOW)
    assert parsed is not None
    assert [(v.key, v.field) for v in violations] == [
        ("R10.material_missing", "subject_principal.identity_document.back")]
    assert "国徽面" in violations[0].message_zh

    with pytest.raises(Exception) as refused:  # a photo of the back saved as an HTML page
        await store.put(b"<html>back</html>", owner)
    assert getattr(refused.value, "key", "") == "R10.unsupported_media_type"

    stored = await store.put(example_materials()[back], owner)
    data = json.loads(text)
    data["subject_principal"]["identity_document"]["back"] = stored.sha256
    parsed, violations = parse_application(json.dumps(data, ensure_ascii=False), NOW)
    assert violations == [] and parsed is not None
    assert await material_violations(parsed, store) == []
    # Another person's back: a scan nobody uploaded is refused as not in the store.
    parsed.subject_principal.identity_document.back = "f" * 64
    assert [(v.key, v.field) for v in await material_violations(parsed, store)] == [
        ("R10.material_not_uploaded", "subject_principal.identity_document.back")]


def test_the_example_ships_every_new_material() -> None:
    shipped = example_materials()
    for sha in (example_id_back(), example_id_back("李四"), example_authorization_letter(),
                example_authorization_letter("李四"), example_residence_certificate()):
        assert sha in shipped
