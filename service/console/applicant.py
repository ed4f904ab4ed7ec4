"""The applicant's page: where the filing stands, the reasons of a return next to the fields
they name, and the applicant's acts — resend a code, resubmit (editing the returned
fields), withdraw — each sent to the API's route of that name.

A resubmission starts from the application the filing holds (read through the API) with
the edited fields set by path: the API checks it by every rule, and its violations come
back next to the fields they name, with what the applicant typed kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from filing.masking import mask_mobile
from filing.messages import WITHDRAWABLE, Reason, Stage
from filing.models import Application
from service.console import fields, forms, labels
from service.console.api import Answer, Api
from service.console.filing_view import FilingView, load
from service.console.forms import text
from service.console.refusals import problem_page
from service.console.refusals import words as refusal_words
from service.console.settle import settled
from service.principal import Principal

EDIT_PREFIX = "f:"


@dataclass(frozen=True)
class Verifier:
    """A verifier as the applicant sees them: the clear mobile is theirs to know."""

    mobile: str
    masked: str
    verified: bool
    attempts_left: int
    resends_left: int


def verifiers(view: FilingView) -> list[Verifier]:
    application = view.read.application if view.read else None
    sms = view.status.sms
    if application is None or sms is None:
        return []
    by_mask = {v.mobile: v for v in sms.verifiers}
    found = []
    for person in application.verifiers():
        state = by_mask.get(mask_mobile(person.mobile))
        if state is not None:
            found.append(Verifier(person.mobile, state.mobile, state.verified, state.attempts_left, state.resends_left))
    return found


def reasons_by_field(view: FilingView) -> tuple[dict[str, list[Reason]], list[Reason]]:
    """The return's reasons at each field they name, and those naming no field shown here."""
    returned = view.status.returned
    if returned is None:
        return {}, []
    at: dict[str, list[Reason]] = {}
    general: list[Reason] = []
    for reason in returned.reasons:
        named = [leaf.path for leaf in view.leaves if fields.names(leaf.path, reason.field)]
        for path in named:
            at.setdefault(path, []).append(reason)
        if not named:
            general.append(reason)
    return at, general


def applicant_page(request: Request, principal: Principal, view: FilingView, *, status: int = 200,
                   form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                   problem: str | None = None, focus: str | None = None, keys: dict[str, str] | None = None) -> Response:
    at, general = reasons_by_field(view)
    returned = view.status.stage is Stage.RETURNED and view.read is not None and view.read.application is not None
    editable = {path for path in at} | {name.removeprefix(EDIT_PREFIX) for name in (errors or {})
                                         if name.startswith(EDIT_PREFIX)}
    editable = {leaf.path for leaf in view.leaves if leaf.editable and leaf.path in editable} if returned else set()
    return forms.pages_of(request).render(
        request, "applicant.html", status=status, principal=principal, view=view, status_=view.status,
        reasons_at=at, general_reasons=general, editable=editable, returned=returned,
        verifiers=verifiers(view) if view.status.stage is Stage.SMS_VERIFICATION else [],
        withdrawable=view.status.stage in WITHDRAWABLE and not view.status.kind.is_cancellation and not view.moving_on,
        form=form or {}, errors=errors or {}, problem=problem, focus=focus, keys=keys or {},
        edit_prefix=EDIT_PREFIX,
    )


async def _again(request: Request, principal: Principal, api: Api, appid: str, form: FormData, answer: Answer,
                 act: str, errors: dict[str, str] | None = None, focus: str | None = None) -> Response:
    view = await load(api, principal, appid)
    if isinstance(view, Answer):
        return problem_page(request, principal, view, appid)
    if answer.status == 422 and not errors:
        problem = "未提交：" + "；".join(e.get("message_zh") or e.get("message_en", "") for e in answer.errors)
    elif answer.status == 422:
        problem = "未提交：请更正标出的内容"
    elif answer.status == 409:
        problem = f"未生效：{refusal_words(answer)}"
    elif answer.status >= 500:
        problem = f"暂时无法完成（{refusal_words(answer)}），内容已保留，请稍后再试"
    else:
        problem = f"未完成：{refusal_words(answer)}"
    return applicant_page(request, principal, view, status=answer.status, form=forms.kept(form), errors=errors,
                          problem=problem, focus=focus, keys={act: forms.idempotency_key(form, answer.status)})


