"""Configuration in one place: environment variables (SPEC §10) with the SPEC's defaults.

An invalid value stops the process at start with pydantic's message naming the variable.
"""

from __future__ import annotations

import importlib
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from engine.keys import Keyring, KeysFile, MissingKey, load_keys_file
from filing.policy import MIN_HISTORY_BYTES_BEFORE_CONTINUE, FilingPolicy
from filing.provinces import find_province
from filing.sms_codes import SmsCodeKeys


#: The names each port's shipped implementations go by. `engine.wiring.ADAPTERS` maps them to
#: factories (tests/unit/test_imports.py keeps the two equal); they are listed here because
#: configuration imports nothing of the project above it, so an unknown name still stops the
#: process when the settings load, before anything is built.
ADAPTER_NAMES: dict[str, tuple[str, ...]] = {
    "sms_gateway": ("local", "http"),
    "notifier": ("local", "http"),
    "review_desk": ("local", "http"),
    "face_verifier": ("local",),
    "calendar": ("local",),
    "registry": ("local",),
    "material_store": ("local", "s3"),
}


class AdapterChoice(BaseModel):
    """Which implementation serves each port (SPEC §8): a name in `ADAPTER_NAMES` or a
    factory `package.module:attribute` (loaded here, so a wrong one stops the process too),
    so a production adapter is a configuration change. `engine.wiring` builds the choice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sms_gateway: str = "local"  # FILINGS_ADAPTERS__SMS_GATEWAY
    notifier: str = "local"  # FILINGS_ADAPTERS__NOTIFIER
    review_desk: str = "local"  # FILINGS_ADAPTERS__REVIEW_DESK
    face_verifier: str = "local"  # FILINGS_ADAPTERS__FACE_VERIFIER
    calendar: str = "local"  # FILINGS_ADAPTERS__CALENDAR
    registry: str = "local"  # FILINGS_ADAPTERS__REGISTRY: SQL at FILINGS_REGISTRY_URL
    material_store: str = "local"  # FILINGS_ADAPTERS__MATERIAL_STORE: `local` files, or `s3`

    @field_validator("*")
    @classmethod
    def _known(cls, choice: str, info: ValidationInfo) -> str:
        port = str(info.field_name)
        variable, known = f"FILINGS_ADAPTERS__{port.upper()}", ADAPTER_NAMES[port]
        if choice in known:
            return choice
        module_name, sep, attribute = choice.partition(":")
        if not sep:
            raise ValueError(f"{variable}: unknown adapter {choice!r}; known: {', '.join(sorted(known))}, "
                             "or a factory as package.module:attribute")
        try:  # a plugin the operator names, loaded by name: no import of the project's own modules
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"{variable}: cannot load adapter factory {choice!r}: {err}") from None
        if not callable(factory):
            raise ValueError(f"{variable}: {choice!r} is not callable")
        return choice


#: The ports that can be served by a webhook (`http`), as FILINGS_WEBHOOK__<PORT>_URL names them.
WEBHOOK_PORTS = ("sms_gateway", "notifier", "review_desk")


class WebhookSettings(BaseModel):
    """The outside systems over HTTP (docs/outside-systems.md), FILINGS_WEBHOOK__<FIELD>: where
    each port chosen as `http` posts, the HMAC secret that signs every request (one shared, or
    one per system), and how long one attempt may take (the activity retries after that)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sms_gateway_url: str | None = None  # FILINGS_WEBHOOK__SMS_GATEWAY_URL
    notifier_url: str | None = None  # FILINGS_WEBHOOK__NOTIFIER_URL
    review_desk_url: str | None = None  # FILINGS_WEBHOOK__REVIEW_DESK_URL
    #: Signs every webhook request (X-Filings-Signature), unless the system has its own below.
    secret: SecretStr | None = None  # FILINGS_WEBHOOK__SECRET
    sms_gateway_secret: SecretStr | None = None  # FILINGS_WEBHOOK__SMS_GATEWAY_SECRET
    notifier_secret: SecretStr | None = None  # FILINGS_WEBHOOK__NOTIFIER_SECRET
    review_desk_secret: SecretStr | None = None  # FILINGS_WEBHOOK__REVIEW_DESK_SECRET
    #: One attempt at most this long (below the activity's 10 s per attempt), connecting at most
    #: `connect_timeout` of it; then the activity's retry policy tries again.
    timeout: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0), le=timedelta(seconds=9))  # FILINGS_WEBHOOK__TIMEOUT
    connect_timeout: timedelta = Field(default=timedelta(seconds=2), gt=timedelta(0), le=timedelta(seconds=9))  # FILINGS_WEBHOOK__CONNECT_TIMEOUT

    @field_validator("timeout", "connect_timeout", mode="before")
    @classmethod
    def _plain_seconds(cls, value: Any) -> Any:
        return float(value) if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()) else value

    @field_validator("sms_gateway_url", "notifier_url", "review_desk_url")
    @classmethod
    def _a_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ValueError(f"FILINGS_WEBHOOK__{str(info.field_name).upper()} must be an http(s) URL such as "
                             f"https://sms-gateway.example.cn/v1/send, not {value!r}")
        return value.strip()

    @field_validator("secret", "sms_gateway_secret", "notifier_secret", "review_desk_secret")
    @classmethod
    def _strong(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(f"FILINGS_WEBHOOK__{str(info.field_name).upper()} must be at least 32 characters "
                             "(e.g. `openssl rand -hex 32`)")
        return value

    def url_for(self, port: str) -> str | None:
        return getattr(self, f"{port}_url")  # type: ignore[no-any-return]

    def secret_for(self, port: str) -> SecretStr | None:
        """The system's own secret, or the shared one."""
        own: SecretStr | None = getattr(self, f"{port}_secret")
        return own or self.secret

    def problems(self, chosen: list[str]) -> list[str]:
        """What the ports chosen as `http` still need (a URL and a secret each)."""
        found = []
        for port in chosen:
            if not self.url_for(port):
                found.append(f"FILINGS_WEBHOOK__{port.upper()}_URL is required when FILINGS_ADAPTERS__{port.upper()}=http")
            if self.secret_for(port) is None:
                found.append(f"FILINGS_WEBHOOK__SECRET (or FILINGS_WEBHOOK__{port.upper()}_SECRET) is required when "
                             f"FILINGS_ADAPTERS__{port.upper()}=http: it signs every request")
        return found


class S3Settings(BaseModel):
    """The material store's S3-compatible bucket (MinIO in compose), FILINGS_S3__<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = None  # FILINGS_S3__ENDPOINT_URL, e.g. http://minio:9000
    bucket: str = "filing-materials"  # FILINGS_S3__BUCKET
    region: str = "us-east-1"  # FILINGS_S3__REGION
    access_key_id: SecretStr | None = None  # FILINGS_S3__ACCESS_KEY_ID
    secret_access_key: SecretStr | None = None  # FILINGS_S3__SECRET_ACCESS_KEY


class ApiSettings(BaseModel):
    """The filing service (SPEC §12) and its console (§13), FILINGS_API__<FIELD>.

    Durations are ISO 8601 (`PT10S`) or plain seconds; rates are the `limits` package's
    notation (`5/minute;20/hour`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"  # FILINGS_API__HOST (0.0.0.0 in a container)
    port: int = Field(default=8400, ge=1, le=65535)  # FILINGS_API__PORT
    #: The only `Host` names served (comma-separated; `*.example.cn` for subdomains): a page
    #: elsewhere cannot reach the service by DNS rebinding. Default: the loopback names and the
    #: host of FILINGS_CONSOLE__PUBLIC_URL (`Settings.allowed_hosts`). /healthz and /metrics
    #: answer any host (monitors scrape by address).
    allowed_hosts: str | None = None  # FILINGS_API__ALLOWED_HOSTS

    # --- bearer tokens (JWT) ---------------------------------------------------------
    #: Who signs the tokens the service accepts: `local` = the signing key below (`make run`,
    #: `filings login`); `oidc` = the operators' identity provider, verified on its JWKS.
    auth: Literal["local", "oidc"] = "local"  # FILINGS_API__AUTH
    #: The local signing key (Ed25519, PEM, 0600); default `<data dir>/api-signing-key.pem`.
    signing_key: Path | None = None  # FILINGS_API__SIGNING_KEY
    #: The `iss` every token must carry (OIDC: the provider's issuer URL).
    issuer: str = Field(default="filings-local", min_length=1)  # FILINGS_API__ISSUER
    #: The `aud` every token must carry (OIDC: the client id the provider issues tokens for).
    audience: str = Field(default="filings-api", min_length=1)  # FILINGS_API__AUDIENCE
    #: OIDC: the provider's JWKS document (required when FILINGS_API__AUTH=oidc).
    jwks_url: str | None = None  # FILINGS_API__JWKS_URL
    #: OIDC: how long fetched signing keys are reused before the JWKS is read again.
    jwks_cache: timedelta = Field(default=timedelta(minutes=5), gt=timedelta(0))  # FILINGS_API__JWKS_CACHE
    #: OIDC: how long one JWKS fetch may take (a provider that hangs costs this, then 401).
    jwks_timeout: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0))  # FILINGS_API__JWKS_TIMEOUT
    #: OIDC: accepted signature algorithms, comma-separated (never `none` or HMAC).
    algorithms: str = "RS256,ES256,EdDSA"  # FILINGS_API__ALGORITHMS
    #: Claim names in the provider's tokens for the role, the province and the appids.
    role_claim: str = "role"  # FILINGS_API__ROLE_CLAIM
    province_claim: str = "province"  # FILINGS_API__PROVINCE_CLAIM
    appids_claim: str = "appids"  # FILINGS_API__APPIDS_CLAIM
    #: Clock skew tolerated on `exp`, `nbf` and `iat`.
    leeway: timedelta = Field(default=timedelta(seconds=30), ge=timedelta(0), le=timedelta(minutes=10))  # FILINGS_API__LEEWAY
    #: Lifetime of the tokens `filings login` issues (its `--ttl` overrides it).
    token_ttl: timedelta = Field(default=timedelta(hours=8), gt=timedelta(0), le=timedelta(days=30))  # FILINGS_API__TOKEN_TTL

    # --- guards ------------------------------------------------------------------------
    #: Largest JSON body (an application is at most 64 KiB); larger ones answer 413.
    max_json_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)  # FILINGS_API__MAX_JSON_BYTES
    #: Largest upload (R10: 5 MiB per document, 20 MiB for a promise video, plus the multipart envelope); 413 beyond.
    max_upload_bytes: int = Field(default=21 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)  # FILINGS_API__MAX_UPLOAD_BYTES
    #: `/sms/verify` entries allowed per mobile, and per client (the token's `sub`), in memory
    #: per service replica.
    sms_verify_per_mobile: str = "5/minute;20/hour"  # FILINGS_API__SMS_VERIFY_PER_MOBILE
    sms_verify_per_client: str = "120/minute"  # FILINGS_API__SMS_VERIFY_PER_CLIENT
    #: Every call to Temporal (start, query, update, signal, list) gives up after this: 504.
    temporal_timeout: timedelta = Field(default=timedelta(seconds=10), gt=timedelta(0), le=timedelta(minutes=5))  # FILINGS_API__TEMPORAL_TIMEOUT
    #: An Idempotency-Key whose first request has not answered after this is taken over by
    #: a retry (its replica died mid-request); until then a retry answers 409.
    idempotency_claim_timeout: timedelta = Field(default=timedelta(minutes=2), gt=timedelta(0))  # FILINGS_API__IDEMPOTENCY_CLAIM_TIMEOUT
    #: Filings per page of `GET /v1/filings` (a `size` query may ask for up to `max_page_size`).
    page_size: int = Field(default=50, ge=1, le=1000)  # FILINGS_API__PAGE_SIZE
    max_page_size: int = Field(default=200, ge=1, le=1000)  # FILINGS_API__MAX_PAGE_SIZE
    #: Most provisional filings one calendar refresh reads and signals (lists and desks page
    #: on the server with bounded reads per page: engine/deadline_pages.py).
    list_limit: int = Field(default=10_000, ge=1, le=1_000_000)  # FILINGS_API__LIST_LIMIT

    def signing_key_path(self, data_dir: Path) -> Path:
        return self.signing_key or data_dir / "api-signing-key.pem"

    def algorithm_list(self) -> list[str]:
        return [a.strip() for a in self.algorithms.split(",") if a.strip()]

    @field_validator("jwks_cache", "jwks_timeout", "leeway", "token_ttl", "temporal_timeout",
                     "idempotency_claim_timeout", mode="before")
    @classmethod
    def _plain_seconds(cls, value: Any) -> Any:
        return float(value) if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()) else value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for name in (n.strip() for n in value.split(",")):
            if not re.fullmatch(r"\*|(\*\.)?[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]", name):
                raise ValueError(f"FILINGS_API__ALLOWED_HOSTS: {name!r} is not a host name (e.g. filings.example.cn, "
                                 "*.example.cn, 127.0.0.1, [::1]; no scheme or port)")
        return value

    @field_validator("sms_verify_per_mobile", "sms_verify_per_client")
    @classmethod
    def _a_rate(cls, value: str, info: ValidationInfo) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"FILINGS_API__{str(info.field_name).upper()}: {value!r} is not a rate such as "
                             "'5/minute' or '5/minute;20/hour'") from None
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: str) -> str:
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
        given = [a.strip() for a in value.split(",") if a.strip()]
        wrong = [a for a in given if a not in allowed]
        if wrong or not given:
            raise ValueError(f"FILINGS_API__ALGORITHMS: {', '.join(wrong) or 'empty'} not accepted; "
                             f"use asymmetric algorithms among {', '.join(sorted(allowed))}")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> ApiSettings:
        if self.auth == "oidc" and not self.jwks_url:
            raise ValueError("FILINGS_API__JWKS_URL is required when FILINGS_API__AUTH=oidc "
                             "(the identity provider's jwks_uri)")
        if self.max_page_size < self.page_size:
            raise ValueError("FILINGS_API__PAGE_SIZE must not exceed FILINGS_API__MAX_PAGE_SIZE")
        return self


