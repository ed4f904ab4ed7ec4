"""Material images on a filing's page, read through `GET /v1/materials/{sha256}?appid=` (each
read audited there). `?preview=1` answers an image as it is and a PDF as a small tile
saying so: the page links every material to the file itself — an image the browser shows,
a PDF it downloads for a reader to open. Every answer carries the API's material headers
(`material_headers`: disposition by use, nosniff, `Content-Security-Policy: sandbox`)."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

from service.console.api import Api
from service.principal import APPID, Principal
from service.routes.materials import SANDBOX, material_headers

SHA256 = re.compile(r"^[0-9a-f]{64}$")
PDF_TILE = """<svg xmlns="http://www.w3.org/2000/svg" width="172" height="108" viewBox="0 0 172 108">
<rect x="1" y="1" width="170" height="106" rx="6" fill="#fff7f0" stroke="#c0561e" stroke-width="2"/>
<text x="86" y="50" font-size="26" text-anchor="middle" fill="#c0561e" font-family="sans-serif">PDF</text>
<text x="86" y="80" font-size="13" text-anchor="middle" fill="#555" font-family="sans-serif">点击打开</text></svg>"""


async def material(request: Request, principal: Principal, appid: str, sha256: str) -> Response:
    if not APPID.match(appid) or not SHA256.match(sha256):
        return Response("no such material", status_code=404, media_type="text/plain")
    answer = await Api(request).fetch(f"/v1/materials/{sha256}", {"appid": appid})
    if answer.status_code != 200:
        return Response(f"material unavailable ({answer.status_code})", status_code=answer.status_code,
                        media_type="text/plain", headers={"Cache-Control": "no-store"})
    media_type = answer.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    if request.query_params.get("preview") == "1" and media_type == "application/pdf":
        return Response(PDF_TILE, media_type="image/svg+xml", headers={
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": SANDBOX, "Content-Disposition": "inline"})
    return Response(answer.content, media_type=media_type, headers=material_headers(sha256, media_type))
