"""Forms posted to the console: CSRF-checked before anything is read from them, and the
pieces every page's forms share (the Idempotency-Key a form carries, kept input)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from service.console.render import Pages
from service.console.session import SESSION_COOKIE


class CsrfRefused(Exception):
    """A form without this session's CSRF token: refused, nothing done (a clear page says why)."""


def pages_of(request: Request) -> Pages:
    found: Pages = request.app.state.console
    return found


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    if not pages_of(request).signer.csrf_ok(request.cookies.get(SESSION_COOKIE), text(form, "csrf")):
        raise CsrfRefused
    return form


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value if isinstance(value, str) else default


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


def idempotency_key(form: FormData, status: int) -> str:
    """The form's key for the next try: the same after an outage (503/504: the key was
    released, and a retry must not act twice), a new one after a stored answer (the input
    will change, and a key answers one body only)."""
    given = text(form, "idem")
    return given if given and status >= 500 else str(uuid.uuid4())


def kept(form: FormData) -> dict[str, Any]:
    """What the person typed, to show again (never the CSRF token or the key)."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k not in ("csrf", "idem")}