async def resubmit(request: Request, principal: Principal, appid: str) -> Response:
    form = await forms.checked_form(request)
    api = Api(request)
    current = await api.get(f"/v1/filings/{appid}/application")
    application = current.body.get("application") if current.ok and isinstance(current.body, dict) else None
    if application is None:
        return problem_page(request, principal, current if not current.ok else Answer(409, {"detail": "没有可重新提交的申请"}),
                            appid)
    leaves = {leaf.path: leaf for leaf in fields.all_leaves(Application.model_validate(application))}
    for name, value in form.multi_items():
        leaf = leaves.get(name.removeprefix(EDIT_PREFIX)) if name.startswith(EDIT_PREFIX) else None
        if leaf is not None and leaf.editable and isinstance(value, str):
            fields.set_path(application, leaf.path, fields.typed(leaf, value))
    answer = await api.post(f"/v1/filings/{appid}/resubmit", {"application": application}, text(form, "idem"))
    if answer.ok:
        attempt = answer.body["attempt"]
        # The engine checks the new attempt first (SUBMITTED): the page after the redirect shows where it went.
        status = await settled(api, appid, lambda s: s.attempt == attempt and s.stage not in (Stage.RETURNED, Stage.SUBMITTED))
        where = labels.stage(status.stage, status.kind) if status is not None and status.attempt == attempt else "已提交"
        return forms.pages_of(request).redirect(
            request, f"/filings/{appid}", flash=f"已重新提交：第 {attempt} 次提交，当前阶段：{where}")
    errors: dict[str, str] = {}
    for error in answer.errors:
        path = error.get("field", "").removeprefix("application.")
        if path in leaves:
            errors.setdefault(EDIT_PREFIX + path, error.get("message_zh") or error.get("message_en", ""))
    order = [EDIT_PREFIX + path for path in leaves]
    focus = next((name for name in order if name in errors), None)
    return await _again(request, principal, api, appid, form, answer, "resubmit", errors, focus)


async def resend(request: Request, principal: Principal, appid: str) -> Response:
    form = await forms.checked_form(request)
    api = Api(request)
    mobile = text(form, "mobile")
    answer = await api.post(f"/v1/filings/{appid}/sms/resend", {"mobile": mobile}, text(form, "idem"))
    if answer.ok and answer.body.get("sent"):
        return forms.pages_of(request).redirect(
            request, f"/filings/{appid}",
            flash=f"新验证码即将发送至 {mask_mobile(mobile)}，原验证码已失效（剩余重发次数 {answer.body['resends_left']}）")
    if answer.ok:  # answered, but nothing sent (a race with another entry)
        answer = Answer(409, {"why": answer.body.get("reason") or "", "detail": "未发送"})
    return await _again(request, principal, api, appid, form, answer, "resend")


async def withdraw(request: Request, principal: Principal, appid: str) -> Response:
    form = await forms.checked_form(request)
    api = Api(request)
    answer = await api.post(f"/v1/filings/{appid}/withdraw", {"reason": text(form, "reason").strip()},
                            text(form, "idem"))
    if answer.ok:
        return forms.pages_of(request).redirect(request, f"/filings/{appid}", flash="已撤回该备案申请")
    said = [e.get("message_zh") or e.get("message_en", "") for e in answer.errors if e.get("field", "").endswith("reason")]
    errors = {"reason": said[0]} if said else {}
    return await _again(request, principal, api, appid, form, answer, "withdraw", errors,
                        "reason" if errors else None)
