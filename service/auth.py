"""Verifying bearer tokens (SPEC §12): the local key, or an OIDC provider's JWKS.

Either way the same checks: signature with an asymmetric algorithm (never `none`, never
HMAC, whatever the token's header says), issuer, audience, expiry (with a small leeway),
and claims that name a caller (`service.principal`). A failure names what was wrong
in the `WWW-Authenticate` header's `error_description` (RFC 6750), never the token.
Whatever a token holds (a `crit` header, a header that is not an object, claims of the
wrong type), a token that cannot be trusted is a 401, never an error of the service.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from engine.settings import ApiSettings
from service.principal import InvalidClaims, Principal, principal_from_claims
from service.tokens import ALGORITHM, ensure_local_signing_key

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class Unauthenticated(Exception):
    """401: no token, or one that cannot be trusted. `description` is safe to send back."""

    def __init__(self, description: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.description = description
        self.error = error  # None when no token was sent at all (RFC 6750 §3.1)


class KeysUnavailable(Exception):
    """The identity provider's keys cannot be fetched: our outage, not the caller's fault (503)."""


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class _JwtVerifier:
    def __init__(self, settings: ApiSettings, algorithms: list[str]) -> None:
        self._settings = settings
        self._algorithms = algorithms

    async def _key_for(self, token: str) -> Any:
        raise NotImplementedError

    async def verify(self, token: str) -> Principal:
        s = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated("the token is not a JWT") from None
        except jwt.InvalidTokenError:  # e.g. a `crit` header, a `kid` that is not a string
            raise Unauthenticated("the token's header is not acceptable (no critical extensions; kid a string)") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown = repr(alg) if isinstance(alg, str) and len(alg) <= 16 else "given"
            raise Unauthenticated(f"algorithm {shown} is not accepted (accepted: {', '.join(self._algorithms)})")
        key = await self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except jwt.MissingRequiredClaimError as err:
            raise Unauthenticated(f"the token lacks claim {err.claim!r}") from None
        except jwt.InvalidTokenError as err:
            raise Unauthenticated(f"the token is invalid: {type(err).__name__}") from None
        except (ValueError, TypeError, OverflowError):  # a signed claim of the wrong type (`exp: 1e999`)
            raise Unauthenticated("the token's claims cannot be read (exp, nbf and iat are numbers)") from None
        try:
            return principal_from_claims(
                claims, role_claim=s.role_claim, province_claim=s.province_claim, appids_claim=s.appids_claim
            )
        except InvalidClaims as err:
            raise Unauthenticated(f"the token's claims do not name a caller: {err}") from None


class LocalVerifier(_JwtVerifier):
    """Tokens signed with the data dir's key (`filings login`)."""

    def __init__(self, settings: ApiSettings, public_key: Ed25519PublicKey) -> None:
        super().__init__(settings, [ALGORITHM])
        self._public_key = public_key

    async def _key_for(self, token: str) -> Any:
        return self._public_key


class OidcVerifier(_JwtVerifier):
    """Tokens of the operators' identity provider, on its JWKS (cached, fetched with a timeout)."""

    def __init__(self, settings: ApiSettings) -> None:
        super().__init__(settings, settings.algorithm_list())
        assert settings.jwks_url is not None  # the settings refuse oidc without it
        self._jwks = jwt.PyJWKClient(
            settings.jwks_url,
            cache_keys=True,
            cache_jwk_set=True,
            lifespan=settings.jwks_cache.total_seconds(),
            timeout=settings.jwks_timeout.total_seconds(),
        )

    async def _key_for(self, token: str) -> Any:
        try:
            # PyJWKClient is synchronous (urllib): off the event loop, bounded by its timeout.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as err:
            raise KeysUnavailable(f"the identity provider's keys cannot be fetched: {err}") from None
        except jwt.PyJWTError:  # the message may quote the token's `kid`: not sent back
            raise Unauthenticated("no signing key of the identity provider matches the token's kid") from None
        return signing_key.key


def build_verifier(settings: ApiSettings, data_dir: Path) -> TokenVerifier:
    if settings.auth == "oidc":
        return OidcVerifier(settings)
    key = ensure_local_signing_key(settings.signing_key_path(data_dir))
    return LocalVerifier(settings, key.public_key())


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header; `Unauthenticated` otherwise."""
    if not authorization:
        raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)", error=None)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", error="invalid_request")
    return token.strip()
