"""R10 materials (备案材料): what a material may be, which ones an application must name,
and what is wrong with the ones it names (SPEC §3 R10).

Pure: no file or network I/O here. The store (`filing.ports.MaterialStore`) answers what
it holds, and `r10_violations` judges an application against that answer, so the same
check runs in the starter, the filing service, the workflow's validator (names only) and
the worker's L1 check (with the store's answer). `material_violations` is the one place
that asks a store, for callers that hold one.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from filing.material_content import check_mp4, check_pdf, reencode_image
from filing.material_types import MaterialKind, largest_limit, limit_for, material_types
from filing.messages import Violation
from filing.models import Application, SubjectType
from filing.people_materials import people_violations, person_materials
from filing.ports import MaterialOwner, MaterialRejected, MaterialStore, MediaType, StoredMaterial
from filing.province_materials import ProvinceMaterials, load_province_materials

#: "at most 5 MiB" (R10): a colour scan or a photo of a document fits comfortably. The limits
#: of each kind of material are data (`filing.material_types`); this is a document's.
MAX_MATERIAL_BYTES = material_types()["document"].max_bytes

#: Leading bytes of each accepted format: the content decides, never the file's name.
SIGNATURES: tuple[tuple[bytes, MediaType], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
#: An MP4 (ISO base media file) starts with its `ftyp` box: a 4-byte size, then `ftyp`.
MP4_BOX = b"ftyp"
MEDIA_TYPES: frozenset[str] = frozenset(media for _, media in SIGNATURES) | {"video/mp4"}

_NAME = re.compile(r"[0-9a-f]{64}")
_ACCEPTED = ("JPEG、PNG或PDF", "JPEG, PNG or PDF")
_LIMIT = f"{MAX_MATERIAL_BYTES // (1024 * 1024)} MiB"


def sniff_media_type(content: bytes) -> MediaType | None:
    """The media type by content (magic bytes), or None when it is none of the accepted ones."""
    for signature, media_type in SIGNATURES:
        if content.startswith(signature):
            return media_type
    if content[4:8] == MP4_BOX:
        return "video/mp4"
    return None


def material_sha256(content: bytes) -> str:
    """A material's name: the SHA-256 of its content, lower-case hex (`MaterialRef`)."""
    return hashlib.sha256(content).hexdigest()


def check_material_name(sha256: str) -> str:
    """Stores look materials up by name only after this: anything else never reaches a path or a key."""
    if not _NAME.fullmatch(sha256):
        raise ValueError("a material is named by the SHA-256 of its content: 64 lower-case hex characters")
    return sha256


def check_material(content: bytes) -> StoredMaterial:
    """What a store would keep for `content`; raises `MaterialRejected` (R10) for content it must refuse."""
    return prepare_material(content).material


@dataclass(frozen=True, slots=True)
class PreparedMaterial:
    """What a store keeps: the content as stored (an image re-encoded) and its description."""

    material: StoredMaterial
    content: bytes


def prepare_material(content: bytes) -> PreparedMaterial:
    """The content a store keeps for an upload (`filing.material_content`: an image decoded and
    encoded again, a PDF parsed and refused with active content), named by the SHA-256 of
    what is kept; raises `MaterialRejected` (R10). CPU-bound: stores call it off the event loop."""
    if not content:
        raise MaterialRejected(
            "R10.empty_material", "材料文件为空，请上传证件的彩色扫描件或拍照件", "the material is empty: upload the scan itself"
        )
    check_material_size(len(content))
    media_type = sniff_media_type(content)
    if media_type is None:
        raise MaterialRejected(*_unsupported())
    check_material_size(len(content), media_type)
    if media_type == "application/pdf":
        check_pdf(content)
        kept = content
    elif media_type == "video/mp4":
        check_mp4(content)
        kept = content
    else:
        kept = reencode_image(content, media_type)
        check_material_size(len(kept), media_type)
    return PreparedMaterial(StoredMaterial(sha256=material_sha256(kept), media_type=media_type, bytes=len(kept)), kept)


def check_material_size(size: int, media_type: str | None = None) -> None:
    """Raises `MaterialRejected` for a material over its format's limit (before the format is
    known, the largest of any kind: callers may ask before reading a file)."""
    limit = largest_limit() if media_type is None else limit_for(media_type)
    if size > limit:
        raise MaterialRejected(*_too_large(size, limit))


