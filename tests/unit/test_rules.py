"""R1–R8 on the example application: each rule accepted and violated, all violations together."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from filing.dates import add_months, china_date
from filing.examples import example_application, example_filing_number, example_preapproval_document
from filing.messages import Violation
from filing.models import (
    LONG_TERM,
    Application,
    FilingKind,
    IdentityDocumentType,
    PreApproval,
    SubjectType,
    UnitCertificateType,
)
from filing.preapproval import load_preapproval_catalogue, load_preapproval_categories
from filing.provinces import PROVINCES
from filing.rules import ALL_RULES, CLOCK_RULES, check_application, parse_application

NOW = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)  # 10:00 in China, submission day 2025-09-26
DOCUMENT = example_preapproval_document()  # R10: each pre-approval record names its document


def check(app: Application, now: datetime = NOW, **kwargs: Any) -> list[Violation]:
    # R6's tests name pre-approval categories (教育, 网约车) as service categories; whether a
    # category is on the service-content type list is tested on its own (`service_types=None`).
    kwargs.setdefault("service_types", ())
    violations = check_application(app, now, **kwargs)
    for v in violations:  # every violation names a field and speaks both languages
        assert v.field and v.key and v.message_zh and v.message_en
        v.as_reason()
    return violations


def keys(app: Application, now: datetime = NOW, **kwargs: Any) -> set[tuple[str, str]]:
    return {(v.key, v.field) for v in check(app, now, **kwargs)}


def example(**kwargs: Any) -> Application:
    return example_application(NOW, **kwargs)


# --- the example ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(FilingKind))
@pytest.mark.parametrize("own", [False, True])
def test_example_is_valid_for_every_kind(kind: FilingKind, own: bool) -> None:
    assert check(example(kind=kind, own_mini_program_principal=own)) == []


@pytest.mark.parametrize("province", [p.name for p in PROVINCES] + ["四川", "冀"])
def test_example_is_valid_in_every_province(province: str) -> None:
    assert check(example(kind=FilingKind.CHANGE, province=province)) == []


def test_example_round_trips_through_json() -> None:
    app = example(own_mini_program_principal=True)
    parsed, violations = parse_application(app.model_dump_json(), NOW)
    assert violations == [] and parsed == app


# --- R1 subject type ------------------------------------------------------------------


def personal() -> Application:
    app = example()
    app.subject.type = SubjectType.PERSONAL
    app.subject.name = app.subject_principal.name
    app.subject.unit_certificate = None
    return app


def test_r1_personal_subject_without_certificate_passes() -> None:
    assert check(personal()) == []


def test_r1_personal_subject_with_certificate() -> None:
    app = personal()
    app.subject.unit_certificate = example().subject.unit_certificate
    assert keys(app) == {("R1.personal_with_unit_certificate", "subject.unit_certificate")}


def test_r1_personal_subject_is_named_after_its_principal() -> None:
    app = personal()
    app.subject.name = "张三的小店"
    assert keys(app) == {("R1.personal_name_mismatch", "subject.name")}


@pytest.mark.parametrize("subject_type", [t for t in SubjectType if t is not SubjectType.PERSONAL])
def test_r1_non_personal_subject_needs_certificate(subject_type: SubjectType) -> None:
    app = example()
    app.subject.type = subject_type
    app.subject.unit_certificate = None
    assert keys(app) == {("R1.unit_certificate_missing", "subject.unit_certificate")}


def test_r1_certificate_must_fit_subject_type() -> None:
    app = example()
    app.subject.type = SubjectType.INDIVIDUAL_BUSINESS
    assert check(app) == []
    assert app.subject.unit_certificate is not None
    app.subject.unit_certificate.type = UnitCertificateType.SOCIAL_ORGANIZATION_CERTIFICATE
    assert keys(app) == {("R1.certificate_type_mismatch", "subject.unit_certificate.type")}


# --- R2 document validity -------------------------------------------------------------


def with_id_valid_until(until: date | str, now: datetime = NOW) -> Application:
    app = example_application(now)
    app.subject_principal.identity_document.valid_until = until  # type: ignore[assignment]
    return app


def test_r2_exactly_one_month_is_too_short() -> None:
    assert keys(with_id_valid_until(date(2025, 10, 26))) == {
        ("R2.expires_too_soon", "subject_principal.identity_document.valid_until")
    }


def test_r2_one_month_and_a_day_passes() -> None:
    assert check(with_id_valid_until(date(2025, 10, 27))) == []


def test_r2_long_term_passes() -> None:
    assert check(with_id_valid_until(LONG_TERM)) == []


def test_r2_expired() -> None:
    assert keys(with_id_valid_until(date(2025, 9, 25))) == {
        ("R2.expired", "subject_principal.identity_document.valid_until")
    }


def test_r2_submission_day_is_china_time() -> None:
    late_evening_utc = datetime(2025, 9, 25, 16, 30, tzinfo=UTC)  # 2025-09-26 00:30 in China
    assert china_date(late_evening_utc) == date(2025, 9, 26)
    assert check(with_id_valid_until(date(2025, 10, 26), late_evening_utc), late_evening_utc) != []
    assert check(with_id_valid_until(date(2025, 10, 27), late_evening_utc), late_evening_utc) == []


@pytest.mark.parametrize(
    ("submitted", "limit"),
    [
        (datetime(2025, 1, 31, 2, tzinfo=UTC), date(2025, 2, 28)),
        (datetime(2024, 1, 31, 2, tzinfo=UTC), date(2024, 2, 29)),
        (datetime(2025, 12, 31, 2, tzinfo=UTC), date(2026, 1, 31)),
    ],
)
def test_r2_month_arithmetic_clamps(submitted: datetime, limit: date) -> None:
    assert add_months(china_date(submitted), 1) == limit
    assert check(with_id_valid_until(limit, submitted), submitted) != []
    assert check(with_id_valid_until(limit + timedelta(days=1), submitted), submitted) == []


def test_r2_covers_the_certificate_and_the_own_principal() -> None:
    app = example(own_mini_program_principal=True)
    assert app.subject.unit_certificate is not None and app.mini_program_principal.person is not None
    app.subject.unit_certificate.valid_until = date(2025, 10, 1)
    app.mini_program_principal.person.identity_document.valid_until = date(2025, 10, 1)
    assert keys(app) == {
        ("R2.expires_too_soon", "subject.unit_certificate.valid_until"),
        ("R2.expires_too_soon", "mini_program_principal.person.identity_document.valid_until"),
    }


def test_r2_threshold_is_a_parameter() -> None:
    app = with_id_valid_until(date(2025, 11, 20))
    assert check(app) == []
    assert keys(app, validity_months=2) == {("R2.expires_too_soon", "subject_principal.identity_document.valid_until")}


# --- R3 document numbers --------------------------------------------------------------


def test_r3_bad_resident_id_check_digit() -> None:
    app = example()
    number = app.subject_principal.identity_document.number
    app.subject_principal.identity_document.number = number[:17] + ("0" if number[17] != "0" else "1")
    assert keys(app) == {("R3.invalid_resident_id", "subject_principal.identity_document.number")}


def test_r3_known_resident_id_passes() -> None:
    app = example()
    app.subject_principal.identity_document.number = "11010519491231002X"
    assert check(app) == []


def test_r3_bad_uscc_and_known_good_one() -> None:
    app = example()
    assert app.subject.unit_certificate is not None
    app.subject.unit_certificate.number = "91110000600037341L"
    assert check(app) == []
    app.subject.unit_certificate.number = "91110000600037341M"
    assert keys(app) == {("R3.invalid_uscc", "subject.unit_certificate.number")}


@pytest.mark.parametrize(
    ("kind", "good", "bad", "key"),
    [
        (IdentityDocumentType.PASSPORT, "E12345678", "ABCDEFG", "R3.invalid_passport"),
        (IdentityDocumentType.HK_MACAO_PERMIT, "H12345678", "H1234", "R3.invalid_hk_macao_permit"),
        (IdentityDocumentType.TAIWAN_PERMIT, "12345678", "1234567", "R3.invalid_taiwan_permit"),
        (
            IdentityDocumentType.FOREIGN_PERMANENT_RESIDENT_ID,
            "USA110079120101",
            "US1100791",
            "R3.invalid_foreign_permanent_resident_id",
        ),
    ],
)
def test_r3_other_identity_documents(kind: IdentityDocumentType, good: str, bad: str, key: str) -> None:
    app = example(own_mini_program_principal=True)
    assert app.mini_program_principal.person is not None
    doc = app.mini_program_principal.person.identity_document
    doc.type, doc.number = kind, good
    assert check(app) == []
    doc.number = bad
    assert keys(app) == {(key, "mini_program_principal.person.identity_document.number")}


def test_r3_other_unit_certificate_format() -> None:
    app = example()
    assert app.subject.unit_certificate is not None
    app.subject.unit_certificate.type = UnitCertificateType.OTHER
    app.subject.unit_certificate.number = "SHORT1"
    assert keys(app) == {("R3.invalid_certificate_number", "subject.unit_certificate.number")}


# --- R4 phones ------------------------------------------------------------------------


@pytest.mark.parametrize("mobile", ["12800138000", "1380013800", "138001380001", "+8613800138000", "1380013800x"])
def test_r4_invalid_mobiles(mobile: str) -> None:
    app = example()
    app.subject_principal.mobile = mobile
    app.subject_principal.emergency_mobile = mobile
    assert keys(app) == {
        ("R4.invalid_mobile", "subject_principal.mobile"),
        ("R4.invalid_mobile", "subject_principal.emergency_mobile"),
    }


def test_r4_emergency_mobile_differs_from_own() -> None:
    app = example()
    app.subject_principal.emergency_mobile = app.subject_principal.mobile
    assert keys(app) == {("R4.emergency_same_as_own", "subject_principal.emergency_mobile")}


def test_r4_two_people_may_not_share_a_mobile() -> None:
    app = example(own_mini_program_principal=True)
    assert app.mini_program_principal.person is not None
    app.mini_program_principal.person.mobile = app.subject_principal.mobile
    assert keys(app) == {("R4.shared_mobile", "mini_program_principal.person.mobile")}


def test_r4_the_same_person_twice_with_the_same_mobile_is_fine() -> None:
    app = example(own_mini_program_principal=True)
    app.mini_program_principal.person = app.subject_principal.model_copy(deep=True)
    assert check(app) == []
    assert len(app.verifiers()) == 1


def test_r4_an_emergency_number_equal_to_the_other_principals_mobile_is_refused() -> None:
    """不同人不能使用同一个号码 (SPEC R4, issue 17): any number of one person against any of another's."""
    app = example(own_mini_program_principal=True)
    assert app.mini_program_principal.person is not None
    app.subject_principal.emergency_mobile = app.mini_program_principal.person.mobile
    assert keys(app) == {("R4.shared_mobile", "mini_program_principal.person.mobile")}


