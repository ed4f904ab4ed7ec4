"""What a material's content really is (R10): images decoded and re-encoded, PDFs parsed and
refused when they carry active content.

The first bytes only say what a file claims to be; `%PDF-<html><script>…` claims PDF and a
PNG with an HTML page after its end claims PNG. A reviewer's browser opens what the store
serves, so the store keeps only content that is what it claims:

- an image (JPEG, PNG) is decoded with Pillow and encoded again from its pixels, so the
  stored bytes are a plain image and nothing else: trailing data, metadata (EXIF with its
  GPS position, text chunks, ICC profiles) and anything a decoder ignores are dropped. The
  EXIF orientation is applied to the pixels first, so a phone's photo stays upright. The
  stored bytes differ from the uploaded ones, and so does their SHA-256: the uploader is
  answered the stored material's name. Encoding is deterministic: a file this module made
  comes out unchanged (`encode_image`, which the examples use too);
- a PDF is parsed with pypdf and refused when it is unreadable, encrypted, has no page, or
  carries JavaScript, actions other than in-document navigation (GoTo), automatic actions
  (`/OpenAction` other than a destination, `/AA`), embedded files, forms' XFA or rich
  media; it is stored as uploaded.

Pure: bytes in, bytes out, no file or network I/O. `MaterialRejected` carries the R10 key.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from filing.ports import MaterialRejected, MediaType

#: An ID scan or a phone's photo is far smaller; a larger picture is a decompression bomb.
MAX_IMAGE_PIXELS = 50_000_000
#: JPEG quality of the re-encoded photo: a scan stays legible, the file stays small.
JPEG_QUALITY = 90
#: PDF objects inspected at most: a 5 MiB document of a few pages has far fewer.
MAX_PDF_NODES = 500_000

#: Action types (PDF 2.0 §12.6.4) other than GoTo, which only moves within the document.
_ACTIONS = frozenset({
    "/GoToR", "/GoToE", "/GoToDp", "/Launch", "/Thread", "/URI", "/Sound", "/Movie", "/Hide", "/Named",
    "/SubmitForm", "/ResetForm", "/ImportData", "/SetOCGState", "/Rendition", "/Trans", "/GoTo3DView",
    "/JavaScript", "/RichMediaExecute",
})
#: Keys whose presence alone is active content: scripts, automatic actions, files, forms' XFA.
_ACTIVE_KEYS = {
    "/JS": "JavaScript", "/JavaScript": "JavaScript", "/AA": "automatic actions (/AA)",
    "/EmbeddedFiles": "embedded files", "/EF": "embedded files", "/XFA": "an XFA form",
    "/RichMediaContent": "rich media",
}
#: Values of /Type or /Subtype that are active content.
_ACTIVE_TYPES = {
    "/EmbeddedFile": "embedded files", "/FileAttachment": "embedded files", "/RichMedia": "rich media",
    "/Movie": "a movie", "/Sound": "a sound", "/Screen": "a screen annotation", "/3D": "3D content",
}


def _unreadable(what: str, why: str) -> MaterialRejected:
    return MaterialRejected(
        "R10.unreadable_material",
        f"文件开头标明是{what}，但内容无法按{what}读取（{why}）：请上传证件的原始扫描件或照片",
        f"the file starts like {what} but its content does not read as {what} ({why}): "
        "upload the original scan or photo",
    )


def _too_many_pixels(width: int, height: int) -> MaterialRejected:
    limit = f"{MAX_IMAGE_PIXELS // 1_000_000}"
    return MaterialRejected(
        "R10.image_too_large",
        f"图片为{width}×{height}像素，超过上限{limit}百万像素：请降低分辨率后重新上传",
        f"the image is {width}×{height} pixels, over the limit of {limit} megapixels: "
        "lower its resolution and upload it again",
    )


def _active(found: str) -> MaterialRejected:
    return MaterialRejected(
        "R10.active_content",
        f"PDF 含有可执行或嵌入的内容（{found}），不予接收：请打印为普通 PDF 或上传扫描件",
        f"the PDF carries active content ({found}), which is refused: print it to a plain PDF or upload a scan",
    )


# --- images ------------------------------------------------------------------------------


def encode_image(image: Any, media_type: MediaType) -> bytes:
    """The one encoder of stored images (a `PIL.Image.Image`): the same pixels give the same bytes."""
    out = io.BytesIO()
    if media_type == "image/jpeg":
        image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    else:
        image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def reencode_image(content: bytes, media_type: MediaType) -> bytes:
    """The image decoded and encoded again from its pixels, in its own format; raises `MaterialRejected`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    what = "JPEG" if media_type == "image/jpeg" else "PNG"
    try:
        image = Image.open(io.BytesIO(content), formats=[what])
        width, height = image.size  # from the header: judged before a pixel is decoded
        if width * height > MAX_IMAGE_PIXELS:  # below Pillow's own bomb warning, so that never fires
            raise _too_many_pixels(width, height)
        image.load()
        image = ImageOps.exif_transpose(image)
    except MaterialRejected:
        raise
    except UnidentifiedImageError:
        raise _unreadable(what, "not an image of this format") from None
    except Exception as err:  # noqa: BLE001 — hostile input: whatever a decoder raises is a refusal, never a 500
        raise _unreadable(what, type(err).__name__) from None
    return encode_image(_plain_mode(image, media_type), media_type)


