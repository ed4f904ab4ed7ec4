"""备案材料 (R10): uploads, and reads of the materials a filing names (audited).

A material is named by the SHA-256 of its content; reading one goes through a filing the
caller may read (`?appid=`), so a hash alone opens nothing: the reviewer of one province
cannot read another province's scans by guessing or copying a hash. A material belongs to
its uploader (the store records who, `MaterialOwner`): an applicant reads only materials
they (or their mini-program's administrators) stored, answered exactly as an unknown hash
otherwise, so the store is no oracle of what others filed.

Every material is served as what it is and nothing more: images inline (the console shows
them), PDFs as attachments (a reader opens them, not the browser's page), with
`X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`, so even a file
that slipped past the upload's checks runs no script in the service's origin.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import Response

from filing.ports import MaterialRejected, StoredMaterial
from service.access import filing_access, role_in
from service.audit import READ_MATERIAL
from service.context import Services, services
from service.idempotency import Answer, once
from service.outside import material_owner, outside
from service.principal import APPID, Principal, Role
from service.problems import Problem, problem_responses, violation
from service.routes.filings import IdempotencyKey

router = APIRouter(tags=["materials"])
Svc = Annotated[Services, Depends(services)]
SHA256 = re.compile(r"^[0-9a-f]{64}$")
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf", "video/mp4": "mp4"}
#: No script, no plugin, no form, no same-origin: a material is a document to look at.
SANDBOX = "sandbox; default-src 'none'"


def material_headers(sha256: str, media_type: str) -> dict[str, str]:
    """The headers every material is served with (the API's route and the console's alike)."""
    disposition = "inline" if media_type.startswith("image/") else "attachment"  # PDFs and videos: downloads
    return {
        "Content-Disposition": f'{disposition}; filename="{sha256}.{EXTENSIONS.get(media_type, "bin")}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX,
    }


@router.post(
    "/v1/materials", status_code=201, response_model=StoredMaterial, summary="Upload one material (multipart `file`)",
    responses=problem_responses(400, 401, 403, 413, 422, 503),
)
async def upload_material(
    file: Annotated[UploadFile, File(description="JPEG, PNG or PDF (by content), at most 5 MiB.")],
    key: IdempotencyKey, request: Request, svc: Svc,
    principal: Annotated[Principal, Depends(role_in(Role.APPLICANT, Role.OPERATOR))],
) -> Response:
    """Stored encrypted, named by its SHA-256: name it so in the application. An image is
    decoded and encoded again (the answer names the stored bytes, not the uploaded ones); a
    PDF with JavaScript, actions or embedded files is refused. The same content again is the
    same material; the caller is recorded as one of its owners."""
    content = await file.read()

    async def effect() -> Answer:
        try:
            stored = await outside(svc.materials.put(content, material_owner(principal)), "material store")
        except MaterialRejected as err:
            raise Problem(422, f"the file is refused: {err.message_en}", kind="rule-violations", title="Rule violations",
                          errors=[violation("file", err.key, err.message_zh, err.message_en)]) from None
        return 201, stored

    return await once(svc.idempotency, request, principal, key, effect, content=content)


@router.get(
    "/v1/materials/{sha256}", summary="A material named by a filing the caller may read (audited)",
    response_class=Response,
    responses={200: {"description": "The file.", "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                                            for t in EXTENSIONS}},
               **problem_responses(401, 403, 404, 422, 503, 504)},
)
async def read_material(
    sha256: Annotated[str, Path(pattern=SHA256.pattern, description="The material's SHA-256 (lower-case hex).")],
    appid: Annotated[str, Query(pattern=APPID.pattern, description="The filing through which it is read.")],
    svc: Svc,
    principal: Annotated[Principal, Depends(role_in(Role.PLATFORM_REVIEWER, Role.PROVINCE_REVIEWER, Role.APPLICANT))],
) -> Response:
    access = await filing_access(principal, appid, svc)
    view = await svc.temporal.application(appid)
    fields = [f for f, sha in (view.application.materials() if view.application else []) if sha == sha256]
    not_named = Problem(404, f"{access.filing_id} names no material {sha256}", kind="not-found")
    if not fields:
        raise not_named
    if principal.role is Role.APPLICANT and not await outside(
            svc.materials.owned_by(sha256, material_owner(principal)), "material store"):
        raise not_named  # not theirs: answered as a hash their filing does not name
    stat = await outside(svc.materials.stat(sha256), "material store")
    if stat is None:
        raise Problem(404, f"material {sha256} is not in the store", kind="not-found")
    await svc.audit.record(principal, READ_MATERIAL, view.filing_id, appid, [f"application.{f}" for f in fields],
                           material_sha256=sha256)
    svc.metrics.audited_reads.labels(READ_MATERIAL, principal.role.value).inc()
    content = await outside(svc.materials.get(sha256), "material store")
    if content is None:
        raise Problem(404, f"material {sha256} is not in the store", kind="not-found")
    return Response(content, media_type=stat.media_type, headers=material_headers(sha256, stat.media_type))
