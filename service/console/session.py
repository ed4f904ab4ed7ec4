"""The console's session: a server-side session behind a cookie, CSRF tokens, flash messages.

The session cookie holds a random session id, HttpOnly and SameSite=Lax, never a token:
the person's token stays with the service (`service.console.sessions`, in the registry's
database that every replica shares). For the console's own pages `ConsoleSession` looks
the id up and hands the session's token to the service's gatekeeper as the
`Authorization` header, so a page is authenticated by exactly the code that authenticates
an API call. The id is no bearer token anywhere (the gatekeeper takes JWTs only), and the
API's own routes never read the cookie. Signing out deletes the session, so a copied
cookie stops working at once, on every replica.

Lax rather than Strict: reviewers open filings from links in e-mails, chats and the
in-app notices, and the OIDC provider sends the browser back with a cross-site redirect;
with Strict those first requests would arrive without the session and bounce to the login
page. Lax still withholds the cookie from every cross-site POST, and every form carries a
CSRF token besides (an HMAC of the session id, keyed from the payload key every replica holds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.console.sessions import RegistryUnavailable, SessionStore

SESSION_COOKIE = "filings_session"
FLASH_COOKIE = "filings_flash"
LOGIN_COOKIE = "filings_login"

#: Paths that belong to the API (and its public routes): the console never touches them.
API_PREFIXES = ("/v1/",)
API_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/openapi.json", "/docs"})

SECURITY_HEADERS = [
    (b"content-security-policy",
     (b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'self'; "
      b"frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


def is_console_path(path: str) -> bool:
    return not (path.startswith(API_PREFIXES) or path in API_PATHS)


def is_public_console_path(path: str) -> bool:
    """The login, the logout and the static files: reachable without a session."""
    return path in ("/login", "/logout") or path.startswith(("/login/", "/static/"))


class Signer:
    """HMACs with a key derived from the payload key: the same on every replica, never the
    payload key itself."""

    def __init__(self, payload_key: bytes) -> None:
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                         info=b"icp-filings console v1").derive(payload_key)

    def _mac(self, purpose: str, data: bytes) -> str:
        digest = hmac.new(self._key, purpose.encode() + b"\0" + data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def csrf(self, session: str) -> str:
        """The CSRF token of a session (or of a login form's nonce)."""
        return self._mac("csrf", hashlib.sha256(session.encode()).digest())

    def csrf_ok(self, session: str | None, given: str | None) -> bool:
        return bool(session and given) and hmac.compare_digest(self.csrf(str(session)), str(given))

    def seal(self, purpose: str, data: dict[str, Any], max_age: int) -> str:
        """Signed (not encrypted) data for a cookie: never put a secret in it."""
        body = base64.urlsafe_b64encode(
            json.dumps({"d": data, "exp": int(time.time()) + max_age}, ensure_ascii=False).encode()
        ).decode().rstrip("=")
        return f"{body}.{self._mac(purpose, body.encode())}"

    def unseal(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value or "." not in value:
            return None
        body, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(self._mac(purpose, body.encode()), mac):
            return None
        try:
            content = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(content, dict) or content.get("exp", 0) < time.time():
            return None
        data = content.get("d")
        return data if isinstance(data, dict) else None


def cookie_header(name: str, value: str, *, max_age: int, secure: bool, http_only: bool = True) -> str:
    attributes = [f"{name}={value}", "Path=/", f"Max-Age={max(0, max_age)}", "SameSite=Lax"]
    if http_only:
        attributes.append("HttpOnly")
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def expired_cookie(name: str, *, secure: bool) -> str:
    return cookie_header(name, "", max_age=0, secure=secure)


def _cookies(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            found.update(cookie_parser(value.decode("latin-1")))
    return found


def _with_headers(message: Message, extra: Iterable[tuple[bytes, bytes]]) -> Message:
    present = {key.lower() for key, _ in message.get("headers", [])}
    headers = list(message.get("headers", [])) + [(k, v) for k, v in extra if k not in present]
    return {**message, "headers": headers}


def login_location(scope: Scope, *, expired: bool = False) -> str:
    target = scope.get("path", "/")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return f"/login?next={quote(target, safe='')}" + ("&expired=1" if expired else "")


class ConsoleSession:
    """ASGI middleware in front of the gatekeeper, for the console's paths only.

    - API paths pass untouched.
    - The login, logout and static files are served by the console's public app, which
      needs no token.
    - Every other console page gets its session's token as its `Authorization` header, or a
      redirect to the login page when there is no session (none, signed out, expired or
      idle too long); a token the gatekeeper refuses (401: expired, another issuer, ...)
      ends the session and sends the browser to log in again.
    """

    def __init__(self, app: ASGIApp, *, public: ASGIApp, secure: bool | None,
                 problem_page: Callable[[int, str], bytes], sessions: SessionStore) -> None:
        self.app = app
        self.public = public
        self.secure = secure
        self.problem_page = problem_page
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not is_console_path(path):
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_headers(message, SECURITY_HEADERS)
            await send(message)

        if is_public_console_path(path):
            await self.public(scope, receive, send_secured)
            return
        secure = self.secure if self.secure is not None else scope.get("scheme") == "https"
        headers = list(scope.get("headers", []))
        session_id: str | None = None
        if not any(key == b"authorization" for key, _ in headers):
            session_id = _cookies(scope).get(SESSION_COOKIE)
            if not session_id:
                await _redirect(send_secured, login_location(scope))
                return
            try:
                token = await self.sessions.token(session_id)
            except RegistryUnavailable as err:
                await self._problem(send_secured, 503, json.dumps({"detail": f"会话无法核对，请稍后重试（{err}）"}).encode())
                return
            if token is None:  # signed out, expired, idle too long, or never ours
                await _redirect(send_secured, login_location(scope, expired=True),
                                [expired_cookie(SESSION_COOKIE, secure=secure)])
                return
            scope = {**scope, "headers": [*headers, (b"authorization", f"Bearer {token}".encode("latin-1"))]}
        replaced: dict[str, Any] = {}

        async def send_page(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                replaced["by"] = "login"
                if session_id:  # the token behind the session is refused now: the session is over
                    try:
                        await self.sessions.end(session_id)
                    except RegistryUnavailable:
                        pass  # it expires on its own; the browser is sent to sign in either way
                await _redirect(send_secured, login_location(scope, expired=True),
                                [expired_cookie(SESSION_COOKIE, secure=secure)])
                return
            if message["type"] == "http.response.start" and _is_problem(message):
                replaced.update(by="page", status=message["status"], body=b"")
                return
            if replaced.get("by") == "login":  # the 401's body: answered by the redirect
                return
            if replaced.get("by") == "page":  # a problem of the gatekeeper or the router: as a page
                replaced["body"] += message.get("body", b"")
                if not message.get("more_body", False):
                    await self._problem(send_secured, replaced["status"], replaced["body"])
                return
            await send_secured(message)

        await self.app(scope, receive, send_page)

    async def _problem(self, send: Send, status: int, body: bytes) -> None:
        try:
            detail = str(json.loads(body).get("detail", ""))
        except (ValueError, AttributeError):
            detail = ""
        page = self.problem_page(status, detail)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(page)).encode()),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": page})


def _is_problem(message: Message) -> bool:
    return any(key == b"content-type" and value.startswith(b"application/problem+json")
               for key, value in message.get("headers", []))


async def _redirect(send: Send, location: str, cookies: Iterable[str] = ()) -> None:
    headers = [(b"location", location.encode("latin-1")), (b"cache-control", b"no-store"),
               (b"content-length", b"0")]
    headers += [(b"set-cookie", c.encode("latin-1")) for c in cookies]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
