"""Signing in and out: what the console serves without a session.

- Locally (FILINGS_API__AUTH=local) a development login: pick a role, a name (`sub`), a
  province or appids, and the service signs the token `filings login` would print, with
  the same key and checks, and starts a session holding it.
- With an identity provider (FILINGS_API__AUTH=oidc) the provider's login, authorization
  code flow with PKCE (`service.console.oidc`); its access token is what the session holds.

Either way the token stays with the service (`service.console.sessions`); the browser gets
a cookie with the session's random id. Signing out deletes the session on every replica.
The login form is CSRF-protected too, with a nonce cookie of its own (login CSRF would
sign a person in as someone else).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine.settings import ApiSettings
from filing.provinces import PROVINCES
from service.auth import KeysUnavailable, TokenVerifier, Unauthenticated
from service.console.labels import ROLES
from service.console.oidc import LoginRefused, OidcClient, Pkce, ProviderUnavailable
from service.console.render import Pages
from service.console.session import LOGIN_COOKIE, SESSION_COOKIE, cookie_header
from service.console.sessions import RegistryUnavailable, SessionStore
from service.principal import InvalidClaims, Role
from service.tokens import issue_token

STATIC = Path(__file__).parent / "static"
LOGIN_SECONDS = 600


def safe_next(target: str | None) -> str:
    """Only a path of this site (never `//elsewhere` or a URL): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def same_origin(request: Request, public_url: str | None) -> bool:
    """A browser's POST names the page it came from in `Origin`: it must be this site (the
    `Host` it was sent to, which only known hosts pass, or the public address). A page
    elsewhere cannot sign someone in, also not after DNS rebinding. Without `Origin` the
    caller is no browser (every browser sends it on a POST), and the login CSRF token decides."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if public_url and origin.rstrip("/").lower() == public_url.lower():
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.headers.get("host", "").lower()


class Login:
    def __init__(self, pages: Pages, api: ApiSettings, verifier: TokenVerifier, *,
                 signing_key: Ed25519PrivateKey | None, oidc: OidcClient | None, sessions: SessionStore) -> None:
        self.pages = pages
        self.sessions = sessions
        self.api = api
        self.verifier = verifier
        self.signing_key = signing_key
        self.oidc = oidc

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/login", self.form, methods=["GET"]),
            Route("/login", self.local_login, methods=["POST"]),
            Route("/login/oidc", self.oidc_start, methods=["GET"]),
            Route("/login/callback", self.oidc_callback, methods=["GET"]),
            Route("/logout", self.logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ])

    # --- the login page --------------------------------------------------------------

    def _page(self, request: Request, *, status: int = 200, form: dict[str, Any] | None = None,
              errors: dict[str, str] | None = None, problem: str | None = None) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        next_path = safe_next((form or {}).get("next") or request.query_params.get("next"))
        notice = "登录已过期，请重新登录" if request.query_params.get("expired") else None
        order = ("role", "sub", "province", "appids")
        focus = next((name for name in order if name in (errors or {})), "role" if not form else None)
        response = self.pages.render(
            request, "login.html", status=status, mode=self.api.auth, form=form or {}, errors=errors or {},
            problem=problem, notice=notice, focus=focus, next_path=next_path, login_csrf=self.pages.login_csrf(nonce),
            provinces=PROVINCES, login_roles=[(r.value, ROLES[r]) for r in Role])
        response.headers.append("set-cookie", cookie_header(LOGIN_COOKIE, nonce, max_age=LOGIN_SECONDS,
                                                            secure=self.pages.secure(request)))
        return response

    async def form(self, request: Request) -> Response:
        return self._page(request)

    async def local_login(self, request: Request) -> Response:
        if not same_origin(request, self.pages.settings.public_url):
            return self.pages.render(request, "problem.html", status=403, principal=None, title="登录请求来自其他网站",
                                     message="这个登录请求不是从本站的登录页发出的（Origin 不符），未登录。请直接打开本站的登录页。")
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not self.pages.signer.csrf_ok(f"login:{nonce}" if nonce else None, form.get("csrf")):
            return self.pages.render(request, "problem.html", status=403, principal=None, title="表单已失效",
                                     message="登录表单已过期或不是从本站打开的（CSRF 校验未通过）。请重新打开登录页后再试。")
        if self.api.auth != "local" or self.signing_key is None:
            return self._page(request, status=400, problem="本服务使用统一身份认证登录，请点击下方按钮")
        kept = {k: form.get(k, "").strip() for k in ("role", "sub", "province", "appids", "next")}
        errors = self._check(kept)
        if errors:
            return self._page(request, status=422, form=kept, errors=errors, problem="请更正标出的内容")
        try:
            role = Role(kept["role"])
            token = issue_token(
                self.signing_key, issuer=self.api.issuer, audience=self.api.audience, sub=kept["sub"], role=role,
                province=kept["province"] if role is Role.PROVINCE_REVIEWER else None,
                appids=[a for a in kept["appids"].replace(",", " ").split() if a] if role is Role.APPLICANT else (),
                ttl=min(self.api.token_ttl, self.sessions.lifetime))
        except (ValueError, InvalidClaims) as err:
            field = "appids" if "appid" in str(err) else "province" if "province" in str(err) else "sub"
            words = {"appids": "AppID 须形如 wx1234567890abcdef（wx 加 16 位小写十六进制），多个用逗号分隔",
                     "province": "请选择中国大陆的省级行政区", "sub": "登录名无效"}[field]
            return self._page(request, status=422, form=kept, errors={field: f"{words}（{err}）"},
                              problem="请更正标出的内容")
        return await self._signed_in(request, token, safe_next(kept["next"]))

    async def _signed_in(self, request: Request, token: str, target: str) -> Response:
        """A session holding `token` (until the token's own expiry at the latest), and on to `target`."""
        expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
        try:
            started = await self.sessions.start(
                token, datetime.fromtimestamp(expires, UTC) if isinstance(expires, int | float) else None)
        except RegistryUnavailable as err:
            return self._page(request, status=503, problem=f"会话无法保存，未登录，请稍后重试（{err}）")
        response = RedirectResponse(target, status_code=303)
        self.pages.start_session(request, response, started.session_id, started.max_age)
        return response

    @staticmethod
    def _check(form: dict[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if form["role"] not in {r.value for r in Role}:
            errors["role"] = "请选择角色"
        if not 1 <= len(form["sub"]) <= 64:
            errors["sub"] = "请填写登录名（1 到 64 个字符）"
        if form["role"] == Role.PROVINCE_REVIEWER and not form["province"]:
            errors["province"] = "通管局审核员须选择所属省份"
        if form["role"] == Role.APPLICANT and not form["appids"]:
            errors["appids"] = "申请人须填写至少一个小程序 AppID（wx 开头的 18 位），多个用逗号或空格分隔"
        return errors

    # --- the identity provider (OIDC) ----------------------------------------------

    def _redirect_uri(self, request: Request) -> str:
        base = self.pages.settings.public_url or str(request.base_url).rstrip("/")
        return f"{base}/login/callback"

    async def oidc_start(self, request: Request) -> Response:
        if self.oidc is None:
            return self._page(request, status=404, problem="本服务使用开发登录（FILINGS_API__AUTH=local）")
        pkce, state = Pkce.new(), secrets.token_urlsafe(24)
        redirect_uri = self._redirect_uri(request)
        try:
            target = await self.oidc.authorization_url(redirect_uri, state, pkce)
        except ProviderUnavailable as err:
            return self._unavailable(request, err)
        sealed = self.pages.signer.seal("oidc", {"state": state, "verifier": pkce.verifier, "redirect_uri": redirect_uri,
                                                 "next": safe_next(request.query_params.get("next"))}, LOGIN_SECONDS)
        response = RedirectResponse(target, status_code=303)
        response.headers.append("set-cookie", cookie_header(LOGIN_COOKIE, sealed, max_age=LOGIN_SECONDS,
                                                            secure=self.pages.secure(request)))
        return response

    async def oidc_callback(self, request: Request) -> Response:
        if self.oidc is None:
            return self._page(request, status=404, problem="本服务使用开发登录（FILINGS_API__AUTH=local）")
        started = self.pages.signer.unseal("oidc", request.cookies.get(LOGIN_COOKIE))
        params = request.query_params
        if started is None or not params.get("state") or params.get("state") != started.get("state"):
            return self._failed(request, "登录请求已过期或不是从本站发起的，请重新登录", 400)
        if params.get("error"):
            return self._failed(request, f"统一身份认证未通过（{params.get('error')}）", 401)
        try:
            token = await self.oidc.exchange(params.get("code", ""), started["redirect_uri"], started["verifier"])
            await self.verifier.verify(token)  # a token the API would refuse makes no session
        except ProviderUnavailable as err:
            return self._unavailable(request, err)
        except KeysUnavailable as err:
            return self._unavailable(request, err)
        except (LoginRefused, Unauthenticated) as err:
            detail = err.description if isinstance(err, Unauthenticated) else str(err)
            return self._failed(request, f"登录未成功：{detail}", 401)
        return await self._signed_in(request, token, started.get("next") or "/")

    def _failed(self, request: Request, message: str, status: int) -> Response:
        return self._page(request, status=status, problem=message)

    def _unavailable(self, request: Request, err: Exception) -> Response:
        return self._page(request, status=503, problem=f"统一身份认证服务暂不可用，未登录，请稍后重试（{err}）")

    # --- signing out -----------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        given = form.get("csrf")
        if not self.pages.signer.csrf_ok(request.cookies.get(SESSION_COOKIE), given if isinstance(given, str) else None):
            return self.pages.render(request, "problem.html", status=403, principal=None, title="表单已失效",
                                     message="退出请求没有本次会话的校验码（CSRF 校验未通过），未退出。请回到页面后再点“退出”。")
        session_id = request.cookies.get(SESSION_COOKIE)
        try:
            if session_id:
                await self.sessions.end(session_id)  # the cookie, wherever it was copied to, opens nothing now
        except RegistryUnavailable as err:
            return self.pages.render(request, "problem.html", status=503, principal=None, title="服务暂时不可用",
                                     message=f"会话无法结束，尚未退出，请稍后再点“退出”（{err}）")
        response = RedirectResponse("/login", status_code=303)
        self.pages.end_session(request, response)
        return response
