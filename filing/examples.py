"""A valid application to start from (`starter.py --example`) and to build tests on.

All data is fictional but passes every rule: real check digits, documents valid for
years, a face verification an hour old, distinct mobiles, no pre-approval category, and
every R10 material named by the hash of a small generated file (`example_materials`, to
store before starting). Tests break one field at a time from here, so each test shows
only what it is about.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, timedelta

from filing.dates import add_months, as_utc, china_date
from filing.ids import resident_id_check_digit, uscc_check_char
from filing.material_content import encode_image, reencode_image
from filing.materials import material_sha256
from filing.models import (
    Address,
    Application,
    ExtraMaterial,
    FaceVerification,
    FilingKind,
    IdentityDocument,
    IdentityDocumentType,
    LegalRepresentative,
    MiniProgram,
    MiniProgramPrincipal,
    Person,
    Subject,
    SubjectType,
    UnitCertificate,
    UnitCertificateType,
)
from filing.province_materials import load_province_materials
from filing.provinces import find_province
from filing.regions import find_city

# --- example materials: tiny but real files, stored as they are --------------------------


def example_png(rgb: tuple[int, int, int], width: int = 86, height: int = 54) -> bytes:
    """A valid PNG the size of an ID card in millimetres: a light card with a darker header band.

    Encoded as the material store encodes images (`encode_image`), so storing it keeps these
    very bytes and its SHA-256 is the name the example application gives it."""
    from PIL import Image

    image = Image.new("RGB", (width, height), rgb)
    image.paste(tuple(max(0, c - 96) for c in rgb), (0, 0, width, height // 4))
    return encode_image(image, "image/png")


def example_jpeg(rgb: tuple[int, int, int], width: int = 86, height: int = 54) -> bytes:
    """A valid JPEG photo of a card that the store keeps as it is: JPEG loses a little at each
    encoding, so it is encoded again until an encoding no longer changes it (a few rounds)."""
    from PIL import Image

    image = Image.new("RGB", (width, height), rgb)
    image.paste(tuple(max(0, c - 96) for c in rgb), (0, 0, width, height // 4))
    content = encode_image(image, "image/jpeg")
    for _ in range(50):
        again = reencode_image(content, "image/jpeg")
        if again == content:
            return content
        content = again
    raise AssertionError(f"the JPEG of {rgb} does not settle under re-encoding")


def example_pdf(title: str) -> bytes:
    """A valid one-page PDF showing `title` (ASCII: the standard fonts have no Chinese glyphs)."""
    text = title.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("ascii")
    content = b"BT /F1 14 Tf 40 760 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@functools.cache
def _materials() -> dict[str, bytes]:
    """Example materials by role (the ID scans by the person they show)."""
    made = {
        "unit_certificate": example_png((250, 220, 200)),
        "张三": example_png((200, 225, 250)),
        "李四": example_png((205, 245, 205)),
        "王五": example_png((250, 245, 190)),
        "pre_approval": example_pdf("Pre-approval document (example)"),
        # Issue 17: the ID cards' backs (国徽面), the subject's authorisation letters, a residence certificate.
        "张三:back": example_png((185, 210, 240)),
        "李四:back": example_png((190, 235, 190)),
        "authorization:张三": example_pdf("Authorization letter for Zhang San (example)"),
        "authorization:李四": example_pdf("Authorization letter for Li Si (example)"),
        "residence_certificate": example_pdf("Residence certificate (example)"),
    }
    for items in load_province_materials().provinces.values():
        for item in items:
            made.setdefault(f"extra:{item.name}", example_pdf(f"{item.name_en} (example)"))
    return made


def _ref(role: str) -> str:
    return material_sha256(_materials()[role])


def example_materials() -> dict[str, bytes]:
    """Every material an example application may name, sha256 -> content, to put in a store."""
    return {material_sha256(content): content for content in _materials().values()}


def example_preapproval_document() -> str:
    """The SHA-256 of an example pre-approval document (a PDF among `example_materials`)."""
    return _ref("pre_approval")


def example_authorization_letter(person: str = "张三") -> str:
    """The SHA-256 of an example authorisation letter (授权书) for 张三 or 李四 (a PDF among `example_materials`)."""
    return _ref(f"authorization:{person}")


def example_residence_certificate() -> str:
    """The SHA-256 of an example residence certificate (居住证明, a PDF among `example_materials`)."""
    return _ref("residence_certificate")


def example_id_back(person: str = "张三") -> str:
    """The SHA-256 of the example back (国徽面) of 张三's or 李四's ID card."""
    return _ref(f"{person}:back")


def example_resident_id(province_code: str, born: str, sequence: str) -> str:
    """A well-formed resident ID: `<code>0102`, birth date YYYYMMDD, sequence, check digit."""
    first17 = f"{province_code}0102{born}{sequence}"
    return first17 + resident_id_check_digit(first17)


#: The characters of a 统一社会信用代码 (GB 32100: no I, O, S, V, Z).
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def example_uscc(province_code: str, company: str | None = None) -> str:
    """A company (9) registered by market regulation (1) of the province, check char computed:
    the example company, or another one per `company` key (the registry knows a subject by its
    certificate, so a load of filings each by its own company needs a code each)."""
    if company is None:
        org = "EXAMPLE01"
    else:
        digest = hashlib.sha256(company.encode()).digest()
        org = "".join(_USCC_CHARS[b % len(_USCC_CHARS)] for b in digest[:9])
    first17 = f"91{province_code}0000{org}"
    return first17 + uscc_check_char(first17)


def example_filing_number(province: str = "河北省", *, sequence: int = 1) -> str:
    """The mini-program filing number that a non-NEW example application acts on."""
    found = find_province(province)
    if found is None:
        raise ValueError(f"unknown province {province!r}")
    return f"{found.prefix}ICP备20240001号-{sequence}X"


#: 小程序备注 (20–200 characters) that hits no keyword of the R6 screen.
EXAMPLE_REMARK = "为本公司客户提供水电燃气费用的查询与在线缴纳，以及缴费记录和电子票据的查看"


def example_application(
    now: datetime,
    *,
    appid: str = "wx1234567890abcdef",
    kind: FilingKind = FilingKind.NEW,
    own_mini_program_principal: bool = False,
    province: str = "河北省",
    legal_representative: bool = False,
    company: str | None = None,
) -> Application:
    """A valid application of `kind` submitted at `now` (naive = UTC) by a company in `province`.

    `legal_representative`: the subject principal is not the company's legal representative
    (法人), who is then named (R10). `company`: another company than the example's (its own
    统一社会信用代码), e.g. one per appid."""
    found = find_province(province)
    if found is None:
        raise ValueError(f"unknown province {province!r}")
    capital = find_city(found, found.capital)
    district = capital.district_names[0] if capital is not None else found.capital  # a real one: checked at start
    id_valid_until = add_months(china_date(now), 120)
    id_valid_from = add_months(id_valid_until, -240)  # a 20-year card, issued ten years ago
    zhang = Person(
        name="张三",
        identity_document=IdentityDocument(
            type=IdentityDocumentType.RESIDENT_ID,
            number=example_resident_id(found.code, "19900307", "123"),
            valid_from=id_valid_from,
            valid_until=id_valid_until,
            front=_ref("张三"),
            back=_ref("张三:back"),
        ),
        mobile="13800138000",
        emergency_mobile="13900139000",
        email="zhangsan@example.com",
        # The subject's letter authorising 张三, who is then not its legal representative.
        authorization_letter=_ref("authorization:张三") if legal_representative else None,
    )
    li = Person(
        name="李四",
        identity_document=IdentityDocument(
            type=IdentityDocumentType.RESIDENT_ID,
            number=example_resident_id(found.code, "19851120", "456"),
            valid_from=id_valid_from,
            valid_until=id_valid_until,
            front=_ref("李四"),
            back=_ref("李四:back"),
        ),
        mobile="13700137000",
        emergency_mobile="13600136000",
        email="lisi@example.com",
        authorization_letter=_ref("authorization:李四"),  # 李四 is never the legal representative
    )
    wang = LegalRepresentative(
        name="王五",
        identity_type=IdentityDocumentType.RESIDENT_ID,
        identity_number=example_resident_id(found.code, "19700815", "789"),
    )
    extras = [
        ExtraMaterial(name=item.name, sha256=_ref(f"extra:{item.name}"))
        for item in load_province_materials().required(province, SubjectType.ENTERPRISE)
    ]
    return Application(
        kind=kind,
        subject=Subject(
            type=SubjectType.ENTERPRISE,
            name=f"{found.short_name}示例网络科技有限公司",
            unit_certificate=UnitCertificate(
                type=UnitCertificateType.BUSINESS_LICENSE,
                number=example_uscc(found.code, company),
                valid_until="LONG_TERM",
                scan=_ref("unit_certificate"),
                address=f"{found.name}{found.capital}{district}示例路1号",
            ),
            address=Address(province=province, city=found.capital, district=district, detail="示例路1号示例大厦101室"),
            principal_is_legal_representative=not legal_representative,
            legal_representative=wang if legal_representative else None,
        ),
        subject_principal=zhang,
        mini_program=MiniProgram(
            appid=appid, name="示例小程序", service_categories=["生活服务-生活缴费"], remark=EXAMPLE_REMARK,
            no_pre_approval_needed=True,
        ),
        mini_program_principal=MiniProgramPrincipal(
            reuse_subject_principal=not own_mini_program_principal,
            person=li if own_mini_program_principal else None,
            face_verification=FaceVerification(
                record_id="face-example-0001", passed=True, verified_at=as_utc(now) - timedelta(hours=1)
            ),
        ),
        filing_number=example_filing_number(province) if kind.references_filing else None,
        cancellation_reason="业务调整，不再运营该小程序" if kind.is_cancellation else None,
        extra_materials=extras,
    )