# --- R5 address -----------------------------------------------------------------------


@pytest.mark.parametrize("province", ["河北省", "河北", "北京市", "广西壮族自治区", "新疆"])
def test_r5_known_provinces(province: str) -> None:
    app = example()
    app.subject.address.province = province
    assert check(app, rules=ALL_RULES - {"R10"}) == []  # another province may ask for other R10 materials


@pytest.mark.parametrize("province", ["香港特别行政区", "台湾省", "Hebei", "河北市"])
def test_r5_unknown_province(province: str) -> None:
    app = example()
    app.subject.address.province = province
    assert keys(app) == {("R5.unknown_province", "subject.address.province")}


def test_r5_city_and_detail_present() -> None:
    app = example()
    app.subject.address.city = ""
    app.subject.address.detail = ""
    assert keys(app) == {("R5.city_missing", "subject.address.city"), ("R5.detail_missing", "subject.address.detail")}


# --- R6 pre-approval ------------------------------------------------------------------


def test_r6_category_list_is_the_data_file() -> None:
    names = load_preapproval_categories()
    assert names == {
        "新闻",
        "出版",
        "教育",
        "医疗保健",
        "药品和医疗器械",
        "电子公告服务",
        "文化",
        "广播电影电视节目",
        "网络预约车",
        "互联网金融",
        "校外培训",
        "宗教",
    }
    assert all(c.name_en and c.authority and c.authority_en for c in load_preapproval_catalogue())


