"""R3 document numbers: check digits verified by hand in the comments, formats per kind."""

from __future__ import annotations

from datetime import date

import pytest

from filing.ids import (
    is_valid_foreign_permanent_resident_id,
    is_valid_hk_macao_permit,
    is_valid_identity_number,
    is_valid_passport,
    is_valid_resident_id,
    is_valid_taiwan_permit,
    is_valid_unit_certificate_number,
    is_valid_uscc,
    resident_id_check_digit,
    uscc_check_char,
)
from filing.models import IdentityDocumentType, UnitCertificateType

# The GB 11643 example. Digits x weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
# 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2 -> "10X98765432"[2] = X.
RESIDENT_ID = "11010519491231002X"
# USCC x weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28:
# 9+3+9+27+0+0+0+0+120+0+0+0+24+168+30+120+28 = 538; 538 mod 31 = 11; 31-11 = 20 -> L.
USCC = "91110000600037341L"
# M=21, Y=30: 9+3+27+135+26+420+8+900+112 = 1640; 1640 mod 31 = 28; 31-28 = 3.
USCC_WITH_LETTERS = "91350100M000100Y43"
# 9+3+9+27+20+56 = 124 = 4*31: 31-0 = 31 -> maps back to 0.
USCC_CHECK_ZERO = "911100001000000020"
# 2023 foreign permanent resident ID: 63+9+10+40+32+2+9+48+9+5+2 = 229; 229 mod 11 = 9 -> 3.
FOREIGN_PR_NEW = "911840198001010013"
TODAY = date(2025, 9, 26)


def test_resident_id_check_digit_by_hand() -> None:
    assert resident_id_check_digit(RESIDENT_ID[:17]) == "X"
    assert is_valid_resident_id(RESIDENT_ID, today=TODAY)


def test_lowercase_x_is_accepted() -> None:
    assert is_valid_resident_id(RESIDENT_ID.lower(), today=TODAY)


@pytest.mark.parametrize("wrong", [c for c in "0123456789" if c != "X"])
def test_every_other_resident_id_check_digit_is_rejected(wrong: str) -> None:
    assert not is_valid_resident_id(RESIDENT_ID[:17] + wrong, today=TODAY)


def _with_check(first17: str) -> str:
    return first17 + resident_id_check_digit(first17)


@pytest.mark.parametrize(
    "number",
    [
        _with_check("99010519491231002"),  # 99 is no province
        _with_check("71010519491231002"),  # Taiwan: not issued on the mainland
        _with_check("11010519491331002"),  # month 13
        _with_check("11010519490229002"),  # 1949 was no leap year
        _with_check("11010518991231002"),  # born before 1900
        _with_check("11010520250927002"),  # born after TODAY
        RESIDENT_ID[:17],  # 17 characters
        RESIDENT_ID + "0",  # 19 characters
        "1101051949123100XX",
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits are not digits here
        "",
    ],
)
def test_malformed_resident_ids(number: str) -> None:
    assert not is_valid_resident_id(number, today=TODAY)


def test_birth_on_today_is_plausible() -> None:
    assert is_valid_resident_id(_with_check("11010520250926002"), today=TODAY)


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100AB", "11010519491231002X"])
def test_resident_id_check_digit_needs_17_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        resident_id_check_digit(bad)


@pytest.mark.parametrize("code", [USCC, USCC_WITH_LETTERS, USCC_CHECK_ZERO, USCC.lower()])
def test_valid_uscc(code: str) -> None:
    assert is_valid_uscc(code)
    assert uscc_check_char(code[:17].upper()) == code[17].upper()


@pytest.mark.parametrize("wrong", [c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != "L"])
def test_every_other_uscc_check_char_is_rejected(wrong: str) -> None:
    assert not is_valid_uscc(USCC[:17] + wrong)


@pytest.mark.parametrize(
    "code",
    [
        "91110000600037341",  # 17
        "91110000600037341LL",  # 19
        "9111000060003734IL",  # I is not in the charset
        "911100006000373O1L",  # O is not in the charset
        "91A10000600037341L",  # region code must be digits
        "",
    ],
)
def test_malformed_uscc(code: str) -> None:
    assert not is_valid_uscc(code)


@pytest.mark.parametrize("letter", "IOZSV")
def test_uscc_check_char_refuses_excluded_letters(letter: str) -> None:
    with pytest.raises(ValueError):
        uscc_check_char("9111000060003734" + letter)


@pytest.mark.parametrize("number", ["E12345678", "EA1234567", "G12345678", "123456789", "X1234567", "C01X00T47"])
def test_valid_passports(number: str) -> None:
    assert is_valid_passport(number)


@pytest.mark.parametrize("number", ["ABCDEFGH", "E123", "E" + "1" * 17, "E1234-567", ""])
def test_invalid_passports(number: str) -> None:
    assert not is_valid_passport(number)


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("H12345678", True),
        ("M1234567890", True),
        ("H1234567", False),
        ("H123456789", False),
        ("X12345678", False),
    ],
)
def test_hk_macao_permits(number: str, ok: bool) -> None:
    assert is_valid_hk_macao_permit(number) is ok


@pytest.mark.parametrize(("number", "ok"), [("12345678", True), ("1234567", False), ("A1234567", False)])
def test_taiwan_permits(number: str, ok: bool) -> None:
    assert is_valid_taiwan_permit(number) is ok


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("USA110079120101", True),  # 2004 card: format only
        ("US1100791201011", False),
        (FOREIGN_PR_NEW, True),
        (FOREIGN_PR_NEW[:17] + "4", False),  # wrong check digit
        ("811840198001010013", False),  # new format starts with 9
        (_with_check("99984019800101001"), False),  # 99 is no province
    ],
)
def test_foreign_permanent_resident_ids(number: str, ok: bool) -> None:
    assert is_valid_foreign_permanent_resident_id(number, today=TODAY) is ok


@pytest.mark.parametrize(
    ("kind", "number"),
    [
        (IdentityDocumentType.RESIDENT_ID, RESIDENT_ID),
        (IdentityDocumentType.PASSPORT, "E12345678"),
        (IdentityDocumentType.HK_MACAO_PERMIT, "H12345678"),
        (IdentityDocumentType.TAIWAN_PERMIT, "12345678"),
        (IdentityDocumentType.FOREIGN_PERMANENT_RESIDENT_ID, FOREIGN_PR_NEW),
    ],
)
def test_identity_number_dispatch(kind: IdentityDocumentType, number: str) -> None:
    assert is_valid_identity_number(kind, number, today=TODAY)
    assert not is_valid_identity_number(kind, "!", today=TODAY)


@pytest.mark.parametrize("kind", [k for k in UnitCertificateType if k is not UnitCertificateType.OTHER])
def test_unit_certificates_carry_a_uscc(kind: UnitCertificateType) -> None:
    assert is_valid_unit_certificate_number(kind, USCC)
    assert not is_valid_unit_certificate_number(kind, USCC[:17] + "0")


def test_other_unit_certificate_is_a_format_check() -> None:
    assert is_valid_unit_certificate_number(UnitCertificateType.OTHER, "ABC123456789012345")
    assert not is_valid_unit_certificate_number(UnitCertificateType.OTHER, "ABC12345678901234")
