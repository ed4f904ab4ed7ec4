"""The OIDC provider's login for the console: authorization code flow with PKCE (RFC 7636).

The provider's endpoints come from `{issuer}/.well-known/openid-configuration` (issuer =
FILINGS_API__ISSUER, the same issuer the API checks tokens against), or from
FILINGS_CONSOLE__OIDC_DISCOVERY_URL when the service reaches the provider by an internal
address (compose: `keycloak:8080`) while browsers and tokens use the public one; the document
must name the configured issuer either way. The access token the
provider returns is what the session cookie holds: the API verifies it like any bearer
token, so a login the API would not accept ends here, not on the first page.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from pydantic import SecretStr

from engine.settings import ConsoleSettings


class ProviderUnavailable(RuntimeError):
    """The provider could not be reached or answered nonsense: our outage, not the user's fault."""


class LoginRefused(ValueError):
    """The provider refused the login (a denied consent, a code it does not know)."""


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)  # 64 characters of the unreserved set
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        return cls(verifier, challenge)


class OidcClient:
    def __init__(self, issuer: str, client_id: str, settings: ConsoleSettings,
                 client_secret: SecretStr | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.discovery_url = settings.discovery_url(self.issuer)
        self._settings = settings
        self._secret = client_secret
        self._endpoints: tuple[float, Endpoints] | None = None

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._settings.oidc_timeout.total_seconds(), follow_redirects=False)

    async def endpoints(self) -> Endpoints:
        cached = self._endpoints
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        url = self.discovery_url
        try:
            async with self._http() as http:
                response = await http.get(url)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as err:
            raise ProviderUnavailable(f"the identity provider's discovery document ({url}) cannot be read: "
                                      f"{type(err).__name__}") from None
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise ProviderUnavailable(f"the discovery document at {url} names another issuer")
        try:
            found = Endpoints(str(document["authorization_endpoint"]), str(document["token_endpoint"]))
        except KeyError as err:
            raise ProviderUnavailable(f"the discovery document at {url} lacks {err.args[0]}") from None
        self._endpoints = (time.monotonic() + self._settings.oidc_discovery_cache.total_seconds(), found)
        return found

    async def authorization_url(self, redirect_uri: str, state: str, pkce: Pkce) -> str:
        endpoints = await self.endpoints()
        query = urlencode({
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self._settings.oidc_scopes,
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        })
        separator = "&" if "?" in endpoints.authorization else "?"
        return f"{endpoints.authorization}{separator}{query}"

    async def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """The access token for an authorization code."""
        endpoints = await self.endpoints()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self.client_id, "code_verifier": verifier}
        secret = self._secret
        if secret is not None:
            form["client_secret"] = secret.get_secret_value()
        try:
            async with self._http() as http:
                response = await http.post(endpoints.token, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as err:
            raise ProviderUnavailable(f"the identity provider's token endpoint cannot be reached: {type(err).__name__}") from None
        if response.status_code >= 500:
            raise ProviderUnavailable(f"the identity provider's token endpoint answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise ProviderUnavailable("the identity provider's token endpoint answered no JSON") from None
        if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("access_token"):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise LoginRefused(f"the identity provider refused the code ({error or response.status_code})")
        return str(answer["access_token"])