def test_r6_category_needing_approval_without_record() -> None:
    app = example()
    app.mini_program.service_categories.append("教育")
    assert keys(app) == {("R6.pre_approval_missing", "mini_program.service_categories[1]")}


def test_r6_complete_record_passes() -> None:
    app = example()
    app.mini_program.service_categories.append("教育")
    app.mini_program.pre_approvals.append(
        PreApproval(
            category="教育",
            approval_number="冀教审〔2025〕001号",
            document_name="教育审批意见.pdf",
            document=example_preapproval_document(),
        )
    )
    assert check(app) == []


def test_r6_record_needs_number_and_document_name() -> None:
    app = example()
    app.mini_program.service_categories += ["教育", "新闻"]
    app.mini_program.pre_approvals += [
        PreApproval(category="新闻", approval_number="", document_name="新闻许可.pdf", document=DOCUMENT),
        PreApproval(category="教育", approval_number="教审001", document_name="", document=DOCUMENT),
    ]
    assert keys(app) == {
        ("R6.approval_number_missing", "mini_program.pre_approvals[0].approval_number"),
        ("R6.document_name_missing", "mini_program.pre_approvals[1].document_name"),
    }


def test_r6_record_for_an_undeclared_category() -> None:
    app = example()
    app.mini_program.pre_approvals.append(
        PreApproval(category="教育 ", approval_number="1", document_name="d", document=DOCUMENT)
    )
    assert keys(app) == {("R6.pre_approval_for_undeclared_category", "mini_program.pre_approvals[0].category")}


