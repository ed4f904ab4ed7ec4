"""Document numbers (R3): check digits where the standard defines one, formats elsewhere.

Letters are compared case-insensitively (applicants type `x` for the check character
`X`); callers keep the number as given.
"""

from __future__ import annotations

import re
from datetime import date

from filing.models import IdentityDocumentType, UnitCertificateType
from filing.provinces import province_by_code

# GB 11643-1999 / ISO 7064 MOD 11-2: weight of position i is 2**(17-i) mod 11.
_ID_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))
_ID_CHECK = "10X98765432"  # indexed by the weighted sum mod 11
_RESIDENT_ID = re.compile(r"^([0-9]{2})[0-9]{4}([0-9]{8})[0-9]{3}[0-9X]$")

# GB 32100-2015: 31 characters, no I O Z S V (too easily misread).
_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC = re.compile(rf"^[{_USCC_CHARSET}]{{2}}[0-9]{{6}}[{_USCC_CHARSET}]{{10}}$")

_EARLIEST_BIRTH = date(1900, 1, 1)

# Foreign passports have no common format: ICAO 9303 allows up to 9 characters in the
# machine-readable zone, some states print longer numbers. A mainland passport
# (E12345678, EA1234567, G12345678) fits too.
_PASSPORT = re.compile(r"^(?=.*[0-9])[A-Z0-9]{5,17}$")
_HK_MACAO_PERMIT = re.compile(r"^[HM][0-9]{8}([0-9]{2})?$")  # 10 digits on pre-2013 cards
_TAIWAN_PERMIT = re.compile(r"^[0-9]{8}$")  # 2015 card
_FOREIGN_PR_OLD = re.compile(r"^[A-Z]{3}[0-9]{12}$")  # 2004 card: nationality + 12 digits
# 2023 card: 9, province of issue, 3-digit nationality, birth date, sequence, check.
_FOREIGN_PR_NEW = re.compile(r"^9([0-9]{2})[0-9]{3}([0-9]{8})[0-9]{3}[0-9X]$")
_OTHER_CERTIFICATE = re.compile(r"^[0-9A-Z]{18}$")
# 港澳台居民居住证 (2018): a resident ID's layout with the region code 810000 (Hong Kong),
# 820000 (Macao) or 830000 (Taiwan) in place of a mainland one.
_RESIDENCE_PERMIT = re.compile(r"^8[123]0000([0-9]{8})[0-9]{3}[0-9X]$")


def resident_id_check_digit(first17: str) -> str:
    """The 18th character of a resident ID for its first 17 digits."""
    if not re.fullmatch(r"[0-9]{17}", first17):
        raise ValueError("a resident ID check digit needs exactly 17 digits")
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _birth_date_ok(yyyymmdd: str, today: date | None) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return _EARLIEST_BIRTH <= born <= (today or date.today())


def _gb11643_check_ok(number: str) -> bool:
    return resident_id_check_digit(number[:17]) == number[17]


def is_valid_resident_id(number: str, *, today: date | None = None) -> bool:
    """18 characters: a mainland province's region code, a real birth date no later than
    `today` (the local date when omitted; rules always pass it), sequence, check digit."""
    number = number.upper()
    m = _RESIDENT_ID.fullmatch(number)
    return bool(
        m
        and province_by_code(m.group(1)) is not None
        and _birth_date_ok(m.group(2), today)
        and _gb11643_check_ok(number)
    )


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code for its first 17."""
    if len(first17) != 17 or any(c not in _USCC_CHARSET for c in first17):
        raise ValueError(f"a USCC check character needs 17 characters from {_USCC_CHARSET}")
    total = sum(_USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """18 characters from the GB 32100 set, a 6-digit region code at 3–8, check character.

    The embedded organisation code (positions 9–17) is not checked on its own."""
    code = code.upper()
    return bool(_USCC.fullmatch(code)) and uscc_check_char(code[:17]) == code[17]


def is_valid_passport(number: str) -> bool:
    return bool(_PASSPORT.fullmatch(number.upper()))


def is_valid_hk_macao_permit(number: str) -> bool:
    return bool(_HK_MACAO_PERMIT.fullmatch(number.upper()))


def is_valid_taiwan_permit(number: str) -> bool:
    return bool(_TAIWAN_PERMIT.fullmatch(number))


def is_valid_foreign_permanent_resident_id(number: str, *, today: date | None = None) -> bool:
    """The 2004 card (15 characters, format only) or the 2023 card (18, GB 11643 check)."""
    number = number.upper()
    if _FOREIGN_PR_OLD.fullmatch(number):
        return True
    m = _FOREIGN_PR_NEW.fullmatch(number)
    return bool(
        m
        and province_by_code(m.group(1)) is not None
        and _birth_date_ok(m.group(2), today)
        and _gb11643_check_ok(number)
    )


def is_valid_hk_macao_taiwan_residence_permit(number: str, *, today: date | None = None) -> bool:
    """18 characters: 810000/820000/830000, a real birth date, sequence, GB 11643 check."""
    number = number.upper()
    m = _RESIDENCE_PERMIT.fullmatch(number)
    return bool(m and _birth_date_ok(m.group(1), today) and _gb11643_check_ok(number))


def is_valid_identity_number(kind: IdentityDocumentType, number: str, *, today: date | None = None) -> bool:
    match kind:
        case IdentityDocumentType.RESIDENT_ID:
            return is_valid_resident_id(number, today=today)
        case IdentityDocumentType.PASSPORT:
            return is_valid_passport(number)
        case IdentityDocumentType.HK_MACAO_PERMIT:
            return is_valid_hk_macao_permit(number)
        case IdentityDocumentType.TAIWAN_PERMIT:
            return is_valid_taiwan_permit(number)
        case IdentityDocumentType.FOREIGN_PERMANENT_RESIDENT_ID:
            return is_valid_foreign_permanent_resident_id(number, today=today)
        case IdentityDocumentType.HK_MACAO_TAIWAN_RESIDENCE_PERMIT:
            return is_valid_hk_macao_taiwan_residence_permit(number, today=today)
    return False


def document_province_code(kind: IdentityDocumentType, number: str) -> str | None:
    """The GB/T 2260 code of the mainland province a document shows its holder belongs to: a
    resident ID's first two digits, a 2023 foreign permanent resident ID's second and third;
    None for documents that show no mainland province (passports, permits, residence permits)."""
    number = number.strip().upper()
    if kind is IdentityDocumentType.RESIDENT_ID and _RESIDENT_ID.fullmatch(number):
        return number[:2]
    if kind is IdentityDocumentType.FOREIGN_PERMANENT_RESIDENT_ID and _FOREIGN_PR_NEW.fullmatch(number):
        return number[1:3]
    return None


def is_valid_unit_certificate_number(kind: UnitCertificateType, number: str) -> bool:
    """Every listed certificate carries the USCC since 2015; OTHER only has a format."""
    if kind is UnitCertificateType.OTHER:
        return bool(_OTHER_CERTIFICATE.fullmatch(number.upper()))
    return is_valid_uscc(number)
