"""API refusals as pages: a 404 that says as little as the API did, a 403 naming the role,
an outage that says nothing was done. The page never says more than the API answered."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from engine.launch import filing_id_for
from service.console import forms
from service.console.api import Answer
from service.principal import Principal


def problem_page(request: Request, principal: Principal | None, answer: Answer, appid: str | None = None) -> Response:
    if answer.status == 404:
        title = "没有找到该备案"
        message = (f"没有备案 {filing_id_for(appid)}，或您无权查看它。" if appid else "没有找到。")
    elif answer.status == 403:
        title = "无权进行此操作"
        message = f"您的角色不能进行此操作（{answer.detail}）。"
    elif answer.status in (503, 504):
        title = "服务暂时不可用"
        message = f"暂时无法完成（{answer.detail}）。没有做任何更改，请稍后刷新重试。"
    else:
        title = "无法完成"
        message = answer.detail
    status = answer.status if answer.status >= 400 else 502
    return forms.pages_of(request).render(request, "problem.html", status=status, principal=principal,
                                          title=title, message=message)
