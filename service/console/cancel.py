"""Cancellations from the console (注销主体 / 注销小程序 / 取消接入, issue 19): the form, a
confirmation page that says what will happen, then the request.

1. `GET /filings/{appid}/cancel?kind=…`: the kind, WeChat's reason type and the reason.
2. `POST` with `step=check`: the input checked here (each field named with its rule and
   what would be valid), then the confirmation page: the filing on record, who gets the
   12381 SMS (the verifiers on record, masked: `GET /v1/filings/{appid}/on-record`), that a
   cancellation cannot be withdrawn and how it stops (the SMS left unanswered).
3. `POST` with `step=send`: `POST /v1/cancellations` with the confirmation form's own
   Idempotency-Key (a double click starts one cancellation), then the filing's page, which
   shows the request's progress. `step=edit` goes back to the form with the input kept.

Nothing is started before step 3; a refusal there shows the form again, the input kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from filing.messages import Stage
from filing.models import CancelReasonType, FilingKind
from service.console import forms, labels
from service.console.api import Answer, Api
from service.console.forms import text
from service.console.refusals import problem_page
from service.console.settle import settled
from service.console.why import explain
from service.principal import Principal, Role
from service.schemas import OnRecord

#: The three cancellations, in the order the form offers them.
KINDS = (FilingKind.CANCEL_MINI_PROGRAM, FilingKind.CANCEL_SUBJECT, FilingKind.CANCEL_ACCESS)
#: What each one does, said on the form and the confirmation page.
WHAT = {
    FilingKind.CANCEL_MINI_PROGRAM: "注销该小程序的备案：备案号随之注销，不再使用；主体及其其他小程序的备案不受影响。",
    FilingKind.CANCEL_SUBJECT: "注销主体：主体备案号及其下全部小程序的备案一并注销；该主体以后再备案时将获得新的主体备案号。",
    FilingKind.CANCEL_ACCESS: "取消接入：本平台不再为该小程序提供接入服务，备案号保留（备案查询显示“限制接入”）。",
}
#: Who gets the 12381 SMS, by kind (the person; their masked mobile comes from the registry).
SMS_TO = {
    FilingKind.CANCEL_MINI_PROGRAM: "小程序负责人",
    FilingKind.CANCEL_SUBJECT: "主体负责人",
}
REASON_MAX = 500


async def on_record_rows(api: Api, appids: list[str]) -> list[OnRecord]:
    """The applicant's mini-programs the registry holds (the rows of 我的备案's 备案库 list)."""
    answers = await asyncio.gather(*(api.get(f"/v1/filings/{appid}/on-record") for appid in appids))
    return [OnRecord.model_validate(a.body) for a in answers if a.ok]


def _kind(given: str) -> FilingKind | None:
    return next((k for k in KINDS if k.value == given), None)


def _reason_type(given: str) -> CancelReasonType | None:
    return next((t for t in CancelReasonType if t.value == given), None)


async def _on_record(api: Api, appid: str) -> OnRecord | Answer:
    answer = await api.get(f"/v1/filings/{appid}/on-record")
    return OnRecord.model_validate(answer.body) if answer.ok else answer


def _page(request: Request, principal: Principal, template: str, record: OnRecord, *, status: int = 200,
          **context: Any) -> Response:
    return forms.pages_of(request).render(
        request, template, status=status, principal=principal, record=record, kinds=KINDS, what=WHAT, sms_to=SMS_TO,
        kind_words=labels.KINDS, reasons=labels.CANCEL_REASONS, reason_max=REASON_MAX, **context)


def _form_page(request: Request, principal: Principal, record: OnRecord, form: dict[str, str], *, status: int = 200,
               errors: dict[str, str] | None = None, problem: str | None = None) -> Response:
    errors = errors or {}
    focus = next((name for name in ("kind", "reason_type", "reason") if name in errors), None)
    return _page(request, principal, "cancel.html", record, status=status, form=form, errors=errors, problem=problem,
                 focus=focus)


async def cancel_form(request: Request, principal: Principal, appid: str) -> Response:
    if principal.role is not Role.APPLICANT:
        return problem_page(request, principal, Answer(403, {"detail": "注销申请由小程序的申请人提交"}), appid)
    record = await _on_record(Api(request), appid)
    if isinstance(record, Answer):
        return problem_page(request, principal, record, appid)
    kind = _kind(request.query_params.get("kind", ""))
    return _form_page(request, principal, record, {"kind": kind.value if kind else ""})


def _checked(form: FormData) -> tuple[dict[str, str], dict[str, str]]:
    """The input, and what is wrong with it: each field named, with its rule and what is valid."""
    given = {name: text(form, name).strip() for name in ("kind", "reason_type", "reason")}
    errors: dict[str, str] = {}
    if _kind(given["kind"]) is None:
        errors["kind"] = "注销类型：必选其一（注销小程序、注销主体或取消接入）"
    if _reason_type(given["reason_type"]) is None:
        errors["reason_type"] = "注销原因类型：必选其一（" + "、".join(labels.CANCEL_REASONS.values()) + "）"
    if not given["reason"]:
        errors["reason"] = f"注销原因：必填，1 至 {REASON_MAX} 个字，写明为何注销"
    elif len(given["reason"]) > REASON_MAX:
        errors["reason"] = f"注销原因：至多 {REASON_MAX} 个字（现为 {len(given['reason'])} 个字）"
    return given, errors


async def cancel(request: Request, principal: Principal, appid: str) -> Response:
    form = await forms.checked_form(request)
    if principal.role is not Role.APPLICANT:
        return problem_page(request, principal, Answer(403, {"detail": "注销申请由小程序的申请人提交"}), appid)
    api = Api(request)
    record = await _on_record(api, appid)
    if isinstance(record, Answer):
        return problem_page(request, principal, record, appid)
    given, errors = _checked(form)
    step = text(form, "step")
    if errors:
        return _form_page(request, principal, record, given, status=422, errors=errors, problem="未提交：请更正标出的内容")
    if step == "edit":
        return _form_page(request, principal, record, given)
    kind = FilingKind(given["kind"])
    if step != "send":
        return _page(request, principal, "cancel_confirm.html", record, form=given, kind=kind, key=None,
                     number=_number(record, kind), problem=None)
    body = {"kind": kind.value, "appid": appid, "filing_number": _number(record, kind),
            "reason_type": given["reason_type"], "reason": given["reason"]}
    answer = await api.post("/v1/cancellations", body, text(form, "idem"))
    if answer.ok:
        # The engine checks the request first (SUBMITTED): the page after the redirect shows where it went.
        status = await settled(api, appid, lambda s: s.kind is kind and s.stage is not Stage.SUBMITTED)
        where = labels.stage(status.stage, status.kind) if status is not None and status.kind is kind else "已提交"
        sms = "，核验短信已发往" + SMS_TO[kind] if kind in SMS_TO else ""
        return forms.pages_of(request).redirect(
            request, f"/filings/{appid}", flash=f"已提交{labels.kind(kind)}申请{sms}；当前阶段：{where}")
    return _refused(request, principal, record, given, kind, answer, form)


def _number(record: OnRecord, kind: FilingKind) -> str:
    """The number a cancellation names: the subject number for 注销主体, else the mini-program's."""
    return record.subject_number if kind is FilingKind.CANCEL_SUBJECT else record.service_number


