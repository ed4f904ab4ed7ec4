"""The verification page (工信部短信核验): a verifier types the mobile, the 12381 code and the
last 6 characters of their identity document — what they have — and gets the answer the
MIIT site gives: verified, or a wrong entry with the attempts left ("验证码或证件号码后6位
有误，您还可以输入 N 次": a wrong code and wrong digits are one and the same wrong entry), or
no valid code, or no filing waiting for this mobile.

The page does not ask for the AppID: the service finds the filing from the mobile's open
verification (`POST /v1/sms/verify`). Only when several filings wait for one mobile does
the page ask which mini-program the code is for, and then sends the entry to
`POST /v1/filings/{appid}/sms/verify`. A wrong entry keeps what was typed except the code,
and puts the cursor back on the code.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from service.console import forms
from service.console.api import Api
from service.console.forms import text
from service.console.refusals import words as refusal_words
from service.principal import APPID, Principal
from service.routes.verification import message_for

FIELDS = ("mobile", "code", "id_last6")
SEVERAL = "several_open_verifications"


def verify_page(request: Request, principal: Principal, *, status: int = 200, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, result: str | None = None, level: str = "error",
                focus: str | None = None, key: str | None = None, ask_appid: bool = False) -> Response:
    form = form if form is not None else {}
    return forms.pages_of(request).render(
        request, "verify.html", status=status, principal=principal, form=form, errors=errors or {}, result=result,
        level=level, focus=focus or next((f for f in FIELDS if not form.get(f)), "code"), key=key or str(uuid.uuid4()),
        ask_appid=ask_appid or bool(form.get("appid")))


async def verify(request: Request, principal: Principal) -> Response:
    form = await forms.checked_form(request)
    entry = {name: text(form, name).strip() for name in (*FIELDS, "appid")}
    kept = {k: v for k, v in entry.items() if k != "code"}
    appid = entry["appid"]
    if appid and not APPID.match(appid):
        return verify_page(request, principal, status=422, form=kept, focus="appid", key=text(form, "idem"),
                           errors={"appid": "请填写小程序 AppID（wx 开头的 18 位）"}, ask_appid=True)
    body = {"mobile": entry["mobile"], "code": entry["code"], "id_last6": entry["id_last6"]}
    path = f"/v1/filings/{appid}/sms/verify" if appid else "/v1/sms/verify"
    answer = await Api(request).post(path, body, text(form, "idem"))
    new_key = forms.idempotency_key(form, answer.status)
    if answer.ok:
        result = answer.body
        message = result.get("message_zh") or message_for(result["result"], result["attempts_left"],
                                                          result["all_verified"])
        if result["result"] == "verified":
            return forms.pages_of(request).redirect(request, "/verify", flash=message)
        if result["result"] == "wrong_code":
            return verify_page(request, principal, form=kept, errors={"code": message}, focus="code", key=new_key)
        return verify_page(request, principal, form=kept, result=message, focus="code", key=new_key)
    errors: dict[str, str] = {}
    for error in answer.errors:
        name = error.get("field", "").rsplit(".", 1)[-1]
        if name in (*FIELDS, "appid"):
            errors[name] = error.get("message_zh") or error.get("message_en", "")
    ask_appid = False
    if answer.status == 422:
        message = "请更正标出的内容"
    elif answer.status == 429:
        message = f"操作过于频繁，请 {answer.headers.get('retry-after', '60')} 秒后再试"
    elif answer.status == 404:
        message = "没有找到该小程序的备案"
        errors.setdefault("appid", message)
    elif answer.status == 409 and answer.why == SEVERAL:
        message = "该手机号有多个备案申请在等待核验，请填写验证码所属小程序的 AppID"
        errors.setdefault("appid", "请填写小程序 AppID（wx 开头的 18 位）")
        ask_appid = True
    elif answer.status == 409:
        message = f"核验未受理：{refusal_words(answer)}"
    else:
        message = f"暂时无法核验（{refusal_words(answer)}），请稍后再试"
    focus = next((f for f in ("appid", *FIELDS) if f in errors), "code")
    return verify_page(request, principal, status=answer.status, form=kept, errors=errors, result=message,
                       focus=focus, key=new_key, ask_appid=ask_appid)
