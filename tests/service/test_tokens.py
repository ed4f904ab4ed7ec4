"""Tokens: the local signing key, `filings login`, and verification against the local key
or an OIDC provider's JWKS (served here by a small HTTP server on 127.0.0.1), including a
provider that is down or hangs for good. No Temporal needed."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.settings import ApiSettings
from service.auth import KeysUnavailable, LocalVerifier, OidcVerifier, Unauthenticated
from service.principal import Role
from service.tokens import ensure_local_signing_key, issue_token
from tests.processes import free_ports

ROOT = Path(__file__).resolve().parents[2]
API = ApiSettings()


def claims(**extra: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"iss": API.issuer, "aud": API.audience, "sub": "someone", "role": "operator", "iat": now,
            "exp": now + timedelta(minutes=5)} | extra


def test_the_signing_key_is_created_once_owner_only_even_by_racing_processes(tmp_path):
    path = tmp_path / "data" / "api-signing-key.pem"
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: ensure_local_signing_key(path), range(8)))
    raw = {k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) for k in keys}
    assert len(raw) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["api-signing-key.pem"]  # no temporary left


async def test_local_tokens_verify_and_untrusted_ones_are_refused_naming_why(tmp_path):
    key = ensure_local_signing_key(tmp_path / "key.pem")
    verifier = LocalVerifier(API, key.public_key())
    token = issue_token(key, issuer=API.issuer, audience=API.audience, sub="冀-07", role="province_reviewer",
                        province="河北省")
    principal = await verifier.verify(token)
    assert (principal.sub, principal.role, principal.province) == ("冀-07", Role.PROVINCE_REVIEWER, "冀")
    alias = await verifier.verify(issue_token(key, issuer=API.issuer, audience=API.audience, sub="s",
                                              role="province_reviewer", province="川"))
    assert alias.province == "蜀"

    untrusted = {
        "has expired": issue_token(key, issuer=API.issuer, audience=API.audience, sub="s", role="operator",
                                   now=datetime.now(UTC) - timedelta(hours=2), ttl=timedelta(hours=1)),
        "another audience": issue_token(key, issuer=API.issuer, audience="x", sub="s", role="operator"),
        "another issuer": issue_token(key, issuer="x", audience=API.audience, sub="s", role="operator"),
        "signature does not verify": issue_token(Ed25519PrivateKey.generate(), issuer=API.issuer,
                                                 audience=API.audience, sub="s", role="operator"),
        "algorithm 'none' is not accepted": jwt.encode(claims(), None, algorithm="none"),
        "algorithm 'HS256' is not accepted": jwt.encode(claims(), "a shared secret of at least 32 bytes", algorithm="HS256"),
        "lacks claim 'exp'": jwt.encode({k: v for k, v in claims().items() if k != "exp"}, key, algorithm="EdDSA"),
        "must be one of": jwt.encode(claims(role="superuser"), key, algorithm="EdDSA"),
        "names its province": jwt.encode(claims(role="province_reviewer"), key, algorithm="EdDSA"),
        "appids must look like": jwt.encode(claims(role="applicant", appids=["not-an-appid"]), key, algorithm="EdDSA"),
        "not a JWT": "abc",
    }
    for why, bad in untrusted.items():
        with pytest.raises(Unauthenticated) as refused:
            await verifier.verify(bad)
        assert why in refused.value.description, (why, refused.value.description)


def test_applicant_and_province_claims_are_checked_before_a_token_is_issued(tmp_path):
    key = ensure_local_signing_key(tmp_path / "key.pem")
    with pytest.raises(ValueError, match="at least one appid"):
        issue_token(key, issuer="i", audience="a", sub="s", role="applicant")
    with pytest.raises(ValueError, match="province_reviewer only"):
        issue_token(key, issuer="i", audience="a", sub="s", role="operator", province="冀")
    with pytest.raises(ValueError, match="not a mainland province"):
        issue_token(key, issuer="i", audience="a", sub="s", role="province_reviewer", province="火星")


# --- OIDC -----------------------------------------------------------------------------------

@pytest.fixture
async def provider() -> AsyncIterator[tuple[str, rsa.RSAPrivateKey]]:
    """A minimal identity provider: its JWKS document on 127.0.0.1."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "idp-1", "use": "sig",
                                                                                 "alg": "RS256"}

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_ports(1)[0]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/jwks", key
    finally:
        await runner.cleanup()


