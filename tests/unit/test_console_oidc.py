"""The console's OIDC client as compose runs it: the service reaches the provider inside the
network (`keycloak:8080`) while browsers and tokens use its public address (`localhost:8180`).
Discovery is read from FILINGS_CONSOLE__OIDC_DISCOVERY_URL, the browser is sent to the public
authorization endpoint the document names, the code is exchanged at the token endpoint the
document names, as the realm's client (its own setting, never the audience) with the secret
read from its mounted secret file. Run against a real HTTP server standing in for the provider."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.settings import ConsoleSettings, Settings, load_settings
from service.app import create_app
from service.console.oidc import OidcClient, Pkce, ProviderUnavailable
from tests.conftest import write_test_keys

#: What tokens carry and browsers see (KC_HOSTNAME); nothing listens there in this test.
PUBLIC_ISSUER = "http://localhost:9/realms/icp-filings"


class Provider:
    """A provider reachable only on its internal address, whose documents name the public issuer."""

    def __init__(self, issuer: str = PUBLIC_ISSUER) -> None:
        self.issuer = issuer
        self.token_forms: list[dict[str, str]] = []
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path != "/realms/icp-filings/.well-known/openid-configuration":
                    return self._answer(404, {})
                self._answer(200, {
                    "issuer": provider.issuer,
                    "authorization_endpoint": f"{PUBLIC_ISSUER}/protocol/openid-connect/auth",  # the browser's way
                    "token_endpoint": f"{provider.internal}/protocol/openid-connect/token",  # the backchannel
                })

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                provider.token_forms.append(dict(urllib.parse.parse_qsl(body)))
                self._answer(200, {"access_token": "at-1", "token_type": "Bearer"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.internal = f"http://127.0.0.1:{self.server.server_address[1]}/realms/icp-filings"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def discovery_url(self) -> str:
        return f"{self.internal}/.well-known/openid-configuration"


@pytest.fixture
def provider() -> Iterator[Provider]:
    idp = Provider()
    idp.thread.start()
    try:
        yield idp
    finally:
        idp.server.shutdown()
        idp.server.server_close()
        idp.thread.join(5)


def oidc_settings(tmp_path: Path, discovery_url: str) -> Settings:
    """As compose and Kubernetes mount it: the secret as the file of its setting."""
    (tmp_path / "filings_console__oidc_client_secret").write_text("s3cret-from-file\n")
    return Settings(api={"auth": "oidc", "issuer": PUBLIC_ISSUER, "audience": "icp-filings",
                         "jwks_url": "http://127.0.0.1:9/certs"},
                    console={"oidc_client_id": "icp-filings-service", "oidc_discovery_url": discovery_url},
                    secrets_dir=tmp_path)


async def test_the_console_discovers_inside_the_network_and_signs_in_as_the_realms_client(provider, tmp_path):
    settings = oidc_settings(tmp_path, provider.discovery_url)
    console = settings.console
    client = OidcClient(settings.api.issuer, str(console.oidc_client_id), console, console.oidc_client_secret)
    pkce = Pkce.new()
    to = await client.authorization_url("http://localhost:8400/login/callback", "st", pkce)
    parts = urllib.parse.urlsplit(to)
    assert to.startswith(f"{PUBLIC_ISSUER}/protocol/openid-connect/auth?")  # the browser goes to the public address
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["client_id"] == "icp-filings-service" != settings.api.audience
    assert await client.exchange("code-1", "http://localhost:8400/login/callback", pkce.verifier) == "at-1"
    (form,) = provider.token_forms  # exchanged on the internal token endpoint, with the file's secret
    assert form["client_id"] == "icp-filings-service" and form["client_secret"] == "s3cret-from-file"


async def test_a_discovery_document_naming_another_issuer_is_refused(provider, tmp_path):
    provider.issuer = provider.internal  # what a provider without a fixed hostname would answer
    settings = oidc_settings(tmp_path, provider.discovery_url)
    client = OidcClient(settings.api.issuer, "icp-filings-service", settings.console)
    with pytest.raises(ProviderUnavailable, match="names another issuer"):
        await client.endpoints()


def test_without_a_discovery_url_the_issuer_is_asked():
    assert ConsoleSettings().discovery_url(PUBLIC_ISSUER + "/") == f"{PUBLIC_ISSUER}/.well-known/openid-configuration"


def test_oidc_without_the_consoles_client_id_is_refused_by_name(monkeypatch, tmp_path):
    # The service refuses to start its console without it; the CLI and the worker, which never
    # sign in at the console, load the same settings without it.
    for name, value in {"FILINGS_API__AUTH": "oidc", "FILINGS_API__JWKS_URL": "http://idp/certs",
                        "FILINGS_API__AUDIENCE": "icp-filings", "FILINGS_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.console.oidc_client_id is None
    write_test_keys(settings.data_dir)
    with pytest.raises(ValueError, match="FILINGS_CONSOLE__OIDC_CLIENT_ID is required when FILINGS_API__AUTH=oidc"):
        create_app(settings)


def test_a_malformed_discovery_url_is_refused_by_name():
    with pytest.raises(ValueError, match="FILINGS_CONSOLE__OIDC_DISCOVERY_URL must be an http"):
        ConsoleSettings(oidc_discovery_url="keycloak:8080/realms/x")
