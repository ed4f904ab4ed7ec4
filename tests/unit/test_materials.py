"""R10 materials, the legal representative and R6 aliases, on the example application.

Pure checks (`filing.materials`, `filing.rules`), except where a store's answer is the
point: there the real local store runs on a temp dir, never a stand-in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.materials_local import FileMaterialStore
from filing.examples import (
    example_application,
    example_jpeg,
    example_materials,
    example_pdf,
    example_png,
    example_preapproval_document,
)
from filing.materials import (
    MAX_MATERIAL_BYTES,
    check_material,
    check_material_name,
    material_sha256,
    material_violations,
    required_materials,
    sniff_media_type,
)
from filing.messages import Violation
from filing.models import (
    Application,
    ExtraMaterial,
    FilingKind,
    IdentityDocument,
    IdentityDocumentType,
    PreApproval,
    SubjectType,
    UnitCertificateType,
)
from filing.ports import MaterialOwner, MaterialRejected, StoredMaterial
from filing.preapproval import category_index, load_preapproval_catalogue, load_preapproval_index
from filing.province_materials import (
    DEFAULT_PATH,
    ProvinceMaterials,
    load_province_materials,
    load_province_materials_file,
)
from filing.rules import ALL_RULES, parse_application
from tests.conftest import TEST_KEYS
from tests.unit.applications import NOW, checked, example, keys_of, personal

LISTS = load_province_materials()
PNG = example_png((10, 20, 30))
PDF = example_pdf("a document")
JPEG = example_jpeg((200, 180, 160))
IMPORT = MaterialOwner.imported("tests")


def check(app: Application, now: datetime = NOW, **kwargs: Any) -> list[Violation]:
    # R6's tests name pre-approval categories (教育, 网约车) as service categories; whether a
    # category is on the service-content type list is tested on its own (`service_types=None`).
    kwargs.setdefault("service_types", ())
    return checked(app, now, **kwargs)


def keys(app: Application, **kwargs: Any) -> set[tuple[str, str]]:
    return keys_of(check(app, **kwargs))


def all_stored(app: Application) -> dict[str, StoredMaterial | None]:
    return {sha: check_material(example_materials()[sha]) for _, sha in app.materials()}


# --- what a material may be -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "media_type"),
    [(JPEG, "image/jpeg"), (PNG, "image/png"), (PDF, "application/pdf")],
)
def test_the_media_type_is_read_from_the_content(content: bytes, media_type: str) -> None:
    assert sniff_media_type(content) == media_type
    stored = check_material(content)  # images as the store encodes them: kept as they are
    assert (stored.media_type, stored.bytes, stored.sha256) == (media_type, len(content), material_sha256(content))


@pytest.mark.parametrize(
    ("content", "media_type"),
    [(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "image/jpeg"), (b"%PDF-2.0\n", "application/pdf"),
     (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>", "image/png")],
)
def test_first_bytes_alone_are_not_a_material(content: bytes, media_type: str) -> None:
    """The signature names the format; the content must then read as that format."""
    assert sniff_media_type(content) == media_type
    with pytest.raises(MaterialRejected) as refused:
        check_material(content)
    assert refused.value.key == "R10.unreadable_material"


@pytest.mark.parametrize(
    "content",
    [
        b"GIF89a\x01\x00\x01\x00",  # another image format
        b"PK\x03\x04word/document.xml",  # a .docx renamed .pdf: the name never counts
        b"\xff\xd8",  # a JPEG's first two bytes only
        b"\x89PNG\r\n",  # a truncated PNG signature
        b" %PDF-1.4",  # not at the start
        "身份证扫描件".encode(),
    ],
)
def test_other_content_is_refused_as_unsupported(content: bytes) -> None:
    assert sniff_media_type(content) is None
    with pytest.raises(MaterialRejected) as refused:
        check_material(content)
    assert refused.value.key == "R10.unsupported_media_type"
    assert "JPEG" in refused.value.message_en and "JPEG" in refused.value.message_zh


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(MaterialRejected) as refused:
        check_material(b"")
    assert refused.value.key == "R10.empty_material"


def test_five_mib_is_the_limit() -> None:
    at_limit = PDF + bytes(MAX_MATERIAL_BYTES - len(PDF))
    assert check_material(at_limit).bytes == 5 * 1024 * 1024
    with pytest.raises(MaterialRejected) as refused:
        check_material(at_limit + b"\0")
    assert refused.value.key == "R10.too_large"
    assert str(MAX_MATERIAL_BYTES + 1) in refused.value.message_en and "5 MiB" in refused.value.message_zh


@pytest.mark.parametrize("name", ["../../etc/passwd", "A" * 64, "0" * 63, "", "0" * 64 + "\n"])
def test_a_material_name_is_a_sha256_and_nothing_else(name: str) -> None:
    with pytest.raises(ValueError, match="64 lower-case hex"):
        check_material_name(name)
    assert check_material_name("0" * 64) == "0" * 64


# --- the example names every material it needs -------------------------------------------


@pytest.mark.parametrize("kind", [FilingKind.NEW, FilingKind.CHANGE])
@pytest.mark.parametrize("own", [False, True])
@pytest.mark.parametrize("legal", [False, True])
def test_the_example_names_every_required_material_and_ships_them(kind: FilingKind, own: bool, legal: bool) -> None:
    app = example(kind=kind, own_mini_program_principal=own, legal_representative=legal)
    needed = required_materials(app, LISTS)
    assert needed and all(n.sha256 in example_materials() for n in needed)
    assert check(app, materials=all_stored(app)) == []
    assert ("subject_principal.authorization_letter" in {n.field for n in needed}) is legal
    assert ("mini_program_principal.person.identity_document.back" in {n.field for n in needed}) is own
    assert ("mini_program_principal.person.authorization_letter" in {n.field for n in needed}) is own


def test_the_example_materials_are_real_files_of_their_type() -> None:
    for sha, content in example_materials().items():
        assert material_sha256(content) == sha
        assert check_material(content).media_type in ("image/png", "application/pdf")
    png = example_png((1, 2, 3), width=4, height=2)
    assert png[12:16] == b"IHDR" and int.from_bytes(png[16:20]) == 4 and png.endswith(b"IEND\xaeB`\x82")
    pdf = example_pdf("T (1)")
    xref_at = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref_at:].startswith(b"xref\n0 6\n") and pdf.rstrip().endswith(b"%%EOF")
    offsets = [int(line[:10]) for line in pdf[xref_at:].split(b"\n")[3:8]]
    assert [pdf[o:].split(b" ")[0] for o in offsets] == [b"1", b"2", b"3", b"4", b"5"]
    assert b"(T \\(1\\)) Tj" in pdf


# --- which materials are required, by subject type ------------------------------------------


def fields(app: Application, lists: ProvinceMaterials = LISTS) -> list[str]:
    return [n.field for n in required_materials(app, lists)]


def test_an_enterprise_needs_its_certificate_its_principal_and_its_provinces_extras() -> None:
    assert fields(example()) == [
        "subject.unit_certificate.scan",
        "subject_principal.identity_document.front",
        "subject_principal.identity_document.back",
        "extra_materials[0].sha256",  # 河北 asks non-personal subjects for a 备案承诺书
    ]
    assert [n.extra_name for n in required_materials(example(), LISTS)][-1] == "备案承诺书"


def test_a_personal_subject_needs_only_its_principals_document() -> None:
    front_and_back = ["subject_principal.identity_document.front", "subject_principal.identity_document.back"]
    assert fields(personal()) == front_and_back  # 河北 asks persons nothing
    assert fields(personal("浙江省")) == [*front_and_back, "extra_materials"]


def test_the_mini_program_principal_only_when_it_is_its_own_person() -> None:
    app = example(own_mini_program_principal=True)
    assert "mini_program_principal.person.identity_document.front" in fields(app)
    assert app.mini_program_principal.person is not None
    app.mini_program_principal.person = app.subject_principal.model_copy()  # the same person entered twice
    assert not [f for f in fields(app) if f.startswith("mini_program_principal.")]


def test_each_pre_approval_record_needs_its_document() -> None:
    app = example()
    app.mini_program.service_categories.append("教育")
    app.mini_program.pre_approvals.append(PreApproval(category="教育", approval_number="教审1", document_name="批复"))
    assert keys(app) == {("R10.material_missing", "mini_program.pre_approvals[0].document")}
    app.mini_program.pre_approvals[0].document = example_preapproval_document()
    assert check(app, materials=all_stored(app)) == []


def test_province_lists_are_by_subject_type() -> None:
    government = example(province="广东省")
    government.subject.type = SubjectType.GOVERNMENT
    assert government.subject.unit_certificate is not None
    government.subject.unit_certificate.type = UnitCertificateType.GOVERNMENT_CODE_CERTIFICATE
    assert [n.extra_name for n in required_materials(government, LISTS) if n.extra_name] == [
        "备案承诺书",
        "主体负责人授权书",
    ]
    enterprise = example(province="广东省")
    assert [n.extra_name for n in required_materials(enterprise, LISTS) if n.extra_name] == ["备案承诺书"]
    assert [n.extra_name for n in required_materials(example(province="四川"), LISTS) if n.extra_name] == []


def test_a_cancellation_needs_no_materials() -> None:
    app = example(kind=FilingKind.CANCEL_MINI_PROGRAM)
    app.subject.unit_certificate.scan = None  # type: ignore[union-attr]
    app.extra_materials = []
    assert required_materials(app, LISTS) == [] and check(app) == []


# --- every R10 violation key ---------------------------------------------------------------


def test_missing_materials_name_their_fields() -> None:
    app = example(own_mini_program_principal=True, legal_representative=True)
    assert app.subject.unit_certificate and app.subject.legal_representative and app.mini_program_principal.person
    app.subject.unit_certificate.scan = None
    app.subject_principal.identity_document.front = None
    app.mini_program_principal.person.identity_document.back = None
    app.subject_principal.authorization_letter = None
    app.extra_materials = []
    assert keys(app) == {
        ("R10.material_missing", "subject.unit_certificate.scan"),
        ("R10.material_missing", "subject_principal.identity_document.front"),
        ("R10.material_missing", "mini_program_principal.person.identity_document.back"),
        ("R10.material_missing", "subject_principal.authorization_letter"),
        ("R10.extra_material_missing", "extra_materials"),
    }
    message = next(v for v in check(app) if v.key == "R10.extra_material_missing")
    assert "备案承诺书" in message.message_zh and "filing commitment letter" in message.message_en


def test_an_extra_material_under_another_name_does_not_count() -> None:
    app = example()
    app.extra_materials = [ExtraMaterial(name="承诺书", sha256=app.extra_materials[0].sha256)]
    assert keys(app) == {("R10.extra_material_missing", "extra_materials")}


def test_the_stores_answer_is_judged_per_named_material() -> None:
    app = example(own_mini_program_principal=True)
    answer = all_stored(app)
    certificate = app.subject.unit_certificate.scan  # type: ignore[union-attr]
    principal = app.subject_principal.identity_document.front
    assert certificate and principal
    answer[certificate] = None  # never uploaded
    big = StoredMaterial(sha256=principal, media_type="image/png", bytes=MAX_MATERIAL_BYTES + 1)
    answer[principal] = big  # a store that let an oversized file in
    extra = app.extra_materials[0].sha256
    answer[extra] = StoredMaterial.model_construct(sha256=extra, media_type="image/gif", bytes=10)
    assert keys(app, materials=answer) == {
        ("R10.material_not_uploaded", "subject.unit_certificate.scan"),
        ("R10.too_large", "subject_principal.identity_document.front"),
        ("R10.unsupported_media_type", "extra_materials[0].sha256"),
    }
    del answer[app.mini_program_principal.person.identity_document.front]  # type: ignore[union-attr,arg-type]
    assert ("R10.material_not_uploaded", "mini_program_principal.person.identity_document.front") in keys(
        app, materials=answer
    )


def test_without_the_stores_answer_only_the_names_are_checked() -> None:
    app = example()
    assert check(app) == []  # nothing asked of a store: the workflow's validator runs like this
    assert keys(app, materials={}) == {(("R10.material_not_uploaded"), f) for f, _ in app.materials()}


def test_r10_can_be_run_alone_and_in_spec_order() -> None:
    app = example()
    app.subject_principal.identity_document.front = None
    app.subject.address.city = ""
    assert [v.key for v in check(app)] == ["R5.city_missing", "R10.material_missing"]
    assert [v.key for v in check(app, rules=frozenset({"R10"}))] == ["R10.material_missing"]
    assert "R10" in ALL_RULES


def test_messages_never_repeat_personal_data() -> None:
    app = example(own_mini_program_principal=True, legal_representative=True)
    rep = app.subject.legal_representative
    assert rep is not None
    rep.identity_number = app.subject_principal.identity_document.number
    app.subject_principal.authorization_letter = None
    app.subject_principal.identity_document.back = None
    everything = check(app, materials={})
    assert {v.key for v in everything} >= {"R10.legal_representative_is_principal", "R10.material_missing"}
    people = [app.subject_principal, app.mini_program_principal.person]
    secrets = [p.name for p in people if p] + [p.identity_document.number for p in people if p] + [rep.name]
    secrets += [p.mobile for p in people if p] + [app.subject.address.detail]
    text = json.dumps([v.model_dump() for v in everything], ensure_ascii=False)
    assert not [s for s in secrets if s in text]


# --- the legal representative (法人) --------------------------------------------------------


def test_a_principal_who_is_not_the_legal_representative_names_one() -> None:
    app = example()
    app.subject.principal_is_legal_representative = False
    assert keys(app) == {("R10.legal_representative_missing", "subject.legal_representative"),
                         ("R10.material_missing", "subject_principal.authorization_letter")}
    assert check(example(legal_representative=True)) == []


def test_a_personal_subject_never_names_a_legal_representative() -> None:
    app = personal()
    app.subject.legal_representative = example(legal_representative=True).subject.legal_representative
    app.subject.principal_is_legal_representative = False
    assert keys(app) == {
        ("R10.legal_representative_not_allowed", "subject.legal_representative"),
        ("R10.legal_representative_not_allowed", "subject.principal_is_legal_representative"),
    }


def test_a_legal_representative_is_not_named_when_the_principal_is_one() -> None:
    app = example(legal_representative=True)
    app.subject.principal_is_legal_representative = True
    assert keys(app) == {("R10.legal_representative_not_needed", "subject.legal_representative")}


def test_the_legal_representative_is_another_person_than_the_principal() -> None:
    app = example(legal_representative=True)
    assert app.subject.legal_representative is not None
    app.subject.legal_representative.identity_number = app.subject_principal.identity_document.number.lower()
    assert keys(app) == {
        ("R10.legal_representative_is_principal", "subject.legal_representative.identity_number")
    }


def test_r3_applies_to_the_legal_representatives_number() -> None:
    app = example(legal_representative=True)
    rep = app.subject.legal_representative
    assert rep is not None and rep.identity_number
    number = rep.identity_number
    rep.identity_number = number[:-1] + ("1" if number[-1] == "0" else "0")  # a wrong check digit
    assert keys(app) == {("R3.invalid_resident_id", "subject.legal_representative.identity_number")}
    rep.identity_type, rep.identity_number = IdentityDocumentType.PASSPORT, "E1234567"
    assert check(app) == []


def test_a_legal_representative_that_does_not_count_is_not_judged_by_r3() -> None:
    app = example(legal_representative=True)
    app.subject.principal_is_legal_representative = True
    app.subject_principal.authorization_letter = None
    assert app.subject.legal_representative is not None
    app.subject.legal_representative.identity_number = "123"
    assert {k for k, _ in keys(app)} == {"R10.legal_representative_not_needed"}


def test_old_applications_without_the_new_fields_still_decode() -> None:
    """A filing started before R10 carries none of the new fields: its history must decode."""
    document = example().model_dump(mode="json", exclude_none=True)
    del document["subject"]["unit_certificate"]["scan"]
    for side in ("front", "back"):
        del document["subject_principal"]["identity_document"][side]
    del document["extra_materials"], document["subject"]["principal_is_legal_representative"]
    app = Application.model_validate(document)
    assert app.materials() == [] and app.subject.principal_is_legal_representative
    assert {v.key for v in check(app)} == {"R10.material_missing", "R10.extra_material_missing"}  # a rule, not a schema


# --- R6 aliases -----------------------------------------------------------------------------


def test_ride_hailing_by_its_common_name_is_caught() -> None:
    app = example()
    app.mini_program.service_categories.append("网约车")
    violations = check(app)
    assert [(v.key, v.field) for v in violations] == [("R6.pre_approval_missing", "mini_program.service_categories[1]")]
    assert "网络预约车" in violations[0].message_zh and "网络预约车" in violations[0].message_en


@pytest.mark.parametrize(("declared", "recorded"), [("网约车", "网络预约车"), ("网络预约车", "网约车"), ("网约车", "网约车")])
def test_an_alias_matches_its_category_either_way(declared: str, recorded: str) -> None:
    app = example()
    app.mini_program.service_categories.append(declared)
    app.mini_program.pre_approvals.append(
        PreApproval(category=recorded, approval_number="交运许〔2025〕1号", document_name="网约车经营许可证",
                    document=example_preapproval_document())
    )
    assert check(app) == []


def test_a_record_for_another_category_is_still_undeclared() -> None:
    app = example()
    app.mini_program.service_categories.append("网约车")
    app.mini_program.pre_approvals.append(
        PreApproval(category="医疗", approval_number="1", document_name="d", document=example_preapproval_document())
    )
    assert keys(app) == {
        ("R6.pre_approval_missing", "mini_program.service_categories[1]"),
        ("R6.pre_approval_for_undeclared_category", "mini_program.pre_approvals[0].category"),
    }


ALIASES = sorted(set(load_preapproval_index()) - {c.name for c in load_preapproval_catalogue()})


@pytest.mark.parametrize("alias", ALIASES)
def test_every_alias_in_the_data_file_is_caught(alias: str) -> None:
    app = example()
    app.mini_program.service_categories = [alias]
    assert keys(app) == {("R6.pre_approval_missing", "mini_program.service_categories[0]")}


def test_the_data_file_is_the_one_source_of_aliases() -> None:
    index = load_preapproval_index()
    assert index["网约车"] == "网络预约车" and index["网络预约车"] == "网络预约车"
    assert all(alias in index for c in load_preapproval_catalogue() for alias in c.aliases)
    assert {c.name for c in load_preapproval_catalogue()} == set(index.values())


def test_categories_recorded_as_plain_names_still_work() -> None:
    """A workflow holds the list its L1 check recorded; an old one holds canonical names only."""
    app = example()
    app.mini_program.service_categories.append("网络预约车")
    assert keys(app, categories=frozenset({"网络预约车"})) == {
        ("R6.pre_approval_missing", "mini_program.service_categories[1]")
    }
    assert category_index(["a"]) == {"a": "a"}
    assert category_index({"x": "a"}) == {"x": "a", "a": "a"}


def test_an_alias_may_not_name_two_categories(tmp_path: Path) -> None:
    path = tmp_path / "categories.json"
    entry = {"name_en": "e", "authority": "a", "authority_en": "a"}
    path.write_text(json.dumps({"categories": [{**entry, "name": "新闻", "aliases": ["资讯"]},
                                               {**entry, "name": "出版", "aliases": ["资讯"]}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="资讯"):
        load_preapproval_catalogue(path)
    path.write_text(json.dumps({"categories": [{**entry, "name": "新闻", "aliases": "资讯"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="aliases"):
        load_preapproval_catalogue(path)


# --- the provinces' lists as data -------------------------------------------------------------


def test_the_province_lists_are_data_keyed_by_canonical_prefix() -> None:
    assert set(LISTS.provinces) == {"冀", "粤", "浙"}  # the website 核验单 of 京 and 沪 is no mini-program material
    raw = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert "operators keep these lists" in raw["description"]
    assert all(entry["source"] and entry["checked"] for entry in raw["provinces"].values())
    assert "核验单" not in json.dumps([e["items"] for e in raw["provinces"].values()], ensure_ascii=False)
    assert [i.name for i in LISTS.required("冀", SubjectType.ENTERPRISE)] == ["备案承诺书"]
    assert LISTS.required("火星", SubjectType.ENTERPRISE) == ()
    assert ProvinceMaterials.model_validate_json(LISTS.model_dump_json()) == LISTS  # it can travel to a workflow


def _listed(items: list[dict[str, Any]], checked: str | None = "2026-12-01") -> dict[str, Any]:
    return {"source": "某省通信管理局通知", "checked": checked, "items": items}


def test_a_province_without_a_checked_list_asks_only_for_the_national_materials(tmp_path: Path) -> None:
    path = tmp_path / "lists.json"
    item = {"name": "承诺视频", "name_en": "promise video", "subject_types": ["ALL"], "material_type": "video"}
    path.write_text(json.dumps({"provinces": {"四川": _listed([item], None), "河北": _listed([item])}},
                               ensure_ascii=False), encoding="utf-8")
    lists = load_province_materials_file(path)
    assert set(lists.provinces) == {"冀"} and lists.provinces["冀"][0].material_type == "video"


@pytest.mark.parametrize(
    ("provinces", "problem"),
    [
        ({"火星": _listed([])}, "unknown province"),
        ({"四川": _listed([]), "川": _listed([])}, "listed twice"),
        ({"河北": _listed([{"name": "x", "name_en": "x", "subject_types": ["ALL"]}] * 2)}, "names an item twice"),
        ({"河北": _listed([{"name": "x", "name_en": "x", "subject_types": ["ROBOT"]}])}, "subject_types"),
        ({"河北": _listed([{"name": "x", "name_en": "x", "subject_types": []}])}, "subject_types"),
        ({"河北": [{"name": "x", "name_en": "x", "subject_types": ["ALL"]}]}, "provinces.河北"),  # no source
        ({"河北": _listed([{"name": "x", "name_en": "x", "subject_types": ["ALL"], "material_type": "audio"}])},
         "material_type"),
    ],
)
def test_a_malformed_province_list_is_refused_naming_the_problem(
    tmp_path: Path, provinces: dict[str, Any], problem: str
) -> None:
    path = tmp_path / "lists.json"
    path.write_text(json.dumps({"provinces": provinces}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_province_materials_file(path)


def test_the_lists_come_from_the_caller() -> None:
    app = example(province="四川省")  # 四川 asks nothing extra
    own = ProvinceMaterials.model_validate(
        {"provinces": {"蜀": [{"name": "安全承诺书", "name_en": "security pledge", "subject_types": ["ENTERPRISE"]}]}}
    )
    assert keys(app, province_lists=own) == {("R10.extra_material_missing", "extra_materials")}
    assert check(app) == []


# --- against a store -------------------------------------------------------------------------


async def test_material_violations_asks_the_store_for_every_named_material(tmp_path: Path) -> None:
    store = FileMaterialStore(tmp_path, TEST_KEYS.payload)
    app = example(own_mini_program_principal=True, legal_representative=True)
    assert {v.key for v in await material_violations(app, store)} == {"R10.material_not_uploaded"}
    for _, sha in app.materials():
        await store.put(example_materials()[sha], IMPORT)
    assert await material_violations(app, store) == []
    app.subject.principal_is_legal_representative = True
    assert [v.key for v in await material_violations(app, store)] == ["R10.legal_representative_not_needed"]


async def test_an_applicant_over_a_week(tmp_path: Path) -> None:
    """Monday the scans are uploaded and the application written; Tuesday it is refused for
    the province's commitment letter; Wednesday a Word file is refused; Thursday the PDF
    goes in, the face verification (now over 3 days old) is redone, and the application
    passes every rule — naming nothing the store lacks."""
    store = FileMaterialStore(tmp_path, TEST_KEYS.payload)
    monday = datetime(2025, 9, 22, 1, 0, tzinfo=UTC)
    app = example_application(monday)
    letter = app.extra_materials.pop()
    for _, sha in app.materials():
        await store.put(example_materials()[sha], IMPORT)
    text = app.model_dump_json(exclude_none=True)

    tuesday = monday + timedelta(days=1)
    parsed, violations = parse_application(text, tuesday)
    assert parsed is not None
    assert [(v.key, v.field) for v in violations] == [("R10.extra_material_missing", "extra_materials")]

    with pytest.raises(MaterialRejected) as refused:  # Wednesday: the letter as a .docx
        await store.put(b"PK\x03\x04" + "备案承诺书".encode(), IMPORT)
    assert refused.value.key == "R10.unsupported_media_type"
    assert not list(store.directory.glob(".*.tmp"))

    thursday = monday + timedelta(days=3)
    stored = await store.put(example_materials()[letter.sha256], IMPORT)
    document = json.loads(text)
    document["extra_materials"] = [{"name": "备案承诺书", "sha256": stored.sha256}]
    parsed, violations = parse_application(json.dumps(document, ensure_ascii=False), thursday)
    assert [v.key for v in violations] == ["R7.face_verification_stale"]
    face = document["mini_program_principal"]["face_verification"]
    face["verified_at"] = (thursday - timedelta(minutes=5)).isoformat()  # 人脸核身 again
    parsed, violations = parse_application(json.dumps(document, ensure_ascii=False), thursday)
    assert parsed is not None and violations == []
    assert await material_violations(parsed, store) == []

