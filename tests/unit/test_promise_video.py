"""The promise video (承诺视频, MP4) where a province asks for one, and each kind of material's
formats and size limit as data (R10, issue 17)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from adapters.materials_local import FileMaterialStore
from filing.examples import example_application, example_materials
from filing.material_types import material_types
from filing.materials import check_material, material_violations, r10_violations, sniff_media_type
from filing.models import ExtraMaterial, SubjectType
from filing.ports import MaterialOwner, MaterialRejected, StoredMaterial
from filing.province_materials import ProvinceMaterial, ProvinceMaterials
from tests.conftest import TEST_KEYS

NOW = datetime(2025, 3, 3, 2, 0)
VIDEO_LIST = ProvinceMaterials(provinces={"冀": (
    ProvinceMaterial(name="承诺视频", name_en="promise video", subject_types=frozenset(SubjectType),
                     material_type="video"),
)})


def box(kind: bytes, body: bytes = b"") -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def mp4(media: bytes = b"\x00" * 64) -> bytes:
    """A minimal ISO base media file: ftyp (brand isom), a movie header box, the media data."""
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"moov", box(b"mvhd", b"\x00" * 100)) + box(b"mdat", media)


def test_an_mp4_is_accepted_by_its_content_and_stored_as_uploaded() -> None:
    content = mp4()
    assert sniff_media_type(content) == "video/mp4"
    stored = check_material(content)
    assert stored.media_type == "video/mp4" and stored.bytes == len(content)


@pytest.mark.parametrize(("content", "key"), [
    (b"\x00\x00\x00\x18ftypisom" + b"<html><script>alert(1)</script>", "R10.unreadable_material"),  # boxes do not add up
    (box(b"ftyp", b"isom\x00\x00\x02\x00") + box(b"mdat", b"x"), "R10.unreadable_material"),  # no movie
    (b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 32, "R10.unsupported_media_type"),  # an AVI renamed .mp4
    (b"\x1aE\xdf\xa3" + b"\x00" * 32, "R10.unsupported_media_type"),  # a WebM/MKV renamed .mp4
])
def test_a_file_that_only_claims_to_be_an_mp4_is_refused(content: bytes, key: str) -> None:
    with pytest.raises(MaterialRejected) as refused:
        check_material(content)
    assert refused.value.key == key


def test_a_video_has_its_own_limit_from_data() -> None:
    video, document = material_types()["video"], material_types()["document"]
    assert video.formats == ("video/mp4",) and video.max_bytes > document.max_bytes
    check_material(mp4(b"\x00" * (document.max_bytes + 1)))  # over a scan's limit, within a video's
    with pytest.raises(MaterialRejected) as refused:
        check_material(mp4(b"\x00" * video.max_bytes))
    assert refused.value.key == "R10.too_large" and str(video.max_bytes) in refused.value.message_en


def _with_video(sha256: str | None) -> tuple:
    app = example_application(NOW)
    if sha256 is not None:
        app.extra_materials.append(ExtraMaterial(name="承诺视频", sha256=sha256))
    return app, {s: StoredMaterial(sha256=s, media_type="image/png", bytes=len(c)) for s, c in example_materials().items()}


def test_a_province_asking_for_a_promise_video_gets_an_mp4_in_that_slot_and_nowhere_else() -> None:
    app, stored = _with_video(None)
    assert [(v.key, v.field) for v in r10_violations(app, VIDEO_LIST)] == [("R10.extra_material_missing", "extra_materials")]

    video = "a" * 64
    app, stored = _with_video(video)
    stored[video] = StoredMaterial(sha256=video, media_type="video/mp4", bytes=2_000_000)
    assert r10_violations(app, VIDEO_LIST, stored) == []

    stored[video] = StoredMaterial(sha256=video, media_type="application/pdf", bytes=2_000)  # a scan as the video
    assert [(v.key, v.field) for v in r10_violations(app, VIDEO_LIST, stored)] == [
        ("R10.unsupported_media_type", f"extra_materials[{len(app.extra_materials) - 1}].sha256")]
    assert "MP4" in r10_violations(app, VIDEO_LIST, stored)[0].message_zh

    scan = app.subject_principal.identity_document.scan or app.materials()[0][1]
    stored[video] = StoredMaterial(sha256=video, media_type="video/mp4", bytes=2_000_000)
    stored[scan] = StoredMaterial(sha256=scan, media_type="video/mp4", bytes=2_000_000)  # a video as a scan
    assert {v.key for v in r10_violations(app, VIDEO_LIST, stored)} == {"R10.unsupported_media_type"}


async def test_an_uploaded_video_in_the_store_satisfies_the_province(tmp_path: Path) -> None:
    store = FileMaterialStore(tmp_path, TEST_KEYS.payload)
    owner = MaterialOwner.imported("tests")
    for content in example_materials().values():
        await store.put(content, owner)
    stored = await store.put(mp4(), owner)
    assert stored.media_type == "video/mp4"
    app = example_application(NOW)
    app.extra_materials.append(ExtraMaterial(name="承诺视频", sha256=stored.sha256))
    assert await material_violations(app, store, province_lists=VIDEO_LIST) == []
