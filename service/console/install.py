"""Putting the console on the filing service: its pages at `/`, its login and static files,
and the session in front of the gatekeeper. Called once by `service.app.create_app`,
after the gatekeeper is added (so the session middleware runs before it)."""

from __future__ import annotations

import hashlib
import hmac

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response

from engine.sealing import Sealer
from engine.settings import Settings
from service.console.drafts import DraftStore
from service.console.forms import CsrfRefused, pages_of
from service.console.login import Login
from service.console.oidc import OidcClient
from service.console.pages import router
from service.console.refusals import status_words
from service.console.render import Pages
from service.console.session import ConsoleSession, Signer
from service.console.sessions import SessionStore
from service.context import Services
from service.tokens import ensure_local_signing_key


PROBLEM_TITLES = {404: "没有这个页面", 413: "提交的内容过大", 503: "服务暂时不可用"}


def _problem_page(pages: Pages) -> Callable[[int, str], bytes]:
    """A problem the gatekeeper or the router answered on a console path, as a page."""
    def render(status: int, detail: str) -> bytes:
        # `detail` is the API's English for integrators: the page says the status's Chinese instead.
        title, message = status_words(status)
        return pages.env.get_template("problem.html").render(
            principal=None, csrf="", flash=None, title=PROBLEM_TITLES.get(status, title), message=message).encode()

    return render


async def _csrf_refused(request: Request, _: Exception) -> Response:
    return pages_of(request).render(
        request, "problem.html", status=403, principal=getattr(request.state, "principal", None), title="表单已失效",
        message="这个表单没有本次登录的校验码（CSRF 校验未通过），什么也没有做。"
                "可能是登录已更换，或表单来自其他网站。请回到页面、刷新后再提交。")


def install_console(app: FastAPI, settings: Settings, services: Services) -> None:
    console = settings.console
    ring = settings.payload_keyring()
    # A key of its own for the console's CSRF tokens, derived from the payload key (never the key itself).
    csrf_key = hmac.new(ring.key(ring.current), b"filings-console-csrf", hashlib.sha256).digest()
    pages = Pages(Signer(csrf_key), console)
    api = settings.api
    local = api.auth == "local"
    if not local and not console.oidc_client_id:  # the console's own need: the CLI and the worker never sign in there
        raise ValueError("FILINGS_CONSOLE__OIDC_CLIENT_ID is required when FILINGS_API__AUTH=oidc: the console's "
                         "client at the provider (e.g. icp-filings-service), which is not the audience")
    # Sessions live in the registry's database, beside the Idempotency-Key store: every replica sees them.
    sessions = SessionStore(services.engine, settings.registry_database_url, Sealer(ring),
                            lifetime=console.session_lifetime, idle=console.session_idle)
    login = Login(
        pages, api, services.verifier,
        signing_key=ensure_local_signing_key(api.signing_key_path(settings.data_dir)) if local else None,
        # The client id is its own setting (required with oidc, never the audience).
        oidc=None if local else OidcClient(api.issuer, str(console.oidc_client_id), console, console.oidc_client_secret),
        sessions=sessions,
    )
    app.state.console = pages
    # The applicant's drafts of the form, beside the sessions, sealed the same way (`service.console.drafts`).
    app.state.drafts = DraftStore(services.engine, settings.registry_database_url, Sealer(ring))
    app.include_router(router)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    secure = None if console.public_url is None else console.public_url.startswith("https://")
    app.add_middleware(ConsoleSession, public=login.app(), secure=secure, problem_page=_problem_page(pages),
                       sessions=sessions)
