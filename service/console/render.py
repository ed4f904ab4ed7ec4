"""Pages: Jinja2 templates, the flash message of a POST/redirect/GET, and the CSRF token
every form carries.

Every page is `no-store` (most show personal data) and names who is signed in; a flash
message lives in a signed cookie for one minute and is shown once.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from filing.masking import mask_mobile
from filing.notice_texts import reason_parts
from service.console import clock, labels, timeline
from service.console.session import FLASH_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, Signer, cookie_header, expired_cookie
from engine.settings import ConsoleSettings
from service.console.why import explain
from service.principal import Principal

TEMPLATES = Path(__file__).parent / "templates"
FLASH_SECONDS = 60


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        china_time=clock.china_time,
        deadline=clock.deadline,
        stage=labels.stage,
        kind=labels.kind,
        event=labels.event,
        province=labels.province,
        returned_by=lambda code: labels.RETURNED_BY.get(code, code),
        field_label=labels.field_label,
        record_state=lambda code: labels.RECORD_STATES.get(code, code),
        mask_mobile=mask_mobile,
        why=explain,
        reason_error=lambda reason: reason_parts(reason)[0],
        reason_suggestion=lambda reason: reason_parts(reason)[1],
    )
    env.globals.update(timeline_rows=timeline.rows, time_left=clock.time_left, roles=labels.ROLES, new_key=lambda: str(uuid.uuid4()))
    env.globals.update(cancelled_outcome=labels.CANCELLED_OUTCOME)
    return env


class Pages:
    """What every console route needs to answer: templates, the signer, the settings."""

    def __init__(self, signer: Signer, settings: ConsoleSettings) -> None:
        self.env = environment()
        self.signer = signer
        self.settings = settings

    def secure(self, request: Request) -> bool:
        if self.settings.public_url:
            return self.settings.public_url.startswith("https://")
        return request.url.scheme == "https"

    def csrf_of(self, request: Request) -> str:
        session = request.cookies.get(SESSION_COOKIE)
        return self.signer.csrf(session) if session else ""

    def login_csrf(self, nonce: str) -> str:
        return self.signer.csrf(f"login:{nonce}")

    def render(self, request: Request, template: str, *, status: int = 200, principal: Principal | None = None,
               **context: Any) -> HTMLResponse:
        flash = self.signer.unseal("flash", request.cookies.get(FLASH_COOKIE))
        html = self.env.get_template(template).render(
            request=request, principal=principal, csrf=self.csrf_of(request), flash=flash, **context)
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
        if request.cookies.get(FLASH_COOKIE):
            response.headers.append("set-cookie", expired_cookie(FLASH_COOKIE, secure=self.secure(request)))
        return response

    def redirect(self, request: Request, location: str, *, flash: str | None = None, level: str = "ok") -> RedirectResponse:
        """303 to `location` (POST/redirect/GET), carrying a message for the next page."""
        response = RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
        if flash:
            sealed = self.signer.seal("flash", {"text": flash, "level": level}, FLASH_SECONDS)
            response.headers.append("set-cookie", cookie_header(FLASH_COOKIE, sealed, max_age=FLASH_SECONDS,
                                                                secure=self.secure(request)))
        return response

    def start_session(self, request: Request, response: HTMLResponse | RedirectResponse, session_id: str,
                      seconds: int) -> None:
        """The cookie of a session the store started: its id, never the token."""
        secure = self.secure(request)
        response.headers.append("set-cookie", cookie_header(SESSION_COOKIE, session_id, max_age=seconds, secure=secure))
        response.headers.append("set-cookie", expired_cookie(LOGIN_COOKIE, secure=secure))

    def end_session(self, request: Request, response: HTMLResponse | RedirectResponse) -> None:
        response.headers.append("set-cookie", expired_cookie(SESSION_COOKIE, secure=self.secure(request)))