class ConsoleSettings(BaseModel):
    """The console (SPEC §13), FILINGS_CONSOLE__<FIELD>. Only the OIDC login needs any: the
    client the console is at the identity provider, and where the provider sends the browser
    back. The provider is FILINGS_API__ISSUER (endpoints discovered from its
    `/.well-known/openid-configuration`, or from FILINGS_CONSOLE__OIDC_DISCOVERY_URL when the
    service reaches the provider by another address than browsers do); tokens are checked
    by the API's verifier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: OIDC: the console's client id at the provider (Keycloak's `icp-filings-service`), required
    #: with FILINGS_API__AUTH=oidc: a client id is not an audience, so it never defaults to one.
    oidc_client_id: str | None = None  # FILINGS_CONSOLE__OIDC_CLIENT_ID
    #: OIDC: the client secret, for a confidential client (PKCE is used either way). In compose
    #: and Kubernetes a secret file `filings_console__oidc_client_secret` in FILINGS_SECRETS_DIR.
    oidc_client_secret: SecretStr | None = None  # FILINGS_CONSOLE__OIDC_CLIENT_SECRET
    #: OIDC: where the service reads the discovery document (inside the network, e.g.
    #: http://keycloak:8080/realms/icp-filings/.well-known/openid-configuration); default
    #: `<FILINGS_API__ISSUER>/.well-known/openid-configuration`. The document must still name
    #: FILINGS_API__ISSUER, the issuer browsers see and tokens carry.
    oidc_discovery_url: str | None = None  # FILINGS_CONSOLE__OIDC_DISCOVERY_URL
    oidc_scopes: str = "openid profile"  # FILINGS_CONSOLE__OIDC_SCOPES (space-separated)
    #: OIDC: the discovery document is reused this long.
    oidc_discovery_cache: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))  # FILINGS_CONSOLE__OIDC_DISCOVERY_CACHE
    #: OIDC: one call to the provider (discovery, token exchange) at most this long.
    oidc_timeout: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0))  # FILINGS_CONSOLE__OIDC_TIMEOUT
    #: The console's public address (`https://filings.example.cn`): the redirect URI sent to the
    #: provider is `<public_url>/login/callback`, and cookies are `Secure` when it is https.
    #: Default: the address the request came to.
    public_url: str | None = None  # FILINGS_CONSOLE__PUBLIC_URL
    page_size: int = Field(default=20, ge=1, le=200)  # FILINGS_CONSOLE__PAGE_SIZE (rows per queue page)
    #: A console session ends this long after its sign-in, however busy (never later than its token).
    session_lifetime: timedelta = Field(default=timedelta(hours=8), gt=timedelta(0), le=timedelta(days=30))  # FILINGS_CONSOLE__SESSION_LIFETIME
    #: ... and this long after its last page, when nobody uses it.
    session_idle: timedelta = Field(default=timedelta(minutes=30), gt=timedelta(0), le=timedelta(days=30))  # FILINGS_CONSOLE__SESSION_IDLE

    @field_validator("public_url")
    @classmethod
    def _an_origin(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("FILINGS_CONSOLE__PUBLIC_URL must start with http:// or https://")
        return value

    @field_validator("oidc_discovery_cache", "oidc_timeout", "session_lifetime", "session_idle", mode="before")
    @classmethod
    def _plain_seconds(cls, value: object) -> object:
        return float(value) if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit() else value

    @field_validator("oidc_discovery_url")
    @classmethod
    def _discovery_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FILINGS_CONSOLE__OIDC_DISCOVERY_URL must be an http(s) URL such as "
                             f"http://keycloak:8080/realms/icp-filings/.well-known/openid-configuration, not {value!r}")
        return value.strip()

    def discovery_url(self, issuer: str) -> str:
        return self.oidc_discovery_url or f"{issuer.rstrip('/')}/.well-known/openid-configuration"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FILINGS_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    #: Secrets as files (compose `secrets:`, a Kubernetes secret volume), one per setting, named
    #: as its variable (`filings_payload_keys`, `filings_s3__secret_access_key`, `temporal_api_key`;
    #: any case). Read by the settings themselves, so a secret never enters the environment
    #: (`docker exec env`, /proc/<pid>/environ); a variable, when also set, wins. Missing: none.
    secrets_dir: Path = Path("/run/secrets")  # FILINGS_SECRETS_DIR

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the secret files (pydantic-settings' own
        reader: nested `__` names, aliases and JSON values exactly as in the environment)."""
        given = init_settings.init_kwargs.get("secrets_dir") if isinstance(init_settings, InitSettingsSource) else None
        where = given if given is not None else os.environ.get("FILINGS_SECRETS_DIR", "/run/secrets")
        secrets = NestedSecretsSettingsSource(file_secret_settings, secrets_dir=Path(where), secrets_dir_missing="ok")
        return init_settings, env_settings, secrets

    temporal_address: str = Field(default="127.0.0.1:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field(default="default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE"))
    task_queue: str = "icp-filings"  # FILINGS_TASK_QUEUE
    data_dir: Path = Path(".data")  # FILINGS_DATA_DIR
    #: Where earlier versions kept calendar override files (`<year>.json`); default
    #: `<data dir>/calendar`. No longer read (overrides live in the registry database): a worker
    #: names files left there, to import once with `filings calendar import`.
    calendar_dir: Path | None = None  # FILINGS_CALENDAR_DIR
    web_ui: str = "http://127.0.0.1:8233"  # FILINGS_WEB_UI
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # FILINGS_LOG_LEVEL
    log_format: Literal["console", "json"] = "console"  # FILINGS_LOG_FORMAT
    #: Lifecycle numbers for newly started filings, e.g. FILINGS_POLICY__SMS_RESENDS=1.
    policy: FilingPolicy = Field(default_factory=FilingPolicy)

    @property
    def calendar_path(self) -> Path:
        return self.calendar_dir or self.data_dir / "calendar"

    # --- keys and the codec (SPEC §9) -------------------------------------------
    #: Payload encryption keyring, JSON `{"current": "k2", "keys": {"k1": "<base64>", ...}}`.
    payload_keys: Keyring | None = None  # FILINGS_PAYLOAD_KEYS
    #: SMS code digest keyring (workers only), same format.
    sms_hmac_keys: Keyring | None = None  # FILINGS_SMS_HMAC_KEYS
    #: A keys file holding both rings; default `<data dir>/keys.json` (made by `make run`).
    keys_file: Path | None = None  # FILINGS_KEYS_FILE
    #: Bearer token the codec server requires (FILINGS_CODEC_TOKEN).
    codec_token: SecretStr | None = None
    codec_host: str = "127.0.0.1"  # FILINGS_CODEC_HOST (0.0.0.0 in a container)
    codec_port: int = Field(default=8081, ge=1, le=65535)  # FILINGS_CODEC_PORT
    #: Where people and tools reach the codec server (the temporal CLI's `--codec-endpoint`, the
    #: Web UI's codec endpoint): its public address behind a proxy or another name; by default
    #: `http://127.0.0.1:<FILINGS_CODEC_PORT>`. Filings started carry it, so the refusal of
    #: personal data sent without the codec names the address in force.
    codec_url: str = Field(default="", validate_default=True)  # FILINGS_CODEC_URL
    #: Browser origins the codec server answers (the Web UI), comma-separated; by default
    #: FILINGS_WEB_UI's origin under both local names (the dev server prints `localhost`).
    codec_cors_origin: str = Field(default="", validate_default=True)  # FILINGS_CODEC_CORS_ORIGIN

    @field_validator("codec_url")
    @classmethod
    def _codec_url(cls, given: str, info: ValidationInfo) -> str:
        """An http(s) address without credentials, query or fragment (tools append their paths)."""
        if not given.strip():
            return f"http://127.0.0.1:{info.data.get('codec_port', 8081)}"
        parts = urlsplit(given.strip())
        try:
            parts.port  # noqa: B018 (a port that is not a number raises)
        except ValueError:
            parts = parts._replace(scheme="")
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"FILINGS_CODEC_URL: {given.strip()!r} is not the codec server's address: give "
                             "http(s)://host[:port][/path], such as https://codec.example.cn or http://127.0.0.1:8081")
        return given.strip().rstrip("/")

    @field_validator("codec_cors_origin")
    @classmethod
    def _cors_origins(cls, given: str, info: ValidationInfo) -> str:
        """One normalised, comma-separated list: browsers send `scheme://host[:port]`, lower-case,
        without a default port, and an origin that differs in any of these is refused."""
        def origin(text: str) -> str:
            parts = urlsplit(text.strip())
            try:
                port = parts.port
            except ValueError:
                port = -1
            if (parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == -1
                    or parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc):
                raise ValueError(f"FILINGS_CODEC_CORS_ORIGIN: {text.strip()!r} is not a browser origin: give "
                                 "scheme://host[:port], comma-separated, such as http://127.0.0.1:8233,http://localhost:8233")
            scheme, host = parts.scheme.lower(), f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            default = 443 if scheme == "https" else 80
            return f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else "")

        if given.strip():
            return ",".join(dict.fromkeys(origin(part) for part in given.split(",")))
        web_ui = urlsplit(info.data.get("web_ui", "http://127.0.0.1:8233"))  # invalid: named as FILINGS_WEB_UI
        ui = origin(f"{web_ui.scheme}://{web_ui.netloc}")
        host = urlsplit(ui).hostname
        twin = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(host or "")
        return ",".join([ui, ui.replace(f"//{host}", f"//{twin}", 1)] if twin else [ui])

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.data_dir / "keys.json"

    def payload_keyring(self) -> Keyring:
        return self.payload_keys or self._keys_from_file("payload", "FILINGS_PAYLOAD_KEYS").payload

    def sms_code_keys(self) -> SmsCodeKeys:
        ring = self.sms_hmac_keys or self._keys_from_file("sms_hmac", "FILINGS_SMS_HMAC_KEYS").sms_hmac
        return SmsCodeKeys(ring.all_keys(), current=ring.current)

    def _keys_from_file(self, what: str, variable: str) -> KeysFile:
        path = self.keys_path
        if not path.exists():
            raise MissingKey(
                f"no {what} keys: set {variable}, or FILINGS_KEYS_FILE to a keys file "
                f"(`make run` creates {path} for local use)"
            )
        return load_keys_file(path)

    # --- running it: TLS / API key, telemetry, health, shutdown, adapters ------------
    # The Temporal connection variables are the official `temporal` CLI's own names, so
    # the CLI run beside a worker reaches the same server the same way.
    #: TLS on/off; default: on when an API key or a client certificate is set.
    temporal_tls: bool | None = Field(default=None, validation_alias=AliasChoices("TEMPORAL_TLS"))
    temporal_tls_client_cert_path: FilePath | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_CERT_PATH"))
    temporal_tls_client_key_path: FilePath | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_KEY_PATH"))
    temporal_tls_server_ca_cert_path: FilePath | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_TLS_SERVER_CA_CERT_PATH"))
    #: Server name to verify (SNI), when it differs from the address's host.
    temporal_tls_server_name: str | None = Field(default=None, validation_alias=AliasChoices("TEMPORAL_TLS_SERVER_NAME"))
    temporal_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TEMPORAL_API_KEY"))
    #: Interface of the metrics and health endpoints (0.0.0.0 in a container).
    http_host: str = "127.0.0.1"  # FILINGS_HTTP_HOST
    #: Prometheus `/metrics` (SDK and engine metrics); 0 turns it off.
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # FILINGS_METRICS_PORT
    #: `/healthz` (200 when connected to Temporal and polling); 0 turns it off.
    health_port: int = Field(default=9465, ge=0, le=65535)  # FILINGS_HEALTH_PORT
    #: On SIGTERM, how long running activities may finish before they are cancelled.
    shutdown_grace: timedelta = Field(default=timedelta(seconds=20), ge=timedelta(0), le=timedelta(hours=1))
    #: Filings kept in the worker's memory between tasks (about 0.3 MB each); the rest are
    #: replayed from history when they next wake. Bounds the worker's RSS, not its capacity.
    #: Kept at 500 for the RSS bound: a midnight burst larger than the cache costs CPU instead
    #: (every wake of an evicted filing replays; 2 000 SLAs at once took ~46 ms of worker CPU
    #: per filing with 500, BENCHMARKS.md "deadline storm"), and a fleet splits the burst.
    max_cached_workflows: int = Field(default=500, ge=0, le=100_000)  # FILINGS_MAX_CACHED_WORKFLOWS
    adapters: AdapterChoice = Field(default_factory=AdapterChoice)  # FILINGS_ADAPTERS__<PORT>
    #: A worker unhealthy for this many consecutive checks stops itself (its supervisor
    #: restarts it: compose does not restart a container for being unhealthy); 0 turns it off.
    watchdog_failures: int = Field(default=4, ge=0, le=1000)  # FILINGS_WATCHDOG_FAILURES
    watchdog_interval: timedelta = Field(default=timedelta(seconds=15), gt=timedelta(0), le=timedelta(hours=1))  # FILINGS_WATCHDOG_INTERVAL

    # --- the registry (§11), the material store (R10), the filing service (§12) --------
    #: SQLAlchemy URL of the registry: default `sqlite:///<data dir>/registry.db`;
    #: `postgresql+psycopg://user:pass@host/db` in production.
    registry_url: str | None = None  # FILINGS_REGISTRY_URL
    #: The registry database's password, kept out of the URL (a secret file in production):
    #: added to FILINGS_REGISTRY_URL's user when that names none.
    registry_password: SecretStr | None = None  # FILINGS_REGISTRY_PASSWORD
    s3: S3Settings = Field(default_factory=S3Settings)  # FILINGS_S3__<FIELD>
    #: The SMS gateway, notifier and review desk over HTTP (FILINGS_ADAPTERS__<PORT>=http).
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)  # FILINGS_WEBHOOK__<FIELD>
    api: ApiSettings = Field(default_factory=ApiSettings)  # FILINGS_API__<FIELD>
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)  # FILINGS_CONSOLE__<FIELD>
    #: Where tools reach the filing service (`filings` talks to it by default).
    api_url: str = Field(default="http://127.0.0.1:8400", validation_alias=AliasChoices("FILINGS_API_URL"))

    def allowed_hosts(self) -> list[str]:
        """The `Host` names the service answers: FILINGS_API__ALLOWED_HOSTS, or the loopback
        names plus the host of the console's public address."""
        if self.api.allowed_hosts:
            return [n.strip().lower() for n in self.api.allowed_hosts.split(",") if n.strip()]
        hosts = ["127.0.0.1", "localhost", "[::1]"]
        public = urlsplit(self.console.public_url).hostname if self.console.public_url else None
        if public:
            hosts.append(f"[{public}]" if ":" in public else public)
        return hosts

    # --- the fleet (issue: production shape) -------------------------------------
    #: SMS sends per second over the whole fleet: the activities-per-second of the SMS
    #: gateway's task queue (`<FILINGS_TASK_QUEUE>-sms`), which holds across every worker.
    sms_rate_per_second: float = Field(default=20.0, gt=0, le=10_000)  # FILINGS_SMS_RATE_PER_SECOND
    #: Worker Versioning: the deployment's name and this build's id. Versioning is on when
    #: a build id is set (compose sets it from the image); off for `make run` and tests.
    deployment_name: str = "icp-filings"  # FILINGS_DEPLOYMENT_NAME
    build_id: str | None = None  # FILINGS_BUILD_ID

    @property
    def registry_database_url(self) -> str:
        """The registry's URL, with FILINGS_REGISTRY_PASSWORD in it (messages name it through
        `registry.database.describe`, which hides the password)."""
        url = self.registry_url or f"sqlite:///{self.data_dir / 'registry.db'}"
        parts = urlsplit(url)
        if self.registry_password is None or "@" not in parts.netloc or ":" in parts.netloc.rpartition("@")[0]:
            return url
        user, _, host = parts.netloc.rpartition("@")
        password = quote(self.registry_password.get_secret_value(), safe="")
        return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))

    @property
    def tls_enabled(self) -> bool:
        if self.temporal_tls is not None:
            return self.temporal_tls
        return self.temporal_api_key is not None or self.temporal_tls_client_cert_path is not None

    @property
    def web_ui_port(self) -> int:
        """The port of `FILINGS_WEB_UI`: where `make run` serves the dev server's Web UI."""
        parts = urlsplit(self.web_ui)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @field_validator("web_ui")
    @classmethod
    def _web_ui_is_a_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FILINGS_WEB_UI must be an http(s) URL such as http://127.0.0.1:8233, not {url!r}")
        return url.rstrip("/")

    @field_validator("shutdown_grace", "watchdog_interval", mode="before")
    @classmethod
    def _seconds_are_a_duration(cls, value: Any) -> Any:
        """Durations are ISO 8601 (PT30S) or, from the environment, plain seconds ("30")."""
        return float(value) if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()) else value

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_seconds(cls, value: Any) -> Any:
        if isinstance(value, dict):
            durations = {name for name, f in FilingPolicy.model_fields.items() if f.annotation is timedelta}
            value = {k: cls._seconds_are_a_duration(v) if k in durations else v for k, v in value.items()}
        return value

    @field_validator("policy")
    @classmethod
    def _overrides_name_provinces(cls, policy: FilingPolicy) -> FilingPolicy:
        """Per-province SLA overrides may name a province by prefix, alias or name; they are
        kept by canonical prefix, which is what the workflow looks up."""
        overrides: dict[str, int] = {}
        for given, days in policy.provincial_sla_overrides.items():
            province = find_province(given)
            if province is None:
                raise ValueError(f"FILINGS_POLICY__PROVINCIAL_SLA_OVERRIDES: unknown province {given!r} "
                                 "(use a filing-number prefix such as 冀, or a name such as 河北)")
            if not 1 <= days <= 120:
                raise ValueError(f"FILINGS_POLICY__PROVINCIAL_SLA_OVERRIDES: {given} must be 1 to 120 business days")
            overrides[province.prefix] = days
        if policy.history_bytes_before_continue < MIN_HISTORY_BYTES_BEFORE_CONTINUE:
            raise ValueError(
                f"FILINGS_POLICY__HISTORY_BYTES_BEFORE_CONTINUE: {policy.history_bytes_before_continue} is below "
                f"{MIN_HISTORY_BYTES_BEFORE_CONTINUE}, the least a run grows before it continues as new "
                "(L10; a smaller bound would spend runs continuing)")
        return policy.model_copy(update={"provincial_sla_overrides": overrides})

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if (self.temporal_tls_client_cert_path is None) != (self.temporal_tls_client_key_path is None):
            raise ValueError("TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together: set both or neither")
        if self.temporal_tls is False and self.temporal_tls_client_cert_path is not None:
            raise ValueError("TEMPORAL_TLS is false but TEMPORAL_TLS_CLIENT_CERT_PATH is set: mTLS needs TLS")
        if self.metrics_port and self.metrics_port == self.health_port:
            raise ValueError(f"FILINGS_METRICS_PORT and FILINGS_HEALTH_PORT are both {self.metrics_port}: give them different ports")
        webhook_problems = self.webhook.problems([p for p in WEBHOOK_PORTS if getattr(self.adapters, p) == "http"])
        if webhook_problems:
            raise ValueError("; ".join(webhook_problems))
        return self