async def test_oidc_tokens_verify_on_the_providers_jwks_with_configured_claim_names(provider):
    url, key = provider
    settings = ApiSettings(auth="oidc", jwks_url=url, issuer="https://idp.example", audience="filings",
                           role_claim="filings_role", province_claim="filings_province", appids_claim="filings_appids")
    verifier = OidcVerifier(settings)
    now = datetime.now(UTC)
    token = jwt.encode({"iss": "https://idp.example", "aud": "filings", "sub": "u-42", "iat": now,
                        "exp": now + timedelta(minutes=5), "filings_role": "applicant",
                        "filings_appids": "wx1234567890abcdef wx0123456789abcdef"},
                       key, algorithm="RS256", headers={"kid": "idp-1"})
    principal = await verifier.verify(token)
    assert principal.role is Role.APPLICANT and principal.appids == {"wx1234567890abcdef", "wx0123456789abcdef"}

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"iss": "https://idp.example", "aud": "filings", "sub": "u-42", "iat": now,
                         "exp": now + timedelta(minutes=5), "filings_role": "operator"},
                        other, algorithm="RS256", headers={"kid": "idp-1"})
    with pytest.raises(Unauthenticated, match="signature"):
        await verifier.verify(forged)
    unknown = jwt.encode({"iss": "x"}, other, algorithm="RS256", headers={"kid": "rotated-away"})
    with pytest.raises(Unauthenticated, match="no signing key"):
        await verifier.verify(unknown)


async def test_an_identity_provider_down_or_hanging_for_good_is_503_not_a_hang():
    dead_port = free_ports(1)[0]
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        for url in (f"http://127.0.0.1:{dead_port}/jwks", f"http://127.0.0.1:{silent.getsockname()[1]}/jwks"):
            verifier = OidcVerifier(ApiSettings(auth="oidc", jwks_url=url, jwks_timeout=timedelta(seconds=1)))
            token = jwt.encode({"sub": "x"}, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                               algorithm="RS256", headers={"kid": "k"})
            began = time.monotonic()
            with pytest.raises(KeysUnavailable):
                await asyncio.wait_for(verifier.verify(token), 10)
            assert time.monotonic() - began < 5, url


async def test_filings_login_prints_the_token_alone(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    env |= {"FILINGS_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    login = [sys.executable, "-m", "cli.app", "login"]
    missing = await asyncio.to_thread(subprocess.run, [*login, "--role", "operator"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and missing.stdout == "" and "make run" in missing.stderr
    key = ensure_local_signing_key(API.signing_key_path(tmp_path))
    done = await asyncio.to_thread(subprocess.run, [*login, "--role", "applicant", "--sub", "zhang", "--appid", "wx1234567890abcdef",
                           "--ttl", "PT10M"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    principal = await LocalVerifier(API, key.public_key()).verify(token)
    assert (principal.sub, principal.role, principal.appids) == ("zhang", Role.APPLICANT, {"wx1234567890abcdef"})
    decoded = jwt.decode(token, options={"verify_signature": False})
    assert decoded["exp"] - decoded["iat"] == 600
    oidc = env | {"FILINGS_API__AUTH": "oidc", "FILINGS_API__JWKS_URL": "https://idp.example/jwks"}
    refused = await asyncio.to_thread(subprocess.run, [*login, "--role", "operator"], cwd=ROOT, env=oidc,
                                      capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stdout == "" and "identity provider" in refused.stderr


async def test_filings_login_save_keeps_one_token_per_service_and_role(tmp_path, monkeypatch):
    """Two stacks on one machine (two data dirs, services on 8400 and 8500): saving a login
    for the second leaves the first one's token in place, and each `filings` command of a
    stack finds its own."""
    from cli.tokens import choose

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    stacks = {"http://127.0.0.1:8400": tmp_path / "first", "http://127.0.0.1:8500": tmp_path / "second"}
    for url, data_dir in stacks.items():
        ensure_local_signing_key(API.signing_key_path(data_dir))
        saved = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "cli.app", "login", "--role", "operator", "--sub", f"ops-{url[-4:]}",
                             "--save"],
            cwd=ROOT, env=env | {"FILINGS_DATA_DIR": str(data_dir), "FILINGS_API_URL": url},
            capture_output=True, text=True, timeout=60)
        assert saved.returncode == 0 and saved.stdout == "", saved.stderr
        assert url in saved.stderr
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for url, data_dir in stacks.items():
        token = choose(None, False, (Role.OPERATOR,), None, url)
        assert token.sub == f"ops-{url[-4:]}"
        key = ensure_local_signing_key(API.signing_key_path(data_dir))
        assert (await LocalVerifier(API, key.public_key()).verify(token.value)).sub == token.sub
        assert stat.S_IMODE(Path(token.source).stat().st_mode) == 0o600