def _too_large(size: int, limit: int = MAX_MATERIAL_BYTES) -> tuple[str, str, str]:
    text = f"{limit / (1024 * 1024):g} MiB"
    return (
        "R10.too_large",
        f"材料大小为{size}字节，超过上限{text}（{limit}字节），请压缩或降低分辨率后重新上传",
        f"the material is {size} bytes, over the limit of {text} ({limit} bytes): "
        "compress it or lower its resolution and upload it again",
    )


def _unsupported(kind: MaterialKind | None = None) -> tuple[str, str, str]:
    if kind is None:
        zh, en = f"{_ACCEPTED[0]}，承诺视频为MP4", f"{_ACCEPTED[1]}, or MP4 for a promise video"
    else:
        zh = en = material_types()[kind].formats_text
    return (
        "R10.unsupported_media_type",
        f"材料格式不受支持（按文件内容判断，而非文件名）：应为{zh}",
        f"unsupported material format (judged by its content, not its name): it must be {en}",
    )


# --- which materials an application must name ------------------------------------------


@dataclass(frozen=True, slots=True)
class RequiredMaterial:
    """One material the application must name: where, what it is, and the name given (if any)."""

    field: str
    what_zh: str
    what_en: str
    sha256: str | None
    #: A province's item is named in `extra_materials` by this name (None for the fixed slots).
    extra_name: str | None = None
    #: What the slot takes (`filing.material_types`): a scan or document, or a video.
    kind: MaterialKind = "document"


def legal_representative_applies(app: Application) -> bool:
    """The legal representative counts only for a non-personal subject whose principal is not it."""
    subject = app.subject
    return (
        subject.type is not SubjectType.PERSONAL
        and not subject.principal_is_legal_representative
        and subject.legal_representative is not None
    )


def required_materials(app: Application, province_lists: ProvinceMaterials) -> list[RequiredMaterial]:
    """Every material R10 asks of this application, with the name it gives each (None = missing).

    A cancellation needs none (the platform files it on the registry's record). A missing
    unit certificate or mini-program person is R1's and R7's to report, not asked here twice."""
    if app.kind.is_cancellation:
        return []
    subject = app.subject
    needed: list[RequiredMaterial] = []
    if subject.type is not SubjectType.PERSONAL and subject.unit_certificate is not None:
        needed.append(RequiredMaterial(
            "subject.unit_certificate.scan", "单位证件彩色扫描件", "the unit certificate's colour scan",
            subject.unit_certificate.scan))
    # The principals' document fronts and backs, authorisation letters, the residence certificate.
    needed += [RequiredMaterial(m.field, m.what_zh, m.what_en, m.sha256) for m in person_materials(app)]
    for i, record in enumerate(app.mini_program.pre_approvals):
        needed.append(RequiredMaterial(
            f"mini_program.pre_approvals[{i}].document", "前置审批文件", "the pre-approval document", record.document))
    named = {extra.name: (i, extra.sha256) for i, extra in reversed(list(enumerate(app.extra_materials)))}
    for item in province_lists.required(subject.address.province, subject.type):
        at = named.get(item.name)
        needed.append(RequiredMaterial(
            f"extra_materials[{at[0]}].sha256" if at else "extra_materials", item.name, item.name_en,
            at[1] if at else None, extra_name=item.name, kind=item.material_type))
    return needed


# --- the R10 check ----------------------------------------------------------------------


def _v(field: str, key: str, zh: str, en: str) -> Violation:
    return Violation(field=field, key=key, message_zh=zh, message_en=en)