def env_var(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a setting (a pydantic error location)."""
    if not loc:
        return ""
    head, *rest = (str(part) for part in loc)
    field = Settings.model_fields.get(head)
    if field is None:  # already an alias (TEMPORAL_ADDRESS) or unknown
        return head.upper()
    alias = field.validation_alias
    name = alias.choices[0] if isinstance(alias, AliasChoices) else f"FILINGS_{head.upper()}"
    annotation = field.annotation
    if rest and isinstance(annotation, type) and issubclass(annotation, BaseModel) and rest[0] in annotation.model_fields:
        name += f"__{rest[0].upper()}"
    return str(name)


def env_vars() -> list[str]:
    """Every variable the settings read, nested models one variable per field (the README's table)."""
    names: list[str] = []
    for field_name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += [env_var((field_name, sub)) for sub in annotation.model_fields]
        else:
            names.append(env_var((field_name,)))
    return names


def configuration_errors(err: ValidationError) -> list[str]:
    """One line per invalid value, each naming its environment variable."""
    lines = []
    for error in err.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        variable = env_var(tuple(error["loc"]))
        lines.append(message if not variable or message.startswith(variable) else f"{variable}: {message}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Settings for a process that is starting: an invalid value stops it, naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        lines = configuration_errors(err)
    except SettingsError as err:  # a nested value that is not JSON: pydantic-settings names the field
        field = re.search(r'field "(\w+)"', str(err))
        variable = env_var((field.group(1),)) if field else "?"
        lines = [f"{variable} (or {variable}__<FIELD>): {err}: is it valid JSON?"]
    raise SystemExit("invalid configuration:\n" + "\n".join(f"  {line}" for line in lines))