def _refused(request: Request, principal: Principal, record: OnRecord, given: dict[str, str], kind: FilingKind,
             answer: Answer, form: FormData) -> Response:
    """The API said no: on an outage the confirmation again (its key kept: sending again cannot
    start twice); otherwise the form, the input kept and why at the fields."""
    if answer.status >= 500:
        return _page(request, principal, "cancel_confirm.html", record, status=answer.status, form=given, kind=kind,
                     key=forms.idempotency_key(form, answer.status), number=_number(record, kind),
                     problem=f"暂时无法提交（{answer.detail}），没有做任何更改，请稍后再次确认")
    errors: dict[str, str] = {}
    general: list[str] = []
    for error in answer.errors:
        name = error.get("field", "").removeprefix("body.").removeprefix("cancellation.")
        said = error.get("message_zh") or explain(error.get("message_en", ""))
        if name in ("kind", "reason_type", "reason"):
            errors.setdefault(name, said)
        else:
            general.append(f"{labels.field_label(name)}：{said}" if name else said)
    if answer.status == 409:
        stage = answer.problem("stage")
        general.append(f"该小程序已有办理中的备案（{labels.stage(stage)}），办结后才能申请注销" if stage
                       else explain(answer.why or answer.detail))
    elif not errors and not general:
        general.append(explain(answer.why or answer.detail))
    return _form_page(request, principal, record, given, status=answer.status, errors=errors,
                      problem="未提交：" + "；".join(general) if general else "未提交：请更正标出的内容")
