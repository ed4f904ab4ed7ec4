"""Local bearer tokens: the signing key `make run` creates, and `filings login`'s tokens.

In production an identity provider signs the tokens (OIDC, `service.auth`); on a laptop
and in tests the service trusts one Ed25519 key kept in the data dir, owner-only. Whoever
can read that file can mint any role, exactly like whoever holds the keys file can read
every filing: both live in the operator's data dir and nowhere else.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.principal import Principal, Role, canonical_appids, canonical_province, principal_from_claims

ALGORITHM = "EdDSA"


class SigningKeyMissing(FileNotFoundError):
    """No local signing key where the settings say; `make run` creates it."""


def ensure_local_signing_key(path: Path) -> Ed25519PrivateKey:
    """The key at `path`, created (0600, atomically, never overwritten) when absent.

    Several processes may start at once (`make run`, a second replica): the key is written
    to a private temporary file and linked into place, so every one ends up with the same key."""
    if path.exists():
        return load_local_signing_key(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return load_local_signing_key(path)


def load_local_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyMissing(
            f"no API signing key at {path}: `make run` creates it (or set FILINGS_DATA_DIR / "
            "FILINGS_API__SIGNING_KEY to where it is)"
        ) from None
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: the API signing key must be an Ed25519 private key (PEM, PKCS#8)")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """A short thumbprint of the public key, sent as the token's `kid` (rotation-friendly)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode().rstrip("=")


def issue_token(
    key: Ed25519PrivateKey,
    *,
    issuer: str,
    audience: str,
    sub: str,
    role: Role | str,
    province: str | None = None,
    appids: Iterable[str] = (),
    ttl: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    """A signed token for one caller. Claims are checked as the service will read them, so a
    token that would be refused is never issued (a province is canonicalised: 河北 -> 冀)."""
    role = Role(role)
    if province is not None and role is not Role.PROVINCE_REVIEWER:
        raise ValueError("--province is for a province_reviewer only")
    if appids and role is not Role.APPLICANT:
        raise ValueError("--appid is for an applicant only")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "role": role.value,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "jti": secrets.token_urlsafe(12),
    }
    if province is not None:
        claims["province"] = canonical_province(province)
    if role is Role.APPLICANT:
        listed = sorted(canonical_appids(list(appids)))
        if not listed:
            raise ValueError("an applicant's token names at least one appid (--appid wx…)")
        claims["appids"] = listed
    principal_from_claims(claims)  # the same check the service makes
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": key_id(key.public_key())})


def describe(principal: Principal) -> str:
    """One line naming a caller without personal data (for logs and `filings login`'s stderr)."""
    scope = f" province={principal.province}" if principal.province else ""
    if principal.appids:
        scope += f" appids={','.join(sorted(principal.appids))}"
    return f"{principal.role.value} {principal.sub}{scope}"
