"""Uploads are what they claim (R10): images decoded and re-encoded, PDFs parsed and refused
with active content (`filing.material_content`, through `filing.materials.prepare_material`).

The hostile files are the ones a reviewer's browser would run: a "PDF" that is an HTML
page, a PDF that runs JavaScript on opening, one carrying an HTML file, a photo carrying
its GPS position. PDFs are made with pypdf or by hand, images with Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.actions import JavaScript

from filing.examples import example_jpeg, example_pdf, example_png
from filing.material_content import MAX_IMAGE_PIXELS
from filing.materials import material_sha256, prepare_material
from filing.ports import MaterialRejected


def pdf(build: Callable[[PdfWriter], object] | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    if build is not None:
        build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_catalog(extra: bytes) -> bytes:
    """The example PDF with `extra` in its catalog (offsets shift: pypdf recovers, as viewers do)."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    return example_pdf("a letter").replace(catalog, catalog[:-2] + extra + b" >>")


def refused(content: bytes) -> MaterialRejected:
    with pytest.raises(MaterialRejected) as caught:
        prepare_material(content)
    return caught.value


# --- PDFs --------------------------------------------------------------------------------


def test_an_html_page_starting_with_the_pdf_signature_is_refused() -> None:
    err = refused(b"%PDF-<html><script>fetch('/v1/filings').then(r => r.text()).then(alert)</script></html>")
    assert err.key == "R10.unreadable_material"
    assert "PDF" in err.message_en and "PDF" in err.message_zh


@pytest.mark.parametrize(("content", "what"), [
    (with_catalog(b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>"), "/OpenAction"),
    (pdf(lambda w: w.add_open_action(JavaScript("app.alert(1)"))), "JavaScript"),
    (pdf(lambda w: w.add_attachment("invoice.html", b"<script>alert(1)</script>")), "embedded files"),
    (pdf(lambda w: w.add_uri(0, "https://phish.example/login", [0, 0, 100, 100])), "URI"),
    (with_catalog(b"/OpenAction << /S /Launch /F (calc.exe) >>"), "/OpenAction"),
    (with_catalog(b"/AA << /WC << /S /JavaScript /JS (1) >> >>"), "/AA"),
    (with_catalog(b"/AcroForm << /Fields [] /XFA (x) >>"), "XFA"),
])
def test_a_pdf_with_active_content_is_refused(content: bytes, what: str) -> None:
    err = refused(content)
    assert err.key == "R10.active_content"
    assert what in err.message_en and "PDF" in err.message_zh


def test_plain_pdfs_are_stored_as_they_are() -> None:
    for content in (example_pdf("a letter"), pdf(), with_catalog(b"/OpenAction [3 0 R /Fit]")):
        prepared = prepare_material(content)  # a destination to open at is no action
        assert prepared.content == content
        assert prepared.material.sha256 == material_sha256(content)
        assert prepared.material.media_type == "application/pdf"


def test_a_pdf_without_pages_or_with_a_password_is_refused() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    assert "encrypted" in refused(out.getvalue()).message_en
    empty = io.BytesIO()
    PdfWriter().write(empty)
    assert refused(empty.getvalue()).key == "R10.unreadable_material"


# --- images --------------------------------------------------------------------------------


def test_a_png_with_an_html_page_after_its_end_is_kept_as_the_picture_only() -> None:
    scan = example_png((200, 225, 250))
    upload = scan + b"<html><script>alert(document.cookie)</script></html>"
    prepared = prepare_material(upload)
    assert prepared.content == scan  # re-encoded: the same picture, no trailing bytes
    assert prepared.material.sha256 == material_sha256(scan) != material_sha256(upload)
    assert prepared.material.bytes == len(scan)


def test_a_photo_loses_its_metadata_and_keeps_its_orientation() -> None:
    photo = Image.new("RGB", (60, 20), (180, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display (a phone held upright)
    exif[0x8825] = {2: (39.0, 54.0, 0.0)}  # GPS latitude
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    photo.save(out, format="JPEG", exif=exif, comment=b"<script>alert(1)</script>")
    prepared = prepare_material(out.getvalue() + b"<html>")
    assert b"PhoneMaker" not in prepared.content and b"<script" not in prepared.content
    assert b"<html>" not in prepared.content
    with Image.open(io.BytesIO(prepared.content)) as kept:
        assert kept.format == "JPEG" and kept.size == (20, 60) and not kept.getexif()
    assert prepare_material(prepared.content).content == prepared.content  # stored once, stays so


def test_the_examples_are_stored_as_they_are() -> None:
    for content in (example_png((1, 2, 3)), example_jpeg((90, 120, 150))):
        assert prepare_material(content).content == content


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
    b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>",
    example_png((1, 2, 3))[:60],  # cut short
])
def test_an_image_that_does_not_decode_is_refused(content: bytes) -> None:
    err = refused(content)
    assert err.key == "R10.unreadable_material"


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, MAX_IMAGE_PIXELS // 10_000 + 1)).save(out, format="PNG")
    assert len(out.getvalue()) < 100_000  # small on disk, enormous in memory
    err = refused(out.getvalue())
    assert err.key == "R10.image_too_large" and "megapixels" in err.message_en
