"""A valid application to start from (`starter.py --example`) and to build tests on.

All data is fictional but passes every rule: real check digits, documents valid for
years, a face verification an hour old, distinct mobiles, no pre-approval category.
Tests break one field at a time from here, so each test shows only what it is about.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from filing.dates import add_months, as_utc, china_date
from filing.ids import resident_id_check_digit, uscc_check_char
from filing.models import (
    Address,
    Application,
    FaceVerification,
    FilingKind,
    IdentityDocument,
    IdentityDocumentType,
    MiniProgram,
    MiniProgramPrincipal,
    Person,
    Subject,
    SubjectType,
    UnitCertificate,
    UnitCertificateType,
)
from filing.provinces import find_province


def example_resident_id(province_code: str, born: str, sequence: str) -> str:
    """A well-formed resident ID: `<code>0102`, birth date YYYYMMDD, sequence, check digit."""
    first17 = f"{province_code}0102{born}{sequence}"
    return first17 + resident_id_check_digit(first17)


def example_uscc(province_code: str) -> str:
    """A company (9) registered by market regulation (1) of the province, check char computed."""
    first17 = f"91{province_code}0000EXAMPLE01"
    return first17 + uscc_check_char(first17)


def example_filing_number(province: str = "河北省", *, sequence: int = 1) -> str:
    """The mini-program filing number that a non-NEW example application acts on."""
    found = find_province(province)
    if found is None:
        raise ValueError(f"unknown province {province!r}")
    return f"{found.prefix}ICP备20240001号-{sequence}X"


def example_application(
    now: datetime,
    *,
    appid: str = "wx1234567890abcdef",
    kind: FilingKind = FilingKind.NEW,
    own_mini_program_principal: bool = False,
    province: str = "河北省",
) -> Application:
    """A valid application of `kind` submitted at `now` (naive = UTC) by a company in `province`."""
    found = find_province(province)
    if found is None:
        raise ValueError(f"unknown province {province!r}")
    id_valid_until = add_months(china_date(now), 120)
    zhang = Person(
        name="张三",
        identity_document=IdentityDocument(
            type=IdentityDocumentType.RESIDENT_ID,
            number=example_resident_id(found.code, "19900307", "123"),
            valid_until=id_valid_until,
        ),
        mobile="13800138000",
        emergency_mobile="13900139000",
        email="zhangsan@example.com",
    )
    li = Person(
        name="李四",
        identity_document=IdentityDocument(
            type=IdentityDocumentType.RESIDENT_ID,
            number=example_resident_id(found.code, "19851120", "456"),
            valid_until=id_valid_until,
        ),
        mobile="13700137000",
        emergency_mobile="13600136000",
        email="lisi@example.com",
    )
    return Application(
        kind=kind,
        subject=Subject(
            type=SubjectType.ENTERPRISE,
            name=f"{found.short_name}示例网络科技有限公司",
            unit_certificate=UnitCertificate(
                type=UnitCertificateType.BUSINESS_LICENSE, number=example_uscc(found.code), valid_until="LONG_TERM"
            ),
            address=Address(province=province, city=found.capital, detail="示例路1号示例大厦101室"),
        ),
        subject_principal=zhang,
        mini_program=MiniProgram(appid=appid, name="示例小程序", service_categories=["生活服务"]),
        mini_program_principal=MiniProgramPrincipal(
            reuse_subject_principal=not own_mini_program_principal,
            person=li if own_mini_program_principal else None,
            face_verification=FaceVerification(
                record_id="face-example-0001", passed=True, verified_at=as_utc(now) - timedelta(hours=1)
            ),
        ),
        filing_number=example_filing_number(province) if kind.references_filing else None,
        cancellation_reason="业务调整，不再运营该小程序" if kind.is_cancellation else None,
    )
