"""The reviewers' filing page and their decisions (平台初审, 通管局审核).

A decision is posted to the console, which sends it to the API's decision route with the
attempt the page showed and the form's own Idempotency-Key. Applied: POST/redirect/GET
back to the same filing page with a flash. Not applied (L9), refused or invalid: the same
page again, with why, the filing's current state, the reviewer's input kept and the focus
on the first field in error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from filing.messages import Stage
from filing.models import FilingKind
from service.console import forms, labels
from service.console.api import Answer, Api
from service.console.filing_view import DESKS, MOVING_ON, FilingView, load
from service.console.settle import settled
from service.console.forms import text
from service.console.refusals import problem_page
from service.console.refusals import words as refusal_words
from service.console.why import explain
from service.principal import Principal, Role

DEFAULT_ROWS = 3
MAX_ROWS = 50
_REASON_ERROR = re.compile(r"reasons\[(\d+)\]\.(field|error|suggestion)")
#: Whys that are about the number a provincial reviewer typed: shown at that field.
_ABOUT_NUMBER = re.compile(r"filing number|was already issued|does not extend|is a number of|already holds")

DECISION_ROUTES = {Role.PLATFORM_REVIEWER: "platform-decision", Role.PROVINCE_REVIEWER: "province-decision"}


@dataclass
class ReasonRow:
    field: str = ""
    error: str = ""
    suggestion: str = ""

    @property
    def filled(self) -> bool:
        return bool(self.field or self.error or self.suggestion)


def reason_rows(form: FormData) -> list[ReasonRow]:
    try:
        count = max(1, min(MAX_ROWS, int(text(form, "rows", str(DEFAULT_ROWS)))))
    except ValueError:
        count = DEFAULT_ROWS
    return [ReasonRow(text(form, f"field_{i}").strip(), text(form, f"error_{i}").strip(),
                      text(form, f"suggestion_{i}").strip()) for i in range(count)]


def field_options(view: FilingView) -> list[tuple[str, str]]:
    """What a reason may name: every field of the application, or the application as a whole."""
    return [(leaf.path, leaf.label) for leaf in view.leaves] + [("application", "整份申请")]


def review_page(request: Request, principal: Principal, view: FilingView, *, status: int = 200,
                form: dict[str, Any] | None = None, errors: dict[str, str] | None = None, problem: str | None = None,
                focus: str | None = None, rows: list[ReasonRow] | None = None, keys: dict[str, str] | None = None) -> Response:
    pages = forms.pages_of(request)
    prefill = request.query_params.get("reject", "")
    if rows is None:
        rows = [ReasonRow() for _ in range(DEFAULT_ROWS)]
        if prefill and any(leaf.path == prefill for leaf in view.leaves):
            rows[0].field = prefill
            focus = focus or "error_0"
    proposed = view.next_number.number if view.next_number else None
    return pages.render(
        request, "review.html", status=status, principal=principal, view=view, status_=view.status,
        form=form or {}, errors=errors or {}, problem=problem, focus=focus, rows=rows,
        options=field_options(view), proposed=proposed, keys=keys or {},
        decision_route=DECISION_ROUTES.get(principal.role), needs_number=view.status.kind is FilingKind.NEW,
        show_forms=view.at_desk(principal) or bool(form),
    )


async def decide(request: Request, principal: Principal, appid: str, decision: str) -> Response:
    """Approve or reject, as the API's decision route of the reviewer's role."""
    form = await forms.checked_form(request)
    pages = forms.pages_of(request)
    api = Api(request)
    rows = reason_rows(form)
    if decision == "reject" and text(form, "more"):  # "再加三条理由" without JavaScript: nothing is sent
        return await _again(request, principal, api, appid, form, rows=rows + [ReasonRow() for _ in range(3)],
                            focus=f"field_{len(rows)}", keys={"reject": text(form, "idem")})
    route = DECISION_ROUTES.get(principal.role, "platform-decision")  # another role: the API refuses it (403)
    body: dict[str, Any] = {"decision": decision}
    attempt = text(form, "attempt")
    if attempt.isdigit():
        body["attempt"] = int(attempt)
    filled = [i for i, row in enumerate(rows) if row.filled]
    if decision == "reject":
        body["reasons"] = [{"field": rows[i].field, "error": rows[i].error, "suggestion": rows[i].suggestion or None}
                           for i in filled]
    elif principal.role is Role.PROVINCE_REVIEWER and text(form, "filing_number").strip():
        body["filing_number"] = text(form, "filing_number").strip()
    answer = await api.post(f"/v1/filings/{appid}/{route}", body, text(form, "idem"))
    if answer.ok:
        return pages.redirect(request, f"/filings/{appid}", flash=await _applied(api, principal, appid, decision, answer))
    errors, focus = _errors_at_fields(answer, decision, filled)
    keys = {decision: forms.idempotency_key(form, answer.status)}
    return await _again(request, principal, api, appid, form, rows=rows, status=answer.status, errors=errors,
                        problem=_problem(answer), focus=focus, keys=keys)


async def _applied(api: Api, principal: Principal, appid: str, decision: str, answer: Answer) -> str:
    """The flash of an applied decision, once the engine shows where the filing went (bounded:
    `settle`), so the page after the redirect is the filing's new state, not the desk it left."""
    body = answer.body if isinstance(answer.body, dict) else {}
    attempt = body.get("attempt")
    desk = DESKS.get(principal.role)
    status = await settled(api, appid, lambda s: s.stage is not desk or s.attempt != attempt)
    done = "已通过" if decision == "approve" else "已驳回"
    number = body.get("filing_number")
    if decision == "approve" and status is not None and status.kind.is_cancellation and status.stage is Stage.APPROVED:
        outcome = labels.CANCELLED_OUTCOME[status.kind]
        return f"{done}：{labels.stage(status.stage, status.kind)}，{outcome}" + (f"（备案号 {number}）" if number else "")
    flash = f"{done}：第 {attempt} 次提交" + (f"，备案号 {number}" if number and decision == "approve" else "")
    if status is not None and status.stage is not desk:
        flash += f"；当前阶段：{labels.stage(status.stage, status.kind)}"
    elif decision == "approve":
        flash += f"；{MOVING_ON}"
    return flash


