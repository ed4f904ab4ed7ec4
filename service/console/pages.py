"""The console's pages (SPEC §13), mounted at `/` on the filing service.

Each route takes the caller the gatekeeper verified from the session (`service.access`'s
`Caller`) and works through the API (`service.console.api`); none is in the OpenAPI
document. What each role sees:

| page | who |
|---|---|
| `/queue` | platform reviewers (their desk), provincial reviewers (their province's), operators (all running) |
| `/filings/{appid}` | reviewers: the review page; applicants: their own filing; operators: the status |
| `/mine`, `/submit`, `/apply`, `/filings/{appid}/change` | applicants (the form: `service.console.apply`) |
| `/filings/{appid}/cancel` | applicants: 注销主体 / 注销小程序 / 取消接入 of a filing on record |
| `/verify` | the verification site (工信部短信核验) |
"""
# No `from __future__ import annotations`: FastAPI resolves the `Caller` dependency at run time.

import asyncio
import functools
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from filing.messages import FilingStatus
from service.access import Caller
from service.console import applicant, apply, cancel, forms, queue, review, submit, verify
from service.console.api import Answer, Api
from service.console.filing_view import load
from service.console.materials import material
from service.console.refusals import problem_page
from service.principal import APPID, Principal, Role

router = APIRouter(include_in_schema=False)

HOMES = {
    Role.PLATFORM_REVIEWER: "/queue",
    Role.PROVINCE_REVIEWER: "/queue",
    Role.OPERATOR: "/queue",
    Role.APPLICANT: "/mine",
    Role.VERIFICATION_SITE: "/verify",
}


def _no_such(request: Request, principal: Principal, appid: str) -> Response:
    return problem_page(request, principal, Answer(404), appid)


FilingPage = Callable[[Request, Principal, str], Awaitable[Response]]


def of_a_filing(page: FilingPage) -> FilingPage:
    """A page under `/filings/{appid}`: an appid that cannot be one answers the console's own
    404 page before anything is asked of the service."""
    @functools.wraps(page)
    async def checked(request: Request, principal: Principal, appid: str) -> Response:
        if not APPID.match(appid):
            return _no_such(request, principal, appid)
        return await page(request, principal, appid)
    return checked


@router.get("/")
async def home(principal: Caller) -> Response:
    return RedirectResponse(HOMES[principal.role], status_code=303)


@router.get("/queue")
async def desk(request: Request, principal: Caller) -> Response:
    return await queue.queue(request, principal)


@router.get("/filings/{appid}")
@of_a_filing
async def filing(request: Request, principal: Caller, appid: str) -> Response:
    if principal.role is Role.VERIFICATION_SITE:
        return RedirectResponse("/verify", status_code=303)  # the page finds the filing from the mobile
    view = await load(Api(request), principal, appid)
    if isinstance(view, Answer):
        return problem_page(request, principal, view, appid)
    if principal.role is Role.APPLICANT:
        return applicant.applicant_page(request, principal, view)
    return review.review_page(request, principal, view)


@router.post("/filings/{appid}/approve")
@of_a_filing
async def approve(request: Request, principal: Caller, appid: str) -> Response:
    return await review.decide(request, principal, appid, "approve")


@router.post("/filings/{appid}/reject")
@of_a_filing
async def reject(request: Request, principal: Caller, appid: str) -> Response:
    return await review.decide(request, principal, appid, "reject")


@router.post("/filings/{appid}/resubmit")
@of_a_filing
async def resubmit(request: Request, principal: Caller, appid: str) -> Response:
    return await applicant.resubmit(request, principal, appid)


@router.post("/filings/{appid}/resend")
@of_a_filing
async def resend(request: Request, principal: Caller, appid: str) -> Response:
    return await applicant.resend(request, principal, appid)


@router.post("/filings/{appid}/withdraw")
@of_a_filing
async def withdraw(request: Request, principal: Caller, appid: str) -> Response:
    return await applicant.withdraw(request, principal, appid)


@router.get("/filings/{appid}/cancel")
@of_a_filing
async def cancel_form(request: Request, principal: Caller, appid: str) -> Response:
    """注销主体 / 注销小程序 / 取消接入 of a filing on record: the form."""
    return await cancel.cancel_form(request, principal, appid)


@router.post("/filings/{appid}/cancel")
@of_a_filing
async def cancel_request(request: Request, principal: Caller, appid: str) -> Response:
    """The form checked, the confirmation page, then the request (`step`)."""
    return await cancel.cancel(request, principal, appid)


@router.get("/filings/{appid}/materials/{sha256}")
async def material_file(request: Request, principal: Caller, appid: str, sha256: str) -> Response:
    return await material(request, principal, appid, sha256)


@router.get("/mine")
async def mine(request: Request, principal: Caller) -> Response:
    """An applicant's mini-programs (the appids of their token) and where each filing stands."""
    if principal.role is not Role.APPLICANT:
        return RedirectResponse(HOMES[principal.role], status_code=303)
    api = Api(request)
    appids = sorted(principal.appids)
    answers = await asyncio.gather(*(api.get(f"/v1/filings/{appid}") for appid in appids))
    rows = [(appid, FilingStatus.model_validate(a.body) if a.ok else None, a) for appid, a in zip(appids, answers, strict=True)]
    records = await cancel.on_record_rows(api, appids)
    drafts = await request.app.state.drafts.listed(principal.key)  # the form's drafts kept for them (`/apply`)
    return forms.pages_of(request).render(request, "mine.html", principal=principal, rows=rows, records=records,
                                          drafts=drafts)


@router.get("/apply")
async def apply_form(request: Request, principal: Caller) -> Response:
    """The applicant's form (a NEW; `?draft=` one kept)."""
    return await apply.apply_page(request, principal)


@router.post("/apply")
async def apply_post(request: Request, principal: Caller) -> Response:
    return await apply.apply_post(request, principal)


@router.post("/apply/upload")
async def apply_upload(request: Request, principal: Caller) -> Response:
    return await apply.upload(request, principal)


@router.post("/apply/check")
async def apply_check(request: Request, principal: Caller) -> Response:
    return await apply.check(request, principal)


@router.get("/apply/regions")
async def apply_regions(principal: Caller) -> Response:
    """Province -> city -> districts (GB/T 2260) for the form's pickers."""
    return apply.regions(principal)


@router.get("/filings/{appid}/change")
@of_a_filing
async def change_form(request: Request, principal: Caller, appid: str) -> Response:
    """A CHANGE of a filing on record, its form prefilled from it."""
    return await apply.change_page(request, principal, appid)


@router.get("/submit")
async def submit_form(request: Request, principal: Caller) -> Response:
    return submit.submit_page(request, principal)


@router.post("/submit")
async def submit_application(request: Request, principal: Caller) -> Response:
    return await submit.submit(request, principal)


@router.get("/verify")
async def verify_form(request: Request, principal: Caller) -> Response:
    return verify.verify_page(request, principal)


@router.post("/verify")
async def verify_code(request: Request, principal: Caller) -> Response:
    return await verify.verify(request, principal)
