"""A small OpenID Connect provider, served by the test itself on 127.0.0.1 (real HTTP): discovery,
an authorization page, the token endpoint and the JWKS. Strict where the console must be
right: the redirect URI and client id must match, PKCE (S256) must verify, a code is
single-use. It signs RS256 access tokens with the claims the filing service reads."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.processes import free_ports


@dataclass
class Grant:
    redirect_uri: str
    challenge: str
    client_id: str


@dataclass
class FakeProvider:
    client_id: str
    audience: str
    claims: dict[str, Any]
    port: int = field(default_factory=lambda: free_ports(1)[0])
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([
            web.get("/.well-known/openid-configuration", self._discovery),
            web.get("/authorize", self._authorize),
            web.post("/token", self._token),
            web.get("/jwks", self._jwks),
        ])
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _discovery(self, _: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
        })

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if (q.get("response_type") != "code" or q.get("client_id") != self.client_id
                or q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("state")):
            return web.Response(status=400, text=f"bad authorization request: {dict(q)}")
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(q["redirect_uri"], q["code_challenge"], q["client_id"])
        back = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        page = (f"<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>统一身份认证</title>"
                f"<h1>统一身份认证（测试）</h1><p>账号 {html.escape(self.claims['sub'])}</p>"
                f"<a id='consent' href='{html.escape(back)}'>登录并返回审核台</a></html>")
        return web.Response(text=page, content_type="text/html")

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        grant = self.grants.pop(form.get("code", ""), None)  # single use
        if grant is None:
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if (form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != grant.redirect_uri
                or form.get("client_id") != grant.client_id or challenge != grant.challenge):
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = int(time.time())
        token = jwt.encode({"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + 3600, **self.claims},
                           self._key, algorithm="RS256", headers={"kid": "test-key"})
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    async def _jwks(self, _: web.Request) -> web.Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return web.json_response({"keys": [jwk | {"kid": "test-key", "use": "sig", "alg": "RS256"}]})
