"""The applicant's submission page: an application file (as `filings example` writes it, its
materials uploaded) sent to `POST /v1/filings`. Every violation comes back named by its
field's label, with the text kept for correcting in place."""

from __future__ import annotations

import json
import uuid

from fastapi import Request
from fastapi.responses import Response

from service.console import fields, forms
from service.console.api import Api
from service.console.forms import text, upload
from service.console.refusals import words as refusal_words
from service.json_limits import UnsafeJson, check_json
from service.principal import Principal

MAX_FILE_BYTES = 64 * 1024  # an application is at most 64 KiB (the API answers the exact rule)


def submit_page(request: Request, principal: Principal, *, status: int = 200, document: str = "",
                problem: str | None = None, violations: list[dict[str, str]] | None = None, key: str | None = None,
                error: str | None = None) -> Response:
    return forms.pages_of(request).render(
        request, "submit.html", status=status, principal=principal, document=document, problem=problem,
        violations=violations or [], key=key or str(uuid.uuid4()), error=error, label=fields.label)


async def submit(request: Request, principal: Principal) -> Response:
    form = await forms.checked_form(request)
    file = upload(form, "file")
    content = await file.read(MAX_FILE_BYTES + 1) if file else text(form, "application").encode()
    if len(content) > MAX_FILE_BYTES:
        return submit_page(request, principal, status=413, key=text(form, "idem"),
                           error=f"申请内容过大：一份申请至多 {MAX_FILE_BYTES // 1024} KiB")
    document = content.decode("utf-8", "replace")
    if not document.strip():
        return submit_page(request, principal, status=422, error="请粘贴申请内容，或选择申请文件")
    try:
        body = check_json(document)  # the API's own limits: finite numbers, nesting bounded
    except json.JSONDecodeError as err:
        return submit_page(request, principal, status=422, document=document, key=text(form, "idem"),
                           error=f"不是有效的 JSON：第 {err.lineno} 行第 {err.colno} 列附近（{err.msg}）")
    except UnsafeJson as err:
        return submit_page(request, principal, status=422, document=document, key=text(form, "idem"),
                           error="申请中有不能接受的 JSON 内容，未提交",
                           violations=[v.model_dump() for v in err.refusals])
    except ValueError:
        return submit_page(request, principal, status=422, document=document, key=text(form, "idem"),
                           error="不是有效的 JSON（数字过长或内容无法解析）")
    answer = await Api(request).post("/v1/filings", body, text(form, "idem"))
    if answer.ok:
        appid = str(answer.body["filing_id"]).removeprefix("filing-")
        flash = "已提交备案申请，等待平台初审" if answer.status == 201 else "该申请已在办理中"
        return forms.pages_of(request).redirect(request, f"/filings/{appid}", flash=flash)
    if answer.status == 409 and answer.problem("stage"):
        problem = f"该小程序已有一件备案在办理中（阶段：{answer.problem('stage')}），不能再次提交"
    elif answer.status == 422:
        problem = f"申请有 {len(answer.errors)} 处不符合要求，未提交"
    elif answer.status == 409:
        problem = f"未提交：{refusal_words(answer)}"
    else:
        problem = f"未提交：{refusal_words(answer)}"
    return submit_page(request, principal, status=answer.status, document=document, problem=problem,
                       violations=answer.errors, key=forms.idempotency_key(form, answer.status))
