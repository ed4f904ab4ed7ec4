"""The reviewers' queues: the platform desk, a province's desk (and, for operators, every
running filing), oldest deadline first, as `GET /v1/filings` answers for the reviewer's
token — the API chooses the desk, so a page cannot show another desk's filings."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from filing.models import FilingKind
from service.console import forecast, forms, labels
from service.console.api import Api
from service.console.refusals import problem_page
from service.context import services
from service.principal import Principal, Role
from service.schemas import FilingPage

#: Page sizes offered (any `size` up to FILINGS_API__MAX_PAGE_SIZE is taken).
SIZES = (20, 50, 100)


def title(principal: Principal) -> str:
    if principal.role is Role.PLATFORM_REVIEWER:
        return "平台初审 · 待审队列"
    if principal.role is Role.PROVINCE_REVIEWER:
        return f"{labels.province(principal.province)}通管局 · 待审队列"
    return "全部办理中的备案"


async def queue(request: Request, principal: Principal) -> Response:
    pages = forms.pages_of(request)
    kind = request.query_params.get("kind", "")
    kind = kind if kind in FilingKind.__members__ else ""
    overdue = request.query_params.get("overdue") == "1"
    cursor = request.query_params.get("cursor", "")
    size = request.query_params.get("size", "")
    largest = services(request).settings.api.max_page_size
    size = int(size) if size.isdigit() and 1 <= int(size) <= largest else pages.settings.page_size
    params = [("size", str(size))]
    if kind:
        params.append(("kind", kind))
    if overdue:
        params.append(("overdue", "true"))
    if cursor:
        params.append(("cursor", cursor))
    if principal.role is Role.OPERATOR:
        params.append(("running", "true"))
    answer = await Api(request).get("/v1/filings", params=params)
    if not answer.ok:
        return problem_page(request, principal, answer)
    page = FilingPage.model_validate(answer.body)
    desk = await forecast.for_desk(Api(request), principal)
    return pages.render(request, "queue.html", principal=principal, title=title(principal), page=page, forecast=desk,
                        kinds=labels.KINDS, kind=kind, overdue=overdue, first_page=not cursor, size=size,
                        sizes=sorted({size, pages.settings.page_size, *(n for n in SIZES if n <= largest)}))