def _legal_representative(app: Application) -> Iterator[Violation]:
    subject = app.subject
    path = "subject.legal_representative"
    if subject.type is SubjectType.PERSONAL:
        if subject.legal_representative is not None:
            yield _v(path, "R10.legal_representative_not_allowed",
                     "个人主体没有法人，请删除法人信息", "a personal subject has no legal representative: remove it")
        if not subject.principal_is_legal_representative:
            yield _v("subject.principal_is_legal_representative", "R10.legal_representative_not_allowed",
                     "个人主体没有法人，此项应为 true", "a personal subject has no legal representative: leave this true")
    elif subject.principal_is_legal_representative:
        if subject.legal_representative is not None:
            yield _v(path, "R10.legal_representative_not_needed",
                     "主体负责人即为法人时无需填写法人信息；如负责人不是法人，请将 principal_is_legal_representative 设为 false",
                     "the subject principal is the legal representative, so none is named: remove it, or set "
                     "principal_is_legal_representative to false if the principal is not the legal representative")
    elif subject.legal_representative is None:
        yield _v(path, "R10.legal_representative_missing",
                 "主体负责人不是法人时，须填写法人姓名和证件号码，并上传主体出具的授权书",
                 "the subject principal is not the legal representative: name the legal representative "
                 "(name and identity number) and upload the subject's authorisation letter for the principal")
    elif ((subject.legal_representative.number or "").strip().upper()
          == app.subject_principal.identity_document.number.strip().upper()):
        yield _v(f"{path}.identity_number", "R10.legal_representative_is_principal",
                 "法人与主体负责人证件号码相同；负责人即为法人时，请将 principal_is_legal_representative 设为 true 并删除法人信息",
                 "the legal representative has the subject principal's identity document: if the principal is the "
                 "legal representative, set principal_is_legal_representative to true and remove legal_representative")


def _stored(field: str, found: StoredMaterial | None, kind: MaterialKind = "document") -> Iterator[Violation]:
    """A named material judged by the kind its slot takes (a video where a scan belongs is refused)."""
    if found is None:
        yield _v(field, "R10.material_not_uploaded",
                 "材料库中没有该材料，请先上传文件，再以其SHA-256填写",
                 "no such material in the store: upload the file first, then name it by its SHA-256")
        return
    wanted = material_types()[kind]
    if found.media_type not in wanted.formats:
        key, zh, en = _unsupported(kind)
        yield _v(field, key, zh, en)
    elif found.bytes > wanted.max_bytes:
        key, zh, en = _too_large(found.bytes, wanted.max_bytes)
        yield _v(field, key, zh, en)


def r10_violations(
    app: Application,
    province_lists: ProvinceMaterials,
    materials: Mapping[str, StoredMaterial | None] | None = None,
) -> list[Violation]:
    """R10: the legal representative, the required materials named, and — when `materials`
    (the store's answer for each named SHA-256) is given — each named one present, of an
    accepted type and within the size limit. A hash missing from `materials` is not in the store."""
    found = [*_legal_representative(app), *people_violations(app)]
    for need in required_materials(app, province_lists):
        if need.sha256 is not None:
            continue
        if need.extra_name is not None:
            found.append(_v(need.field, "R10.extra_material_missing",
                            f"所在省份要求上传补充材料“{need.what_zh}”，请上传后在 extra_materials 中以此名称填写",
                            f"the subject's province asks for the supplementary material '{need.what_zh}' "
                            f"({need.what_en}): upload it and name it in extra_materials under that name"))
        else:
            found.append(_v(need.field, "R10.material_missing",
                            f"缺少{need.what_zh}：请上传（{_ACCEPTED[0]}，不超过{_LIMIT}）并以其SHA-256填写",
                            f"{need.what_en} is missing: upload it ({_ACCEPTED[1]}, at most {_LIMIT}) "
                            "and name it by its SHA-256"))
    if materials is not None:
        kinds = {need.field: need.kind for need in required_materials(app, province_lists)}
        for field, sha256 in app.materials():
            found.extend(_stored(field, materials.get(sha256), kinds.get(field, "document")))
    return found


async def material_violations(
    app: Application, store: MaterialStore, *, province_lists: ProvinceMaterials | None = None,
    owner: MaterialOwner | None = None,
) -> list[Violation]:
    """R10 against the store: every named hash is looked up (once, concurrently), then judged.

    With `owner` (an applicant starting or resubmitting), a material the caller did not
    upload counts as not in the store: the same violation as an unknown hash, so the store
    is no oracle of what others filed. `province_lists` defaults to the packaged lists; a
    store that cannot answer raises (an outage is not a violation: the caller retries or
    reports it)."""
    hashes = sorted({sha256 for _, sha256 in app.materials()})

    async def answer(sha256: str) -> StoredMaterial | None:
        if owner is None:
            return await store.stat(sha256)
        stat, owned = await asyncio.gather(store.stat(sha256), store.owned_by(sha256, owner))
        return stat if owned else None

    answers = await asyncio.gather(*(answer(sha256) for sha256 in hashes))
    lists = province_lists if province_lists is not None else load_province_materials()
    return r10_violations(app, lists, dict(zip(hashes, answers, strict=True)))