def _problem(answer: Answer) -> str:
    if answer.status == 409:
        return f"未生效：{refusal_words(answer)}"
    if answer.status == 422:
        return "未提交：请更正标出的内容"
    if answer.status == 504:
        return "服务未在时限内答复，结论可能已生效：请看下方当前状态；如仍需提交，原样再次提交不会重复生效"
    if answer.status >= 500:
        return f"暂时无法提交（{refusal_words(answer)}），内容已保留，请稍后再试"
    return f"未提交：{refusal_words(answer)}"


def _errors_at_fields(answer: Answer, decision: str, filled: list[int]) -> tuple[dict[str, str], str | None]:
    """The API's complaints at the inputs they are about; the focus on the first."""
    errors: dict[str, str] = {}
    for error in answer.errors:
        found = _REASON_ERROR.search(error.get("field", ""))
        if found and int(found[1]) < len(filled):
            errors[f"{found[2]}_{filled[int(found[1])]}"] = error.get("message_zh") or error.get("message_en", "")
        elif error.get("field", "").endswith("filing_number"):
            errors["filing_number"] = error.get("message_zh") or error.get("message_en", "")
    why = answer.why or ""
    if decision == "approve" and _ABOUT_NUMBER.search(why):
        errors["filing_number"] = explain(why)
    if decision == "reject" and "at least one reason" in why:
        errors["field_0"] = explain(why)
    order = ["filing_number"] + [f"{part}_{i}" for i in range(MAX_ROWS) for part in ("field", "error", "suggestion")]
    focus = next((name for name in order if name in errors), None)
    return errors, focus


async def _again(request: Request, principal: Principal, api: Api, appid: str, form: FormData, *,
                 rows: list[ReasonRow], status: int = 200, errors: dict[str, str] | None = None,
                 problem: str | None = None, focus: str | None = None, keys: dict[str, str]) -> Response:
    """The filing page as it is now, with the reviewer's input as they left it."""
    view = await load(api, principal, appid)
    if isinstance(view, Answer):
        return problem_page(request, principal, view, appid)
    return review_page(request, principal, view, status=status, form=forms.kept(form), errors=errors,
                       problem=problem, focus=focus, rows=rows, keys=keys)
