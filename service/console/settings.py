"""The console's own settings, FILINGS_CONSOLE__<FIELD> (the rest is FILINGS_API__*).

Only the OIDC login needs any: the client the console is at the identity provider and
where the provider sends the browser back. The provider itself is FILINGS_API__ISSUER
(its endpoints are discovered from `{issuer}/.well-known/openid-configuration`) and the
tokens are checked by the API's own verifier (FILINGS_API__JWKS_URL, audience, claims).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FILINGS_CONSOLE__", extra="ignore", frozen=True)

    #: OIDC: the console's client id at the provider; default FILINGS_API__AUDIENCE.
    oidc_client_id: str | None = None  # FILINGS_CONSOLE__OIDC_CLIENT_ID
    #: OIDC: the client secret, for a confidential client (PKCE is used either way).
    oidc_client_secret: SecretStr | None = None  # FILINGS_CONSOLE__OIDC_CLIENT_SECRET
    #: OIDC: scopes asked for, space-separated.
    oidc_scopes: str = "openid profile"  # FILINGS_CONSOLE__OIDC_SCOPES
    #: OIDC: the discovery document is reused this long.
    oidc_discovery_cache: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))  # FILINGS_CONSOLE__OIDC_DISCOVERY_CACHE
    #: OIDC: one call to the provider (discovery, token exchange) at most this long.
    oidc_timeout: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0))  # FILINGS_CONSOLE__OIDC_TIMEOUT
    #: The console's public address (`https://filings.example.cn`): the redirect URI sent to the
    #: provider is `<public_url>/login/callback`, and cookies are `Secure` when it is https.
    #: Default: the address the request came to.
    public_url: str | None = None  # FILINGS_CONSOLE__PUBLIC_URL
    #: Rows per page of a queue.
    page_size: int = Field(default=20, ge=1, le=200)  # FILINGS_CONSOLE__PAGE_SIZE

    @field_validator("public_url")
    @classmethod
    def _an_origin(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("FILINGS_CONSOLE__PUBLIC_URL must start with http:// or https://")
        return value

    @field_validator("oidc_discovery_cache", "oidc_timeout", mode="before")
    @classmethod
    def _plain_seconds(cls, value: object) -> object:
        return float(value) if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit() else value


def load_console_settings() -> ConsoleSettings:
    """From the environment; an invalid value stops the service naming the variable."""
    try:
        return ConsoleSettings()
    except ValidationError as err:
        lines = [f"FILINGS_CONSOLE__{'__'.join(str(p).upper() for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ValueError("invalid console configuration: " + "; ".join(lines)) from None
