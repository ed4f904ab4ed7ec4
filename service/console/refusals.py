"""API refusals in the person's words: every problem type the service can answer has its
Chinese here, mapped once, and every page that reports a refusal says it through `words`.

The API's `detail` is English for integrators and may name internals; a page never shows
it. What a page says comes from, in order: the filing's own explanation (`why`, put into
Chinese by `service.console.why`), the violations' own Chinese (`message_zh`, each named by
its field's Chinese label), the problem type's sentence below, the status's. A 404 says as
little as the API did, a 403 names the role, an outage says nothing was done.
tests/service/test_refusal_words.py walks every problem type and violation key the code
can emit and fails on English in the rendered page.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from engine.launch import filing_id_for
from filing.field_labels import label
from service.console import forms
from service.console.api import Answer
from service.console.why import known
from service.principal import Principal

#: Every problem type (`/problems/<kind>`) the service answers: its title and sentence.
PROBLEMS: dict[str, tuple[str, str]] = {
    "not-found": ("没有找到", "没有找到，或您无权查看。"),
    "unauthenticated": ("需要重新登录", "登录已失效或凭证无效，请重新登录。"),
    "forbidden-role": ("无权进行此操作", "您的角色不能进行此操作。"),
    "forbidden-appid": ("无权办理该小程序", "该小程序不在您的账号可办理的小程序之列。"),
    "outside-desk": ("不在您的审核范围", "您只能查看本审核台（本省）的备案。"),
    "validation": ("填写有误", "提交的内容不符合要求，请按标出的内容修改。"),
    "invalid-json": ("内容无法接受", "提交的内容不是可以接受的 JSON，未作任何处理。"),
    "rule-violations": ("申请不符合要求", "申请有不符合要求的内容，未提交，请按标出的内容修改。"),
    "too-large": ("提交的内容过大", "提交的内容超过允许的大小，未作任何处理。"),
    "idempotency-key-required": ("表单已失效", "表单缺少提交标识，什么也没有做，请刷新页面后重新提交。"),
    "idempotency-key-reused": ("表单已使用", "这份表单已用于另一项提交，请刷新页面后重新填写提交。"),
    "idempotency-key-in-flight": ("正在处理", "同一提交正在处理中，请稍候刷新查看结果，不要重复提交。"),
    "refused": ("未生效", "备案当前不接受此操作，请刷新页面查看当前状态。"),
    "not-applied": ("未生效", "审核结论未生效，请刷新页面查看当前状态。"),
    "filing-finished": ("备案已结束", "该备案已结束，不能再操作。"),
    "filing-in-flight": ("已有备案在办理中", "该小程序已有一件备案在办理中，不能再次提交。"),
    "filing-busy": ("备案正忙", "该备案正在处理上一步，什么也没有做，请稍后重试。"),
    "several-open-verifications": ("请填写小程序 AppID", "该手机号有多个备案申请在等待核验，请填写验证码所属小程序的 AppID。"),
    "rate-limited": ("操作过于频繁", "验证码输入过于频繁，请稍后再试。"),
    "temporal-unavailable": ("服务暂时不可用", "办理引擎暂时无法连接，没有做任何更改，请稍后重试。"),
    "temporal-timeout": ("服务未及时答复", "办理引擎未在时限内答复，操作可能已生效：请刷新查看当前状态，再决定是否重试。"),
    "update-failed": ("服务暂时不可用", "备案暂时无法处理该操作，没有做任何更改，请稍后重试。"),
    "query-failed": ("服务暂时不可用", "暂时无法读取备案状态，请稍后刷新重试。"),
    "list-busy": ("列表正在变化", "列表在读取时发生了变化，请刷新重试。"),
    "registry-unavailable": ("服务暂时不可用", "备案库暂时无法访问，没有做任何更改，请稍后重试。"),
    "material-store-unavailable": ("服务暂时不可用", "材料存储暂时无法访问，没有做任何更改，请稍后重试。"),
    "audit-unavailable": ("服务暂时不可用", "审计记录暂时无法写入，为保护个人信息未显示任何内容，请稍后重试。"),
    "identity-provider-unavailable": ("服务暂时不可用", "统一登录服务暂时无法访问，请稍后重试。"),
    "calendar-invalid": ("日历数据无效", "节假日数据不符合要求，未导入。"),
    "unhealthy": ("服务暂时不可用", "服务的部分组件暂时不可用，请稍后重试。"),
}

#: By status, for answers without a problem type (Starlette's own 404 and 405, ...).
STATUSES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "请求不完整，什么也没有做，请刷新页面后重试。"),
    401: PROBLEMS["unauthenticated"],
    403: PROBLEMS["forbidden-role"],
    404: ("没有这个页面", "您访问的地址不存在，或您无权查看。"),
    405: ("不支持此操作", "这个地址不接受此种请求，请从页面上的链接或按钮进入。"),
    409: PROBLEMS["refused"],
    413: PROBLEMS["too-large"],
    415: ("格式不受支持", "提交的内容格式不受支持，未作任何处理。"),
    422: PROBLEMS["validation"],
    429: PROBLEMS["rate-limited"],
    500: ("服务出错", "服务内部出错，没有做任何更改，请稍后重试。"),
    502: ("服务暂时不可用", "服务暂时无法完成，没有做任何更改，请稍后重试。"),
    503: ("服务暂时不可用", "服务暂时不可用，没有做任何更改，请稍后刷新重试。"),
    504: PROBLEMS["temporal-timeout"],
}
_OTHER = ("无法完成", "暂时无法完成，没有做任何更改，请稍后重试。")


def kind_of(answer: Answer) -> str | None:
    """`/problems/not-found` -> `not-found` (None for `about:blank` or no problem)."""
    found = answer.problem("type")
    return found.removeprefix("/problems/") if isinstance(found, str) and found.startswith("/problems/") else None


def title(answer: Answer) -> str:
    return PROBLEMS.get(kind_of(answer) or "", STATUSES.get(answer.status, _OTHER))[0]


def words(answer: Answer) -> str:
    """The refusal as a sentence in Chinese: why, the violations, the problem type, the status."""
    explained = known(answer.why)
    if explained:
        return explained
    violations = [violation_text(error) for error in answer.errors]
    if violations:
        return "；".join(violations)
    return PROBLEMS.get(kind_of(answer) or "", STATUSES.get(answer.status, _OTHER))[1]


def violation_text(error: dict[str, str]) -> str:
    """`详细通讯地址：……`: the field by its Chinese label, then the violation's own Chinese."""
    field = error.get("field") or ""
    message = error.get("message_zh") or "不符合要求"
    return f"{label(field)}：{message}" if field and field not in ("-", "body") else message


def status_words(status: int) -> tuple[str, str]:
    """Title and sentence of a problem the gatekeeper or the router answered on a console path."""
    return STATUSES.get(status, _OTHER)


def problem_page(request: Request, principal: Principal | None, answer: Answer, appid: str | None = None) -> Response:
    if answer.status == 404:
        page_title = "没有找到该备案"
        message = (f"没有备案 {filing_id_for(appid)}，或您无权查看它。" if appid else "没有找到。")
    else:
        page_title, message = title(answer), words(answer)
    status = answer.status if answer.status >= 400 else 502
    return forms.pages_of(request).render(request, "problem.html", status=status, principal=principal,
                                          title=page_title, message=message)
