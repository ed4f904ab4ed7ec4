"""The verification page (工信部短信核验): a verifier types the mobile, the 12381 code and the
last 6 characters of their identity document, and gets the answer the MIIT site gives —
verified, or a wrong code with the attempts left, or no valid code.

The API addresses a filing by its appid, which the MIIT site knows from its own records;
this page asks for it too (prefilled from `?appid=` when a link carries it). A wrong code
keeps what was typed except the code, and puts the cursor back on the code.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from service.console import forms
from service.console.api import Api
from service.console.forms import text
from service.console.why import explain
from service.principal import APPID, Principal

FIELDS = ("appid", "mobile", "code", "id_last6")


def verify_page(request: Request, principal: Principal, *, status: int = 200, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, result: str | None = None, level: str = "error",
                focus: str | None = None, key: str | None = None) -> Response:
    form = form if form is not None else {"appid": request.query_params.get("appid", "")}
    return forms.pages_of(request).render(
        request, "verify.html", status=status, principal=principal, form=form, errors=errors or {}, result=result,
        level=level, focus=focus or next((f for f in FIELDS if not form.get(f)), "code"), key=key or str(uuid.uuid4()))


async def verify(request: Request, principal: Principal) -> Response:
    form = await forms.checked_form(request)
    entry = {name: text(form, name).strip() for name in FIELDS}
    kept = {k: v for k, v in entry.items() if k != "code"}
    if not APPID.match(entry["appid"]):
        return verify_page(request, principal, status=422, form=kept, focus="appid", key=text(form, "idem"),
                           errors={"appid": "请填写小程序 AppID（wx 开头的 18 位）"})
    body = {"mobile": entry["mobile"], "code": entry["code"], "id_last6": entry["id_last6"]}
    answer = await Api(request).post(f"/v1/filings/{entry['appid']}/sms/verify", body, text(form, "idem"))
    new_key = forms.idempotency_key(form, answer.status)
    if answer.ok:
        result = answer.body
        if result["result"] == "verified":
            done = "全部核验人已完成核验，备案已提交通管局审核。" if result["all_verified"] else "还需其他核验人完成核验。"
            return forms.pages_of(request).redirect(request, f"/verify?appid={entry['appid']}", flash=f"短信核验成功。{done}")
        if result["result"] == "wrong_code":
            left = result["attempts_left"]
            message = (f"验证码错误，您还可以输入 {left} 次" if left else
                       "验证码错误次数已达上限，该验证码已失效；如有重发机会，请申请人申请重发")
            return verify_page(request, principal, form=kept, errors={"code": message}, focus="code", key=new_key)
        message = "验证码无效或已过期，请申请重发后使用新验证码"
        return verify_page(request, principal, form=kept, result=message, focus="code", key=new_key)
    errors: dict[str, str] = {}
    for error in answer.errors:
        name = error.get("field", "").rsplit(".", 1)[-1]
        if name in FIELDS:
            errors[name] = error.get("message_zh") or error.get("message_en", "")
    if answer.status == 422:
        message = "请更正标出的内容"
    elif answer.status == 429:
        message = f"操作过于频繁，请 {answer.headers.get('retry-after', '60')} 秒后再试"
    elif answer.status == 404:
        message = "没有找到该小程序的备案"
        errors.setdefault("appid", message)
    elif answer.status == 409:
        message = f"核验未受理：{explain(answer.why or answer.detail)}"
    else:
        message = f"暂时无法核验（{answer.detail}），请稍后再试"
    focus = next((f for f in FIELDS if f in errors), "code")
    return verify_page(request, principal, status=answer.status, form=kept, errors=errors, result=message,
                       focus=focus, key=new_key)