def test_r6_categories_come_from_the_caller_or_a_file(tmp_path: Path) -> None:
    app = example()  # declares 生活服务-生活缴费
    assert keys(app, categories=frozenset({"生活缴费"})) == {
        ("R6.pre_approval_missing", "mini_program.service_categories[0]")
    }
    path = tmp_path / "categories.json"
    path.write_text(
        json.dumps(
            {
                "categories": [
                    {
                        "name": "生活服务",
                        "name_en": "daily services",
                        "authority": "某部门",
                        "authority_en": "some authority",
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    assert load_preapproval_categories(path) == {"生活服务"}


def test_r6_malformed_category_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"categories": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(ValueError):
        load_preapproval_categories(path)


# --- R7 mini-program principal --------------------------------------------------------


def test_r7_personal_subject_must_reuse() -> None:
    app = personal()
    app.mini_program_principal.reuse_subject_principal = False
    app.mini_program_principal.person = example(own_mini_program_principal=True).mini_program_principal.person
    assert keys(app) == {("R7.personal_must_reuse", "mini_program_principal.reuse_subject_principal")}


def test_r7_own_principal_needs_a_person() -> None:
    app = example()
    app.mini_program_principal.reuse_subject_principal = False
    assert keys(app) == {("R7.person_missing", "mini_program_principal.person")}


def test_r7_reuse_with_a_person_is_ambiguous() -> None:
    app = example(own_mini_program_principal=True)
    app.mini_program_principal.reuse_subject_principal = True
    assert keys(app) == {("R7.person_with_reuse", "mini_program_principal.person")}


def test_r7_same_document_other_name() -> None:
    app = example(own_mini_program_principal=True)
    person = app.subject_principal.model_copy(deep=True)
    person.name = "王五"
    app.mini_program_principal.person = person
    assert keys(app) == {("R7.same_person_differs", "mini_program_principal.person")}


def test_r7_face_verification_must_pass() -> None:
    app = example()
    app.mini_program_principal.face_verification.passed = False
    assert keys(app) == {("R7.face_not_passed", "mini_program_principal.face_verification.passed")}


@pytest.mark.parametrize(
    ("age", "ok"),
    [
        (timedelta(days=3), True),
        (timedelta(days=3, seconds=1), False),
        (timedelta(minutes=-5), True),
        (timedelta(minutes=-6), False),
    ],
)
def test_r7_face_verification_is_recent(age: timedelta, ok: bool) -> None:
    app = example()
    app.mini_program_principal.face_verification.verified_at = NOW - age
    found = keys(app)
    if ok:
        assert found == set()
    else:
        key = "R7.face_verification_stale" if age > timedelta(0) else "R7.face_verification_in_future"
        assert found == {(key, "mini_program_principal.face_verification.verified_at")}


def test_r7_face_age_is_a_parameter_and_naive_times_are_utc() -> None:
    app = example()
    app.mini_program_principal.face_verification.verified_at = datetime(2025, 9, 24, 2, 0)  # naive: UTC
    assert check(app) == []
    assert [v.key for v in check(app, face_max_age=timedelta(days=1))] == ["R7.face_verification_stale"]


# --- R8 references --------------------------------------------------------------------


def test_r8_new_carries_no_filing_number() -> None:
    app = example()
    app.filing_number = example_filing_number()
    assert keys(app) == {("R8.filing_number_not_allowed", "filing_number")}


@pytest.mark.parametrize("kind", [k for k in FilingKind if k is not FilingKind.NEW])
def test_r8_other_kinds_need_a_filing_number(kind: FilingKind) -> None:
    app = example(kind=kind)
    app.filing_number = None
    assert keys(app) == {("R8.filing_number_missing", "filing_number")}


@pytest.mark.parametrize("kind", [FilingKind.CHANGE, FilingKind.CANCEL_MINI_PROGRAM, FilingKind.CANCEL_ACCESS])
def test_r8_mini_program_kinds_need_the_x(kind: FilingKind) -> None:
    app = example(kind=kind)
    app.filing_number = "冀ICP备20240001号-1"
    [violation] = check(app)
    assert (violation.key, violation.field) == ("R8.invalid_filing_number", "filing_number")
    assert "X" in violation.message_en and "X" in violation.message_zh


@pytest.mark.parametrize("number", ["冀ICP备20240001号", "冀ICP备20240001号-1", "冀ICP备20240001号-1X"])
def test_r8_subject_cancellation_accepts_subject_and_service_numbers(number: str) -> None:
    app = example(kind=FilingKind.CANCEL_SUBJECT)
    app.filing_number = number
    assert check(app) == []


def test_r8_malformed_number() -> None:
    app = example(kind=FilingKind.CHANGE)
    app.filing_number = "冀ICP备2024号-1X"
    [violation] = check(app)
    assert violation.key == "R8.invalid_filing_number" and "8 or 10 digits" in violation.message_en


def test_r8_province_must_match() -> None:
    app = example(kind=FilingKind.CHANGE, province="河北省")
    app.filing_number = "京ICP备20240001号-1X"
    [violation] = check(app)
    assert (violation.key, violation.field) == ("R8.province_mismatch", "filing_number")
    assert "北京市" in violation.message_zh and "河北省" in violation.message_en


@pytest.mark.parametrize(("province", "prefix"), [("四川省", "川"), ("四川", "蜀"), ("甘肃省", "甘"), ("甘肃省", "陇")])
def test_r8_aliases_match_their_province(province: str, prefix: str) -> None:
    app = example(kind=FilingKind.CHANGE, province=province)
    app.filing_number = f"{prefix}ICP备2021012345号-3X"
    assert check(app) == []


@pytest.mark.parametrize("kind", [k for k in FilingKind if k.is_cancellation])
def test_r8_cancellation_needs_a_reason(kind: FilingKind) -> None:
    app = example(kind=kind)
    app.cancellation_reason = None
    assert keys(app) == {("R8.cancellation_reason_missing", "cancellation_reason")}


def test_r8_only_cancellations_carry_a_reason() -> None:
    app = example(kind=FilingKind.CHANGE)
    app.cancellation_reason = "不再运营"
    assert keys(app) == {("R8.cancellation_reason_not_allowed", "cancellation_reason")}


# --- all together ---------------------------------------------------------------------


def test_every_violation_is_reported_together() -> None:
    app = example(kind=FilingKind.CHANGE, own_mini_program_principal=True)
    assert app.mini_program_principal.person is not None
    app.subject.unit_certificate = None  # R1
    app.subject_principal.identity_document.valid_until = date(2025, 10, 26)  # R2
    app.subject_principal.identity_document.number = "110105194912310021"  # R3
    app.mini_program_principal.person.mobile = app.subject_principal.mobile  # R4
    app.subject.address.city = ""  # R5
    app.mini_program.service_categories.append("宗教")  # R6
    app.mini_program_principal.face_verification.passed = False  # R7
    app.filing_number = "冀ICP备20240001号"  # R8
    assert [v.key for v in check(app)] == [
        "R1.unit_certificate_missing",
        "R2.expires_too_soon",
        "R3.invalid_resident_id",
        "R4.shared_mobile",
        "R5.city_missing",
        "R6.pre_approval_missing",
        "R7.face_not_passed",
        "R8.invalid_filing_number",
    ]
    clock_only = check(app, rules=CLOCK_RULES)
    assert [v.key for v in clock_only] == ["R2.expires_too_soon", "R7.face_not_passed"]


def test_unknown_rule_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="R9"):
        check_application(example(), NOW, rules=ALL_RULES | {"R9"})


# --- parse_application ----------------------------------------------------------------


def test_parse_application_from_dict_str_and_bytes() -> None:
    data = example().model_dump(mode="json")
    for raw in (data, json.dumps(data, ensure_ascii=False), json.dumps(data).encode()):
        app, violations = parse_application(raw, NOW)
        assert app is not None and violations == []


def test_parse_application_runs_the_rules() -> None:
    data = example().model_dump(mode="json")
    data["subject_principal"]["emergency_mobile"] = data["subject_principal"]["mobile"]
    app, violations = parse_application(data, NOW)
    assert app is not None
    assert [(v.key, v.field) for v in violations] == [
        ("R4.emergency_same_as_own", "subject_principal.emergency_mobile")
    ]


def test_parse_application_names_every_broken_field() -> None:
    data = example(own_mini_program_principal=True).model_dump(mode="json")
    data["kind"] = "RENEW"
    data["subject"]["unit_certificate"]["valid_until"] = "2025-13-01"
    del data["subject_principal"]["mobile"]
    data["subject_principal"]["nickname"] = "三哥"
    data["mini_program"]["appid"] = "wx123"
    data["mini_program"]["pre_approvals"] = [{"category": ""}]
    data["mini_program_principal"]["face_verification"]["passed"] = "maybe"
    app, violations = parse_application(data, NOW)
    assert app is None
    assert {(v.key, v.field) for v in violations} == {
        ("schema.enum", "kind"),
        ("schema.date_from_datetime_parsing", "subject.unit_certificate.valid_until"),
        ("schema.missing", "subject_principal.mobile"),
        ("schema.extra_forbidden", "subject_principal.nickname"),
        ("schema.string_pattern_mismatch", "mini_program.appid"),
        ("schema.string_too_short", "mini_program.pre_approvals[0].category"),
        ("schema.bool_parsing", "mini_program_principal.face_verification.passed"),
    }
    for v in violations:
        assert v.message_zh and v.message_en
    [validity] = [v for v in violations if v.field.endswith("valid_until")]
    assert "LONG_TERM" in validity.message_en and "长期" in validity.message_zh


@pytest.mark.parametrize(
    "raw",
    [
        None,
        5,
        [],
        "",
        "{",
        "[]",
        "null",
        b"\xff\xfe",
        bytearray(b"{}"),
        {},
        {"subject": None},
        {"kind": [], "subject": "x", "subject_principal": 1, "mini_program": [], "mini_program_principal": {}},
        "[" * 10000 + "]" * 10000,
    ],
)
def test_parse_application_never_raises(raw: Any) -> None:
    app, violations = parse_application(raw, NOW)
    assert app is None and violations
    for v in violations:
        assert v.field and v.key.startswith("schema.") and v.message_zh and v.message_en