def _plain_mode(image: Any, media_type: MediaType) -> Any:
    """The pixels alone, in a mode the format stores plainly (greyscale or RGB, with alpha for
    PNG): the decoder's `info` (EXIF, ICC profile, comments, text chunks) is not carried over,
    since Pillow's encoders write some of it back by default."""
    if media_type == "image/jpeg":
        plain = image if image.mode in ("L", "RGB") else image.convert("RGB")
    elif "transparency" in image.info:
        plain = image.convert("RGBA")
    elif image.mode in ("1", "L", "LA", "RGB", "RGBA", "I;16"):
        plain = image
    else:
        plain = image.convert("RGBA" if image.mode in ("PA", "La") else "RGB")
    plain = plain.copy() if plain is image else plain
    plain.info = {}
    return plain


# --- PDFs --------------------------------------------------------------------------------


def check_pdf(content: bytes) -> None:
    """Raises `MaterialRejected` unless `content` parses as a PDF with pages and no active content."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise _unreadable("PDF", "it is encrypted: save it without a password")
        if len(reader.pages) == 0:
            raise _unreadable("PDF", "it has no page")
        found = _first_active(reader.trailer)
    except MaterialRejected:
        raise
    except Exception as err:  # noqa: BLE001 — hostile input: whatever the parser raises is a refusal, never a 500
        raise _unreadable("PDF", type(err).__name__) from None
    if found is not None:
        raise _active(found)


def _first_active(trailer: Any) -> str | None:
    """What active content the document carries (walking every object from the trailer), or None."""
    for node in _nodes(trailer):
        for key, what in _ACTIVE_KEYS.items():
            if key in node:
                return what
        for field in ("/Type", "/Subtype"):
            what = _ACTIVE_TYPES.get(str(node.get(field, "")))
            if what is not None:
                return what
        action = str(node.get("/S", ""))
        if action in _ACTIONS:
            return "JavaScript" if action == "/JavaScript" else f"an action ({action[1:]})"
        opening = node.get("/OpenAction")
        if opening is not None and not _is_destination_or_goto(opening):
            return "an action run on opening (/OpenAction)"
    return None


def _is_destination_or_goto(value: Any) -> bool:
    from pypdf.generic import ArrayObject, DictionaryObject

    resolved = value.get_object() if hasattr(value, "get_object") else value
    if isinstance(resolved, ArrayObject):
        return True  # a destination: which page to show first
    return isinstance(resolved, DictionaryObject) and str(resolved.get("/S", "")) == "/GoTo"


def _nodes(root: Any) -> Iterator[Any]:
    """Every dictionary reachable from `root` (streams' dictionaries too), each object once."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [root]
    visited = 0
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            ref = (item.idnum, item.generation)
            if ref in seen:
                continue
            seen.add(ref)
            item = item.get_object()
        visited += 1
        if visited > MAX_PDF_NODES:
            raise ValueError(f"more than {MAX_PDF_NODES} objects")
        if isinstance(item, DictionaryObject):
            yield item
            stack.extend(item.raw_get(key) for key in item)
        elif isinstance(item, ArrayObject):
            stack.extend(item)



# --- MP4 (承诺视频) ----------------------------------------------------------------------

#: Top-level boxes walked at most: a real MP4 has a handful.
MAX_MP4_BOXES = 10_000


def check_mp4(content: bytes) -> None:
    """Raises `MaterialRejected` unless `content` is an ISO base media file (MP4) by its structure:
    top-level boxes from `ftyp` to the end, each with a sane size and a printable type, and the
    movie (`moov`) and its media (`mdat`) present. Stored as uploaded: the console offers a video
    as a download, never plays it in the service's origin."""
    seen: list[bytes] = []
    at = 0
    while at < len(content):
        if len(seen) >= MAX_MP4_BOXES or len(content) - at < 8:
            raise _unreadable("MP4", "its boxes do not add up to the file")
        size = int.from_bytes(content[at:at + 4], "big")
        kind = content[at + 4:at + 8]
        header = 8
        if size == 1:  # a 64-bit size follows
            if len(content) - at < 16:
                raise _unreadable("MP4", "a box is cut short")
            size, header = int.from_bytes(content[at + 8:at + 16], "big"), 16
        elif size == 0:  # the last box runs to the end of the file
            size = len(content) - at
        if size < header or at + size > len(content) or not all(0x20 <= b < 0x7F for b in kind):
            raise _unreadable("MP4", "a box is malformed or runs past the end")
        seen.append(kind)
        at += size
    if not seen or seen[0] != b"ftyp":
        raise _unreadable("MP4", "it does not start with an ftyp box")
    if b"moov" not in seen or b"mdat" not in seen:
        raise _unreadable("MP4", "it has no movie (moov) or no media data (mdat)")
