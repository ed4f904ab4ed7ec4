"""Configuration: the SPEC's defaults, every environment variable, and invalid values
stopping the process with a message naming the variable. Also the README's table and
the `Client.connect` arguments built from the TLS / API-key settings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import TLSConfig

from engine.client import connect_options
from engine.keys import Keyring
from engine.settings import Settings, env_vars, load_settings
from engine.wiring import build_ports
from filing.policy import FilingPolicy
from tests.conftest import write_test_keys

ROOT = Path(__file__).resolve().parents[2]
RING = json.dumps(Keyring.generate("k9").dump())


class FakeGateway:
    """A stand-in production adapter, named by FILINGS_ADAPTERS__* as `module:attribute`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


FACTORY = f"{__name__}:FakeGateway"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only what a test sets: the developer's or CI's own variables must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith(("FILINGS_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def pem(tmp_path: Path) -> Callable[[str], str]:
    def make(name: str) -> str:
        path = tmp_path / name
        path.write_bytes(f"-----BEGIN {name}-----\n".encode())
        return str(path)

    return make


def test_defaults_are_the_specs():
    s = load_settings()
    assert (s.temporal_address, s.temporal_namespace, s.task_queue, s.data_dir) == (
        "127.0.0.1:7233", "default", "icp-filings", Path(".data"))
    assert s.policy == FilingPolicy()  # 2 / 20 business days, 24 h, 5 entries, 1 resend, 30 days
    assert (s.policy.platform_sla_business_days, s.policy.provincial_sla_business_days) == (2, 20)
    assert (s.log_level, s.log_format) == ("INFO", "console")
    assert (s.http_host, s.metrics_port, s.health_port) == ("127.0.0.1", 9464, 9465)
    assert s.shutdown_grace == timedelta(seconds=20)
    assert s.web_ui == "http://127.0.0.1:8233" and s.web_ui_port == 8233
    assert not s.tls_enabled and s.temporal_api_key is None
    assert s.adapters.model_dump() == dict.fromkeys(s.adapters.model_dump(), "local")
    assert connect_options(s) == {"tls": False}


# variable -> (value, companion variables, what to read back, expected)
CASES: dict[str, tuple[str, dict[str, str], Callable[[Settings], Any], Any]] = {
    "TEMPORAL_ADDRESS": ("temporal.example:7233", {}, lambda s: s.temporal_address, "temporal.example:7233"),
    "TEMPORAL_NAMESPACE": ("filings", {}, lambda s: s.temporal_namespace, "filings"),
    "FILINGS_TASK_QUEUE": ("tq-b", {}, lambda s: s.task_queue, "tq-b"),
    "FILINGS_DATA_DIR": ("/srv/filings", {}, lambda s: s.data_dir, Path("/srv/filings")),
    "FILINGS_CALENDAR_DIR": ("/srv/calendar", {}, lambda s: s.calendar_path, Path("/srv/calendar")),
    "FILINGS_WEB_UI": ("https://ui.example/", {}, lambda s: (s.web_ui, s.web_ui_port), ("https://ui.example", 443)),
    "FILINGS_LOG_LEVEL": ("DEBUG", {}, lambda s: s.log_level, "DEBUG"),
    "FILINGS_LOG_FORMAT": ("json", {}, lambda s: s.log_format, "json"),
    "FILINGS_POLICY__PLATFORM_SLA_BUSINESS_DAYS": ("1", {}, lambda s: s.policy.platform_sla_business_days, 1),
    "FILINGS_POLICY__PROVINCIAL_SLA_BUSINESS_DAYS": ("15", {}, lambda s: s.policy.provincial_sla_business_days, 15),
    "FILINGS_POLICY__PROVINCIAL_SLA_OVERRIDES": (
        '{"河北": 15, "川": 10, "粤": 12}', {}, lambda s: s.policy.provincial_sla_overrides, {"冀": 15, "蜀": 10, "粤": 12}),
    "FILINGS_POLICY__SMS_WINDOW": ("PT12H", {}, lambda s: s.policy.sms_window, timedelta(hours=12)),
    "FILINGS_POLICY__SMS_ATTEMPTS_PER_CODE": ("3", {}, lambda s: s.policy.sms_attempts_per_code, 3),
    "FILINGS_POLICY__SMS_RESENDS": ("0", {}, lambda s: s.policy.sms_resends, 0),
    "FILINGS_POLICY__RESUBMISSION_WINDOW": ("P10D", {}, lambda s: s.policy.resubmission_window, timedelta(days=10)),
    "FILINGS_POLICY__OUTSIDE_SERVICE_TIMEOUT": ("1800", {}, lambda s: s.policy.outside_service_timeout, timedelta(minutes=30)),
    "FILINGS_PAYLOAD_KEYS": (RING, {}, lambda s: s.payload_keyring().current, "k9"),
    "FILINGS_SMS_HMAC_KEYS": (RING, {}, lambda s: s.sms_hmac_keys.current, "k9"),
    "FILINGS_KEYS_FILE": ("/run/secrets/keys.json", {}, lambda s: s.keys_path, Path("/run/secrets/keys.json")),
    "FILINGS_SECRETS_DIR": ("/var/run/filings-secrets", {}, lambda s: s.secrets_dir, Path("/var/run/filings-secrets")),
    "FILINGS_REGISTRY_PASSWORD": ("pa ss@1", {"FILINGS_REGISTRY_URL": "postgresql+psycopg://filings@db/filings"},
                                  lambda s: s.registry_database_url, "postgresql+psycopg://filings:pa%20ss%401@db/filings"),
    "FILINGS_CODEC_TOKEN": ("s3cret", {}, lambda s: s.codec_token.get_secret_value(), "s3cret"),
    "FILINGS_CODEC_HOST": ("0.0.0.0", {}, lambda s: s.codec_host, "0.0.0.0"),
    "FILINGS_CODEC_PORT": ("9081", {}, lambda s: s.codec_port, 9081),
    "FILINGS_CODEC_URL": ("https://codec.example.cn/", {}, lambda s: s.codec_url, "https://codec.example.cn"),
    "FILINGS_CODEC_CORS_ORIGIN": ("http://localhost:8080", {}, lambda s: s.codec_cors_origin, "http://localhost:8080"),
    "TEMPORAL_TLS": ("true", {}, lambda s: connect_options(s)["tls"], TLSConfig()),
    "TEMPORAL_TLS_CLIENT_CERT_PATH": ("@cert", {"TEMPORAL_TLS_CLIENT_KEY_PATH": "@key"},
                                      lambda s: connect_options(s)["tls"].client_cert, b"-----BEGIN cert-----\n"),
    "TEMPORAL_TLS_CLIENT_KEY_PATH": ("@key", {"TEMPORAL_TLS_CLIENT_CERT_PATH": "@cert"},
                                     lambda s: connect_options(s)["tls"].client_private_key, b"-----BEGIN key-----\n"),
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": ("@ca", {"TEMPORAL_TLS": "true"},
                                         lambda s: connect_options(s)["tls"].server_root_ca_cert, b"-----BEGIN ca-----\n"),
    "TEMPORAL_TLS_SERVER_NAME": ("temporal.internal", {"TEMPORAL_TLS": "true"},
                                 lambda s: connect_options(s)["tls"].domain, "temporal.internal"),
    "TEMPORAL_API_KEY": ("key-123", {}, lambda s: (connect_options(s)["api_key"], connect_options(s)["tls"]),
                         ("key-123", TLSConfig())),
    "FILINGS_HTTP_HOST": ("0.0.0.0", {}, lambda s: s.http_host, "0.0.0.0"),
    "FILINGS_METRICS_PORT": ("0", {}, lambda s: s.metrics_port, 0),
    "FILINGS_HEALTH_PORT": ("19465", {}, lambda s: s.health_port, 19465),
    "FILINGS_SHUTDOWN_GRACE": ("PT45S", {}, lambda s: s.shutdown_grace, timedelta(seconds=45)),
    "FILINGS_MAX_CACHED_WORKFLOWS": ("200", {}, lambda s: s.max_cached_workflows, 200),
    **{
        f"FILINGS_ADAPTERS__{port.upper()}": (FACTORY, {}, lambda s, p=port: getattr(s.adapters, p), FACTORY)
        for port in ("sms_gateway", "notifier", "review_desk", "face_verifier", "calendar", "registry", "material_store")
    },
    "FILINGS_POLICY__HISTORY_EVENTS_BEFORE_CONTINUE": ("2000", {}, lambda s: s.policy.history_events_before_continue, 2000),
    "FILINGS_POLICY__HISTORY_BYTES_BEFORE_CONTINUE": ("1000000", {}, lambda s: s.policy.history_bytes_before_continue,
                                                      1_000_000),
    "FILINGS_WATCHDOG_FAILURES": ("0", {}, lambda s: s.watchdog_failures, 0),
    "FILINGS_WATCHDOG_INTERVAL": ("30", {}, lambda s: s.watchdog_interval, timedelta(seconds=30)),
    "FILINGS_REGISTRY_URL": ("postgresql+psycopg://filings@db/filings", {}, lambda s: s.registry_database_url,
                             "postgresql+psycopg://filings@db/filings"),
    "FILINGS_S3__ENDPOINT_URL": ("http://minio:9000", {}, lambda s: s.s3.endpoint_url, "http://minio:9000"),
    "FILINGS_S3__BUCKET": ("scans", {}, lambda s: s.s3.bucket, "scans"),
    "FILINGS_S3__REGION": ("cn-north-1", {}, lambda s: s.s3.region, "cn-north-1"),
    "FILINGS_S3__ACCESS_KEY_ID": ("AK", {}, lambda s: s.s3.access_key_id.get_secret_value(), "AK"),
    "FILINGS_S3__SECRET_ACCESS_KEY": ("SK", {}, lambda s: s.s3.secret_access_key.get_secret_value(), "SK"),
    **{
        f"FILINGS_WEBHOOK__{port.upper()}_URL": (f"https://{port}.example.cn/hook", {},
                                                 lambda s, p=port: s.webhook.url_for(p), f"https://{port}.example.cn/hook")
        for port in ("sms_gateway", "notifier", "review_desk")
    },
    "FILINGS_WEBHOOK__SECRET": ("s" * 32, {}, lambda s: s.webhook.secret_for("notifier").get_secret_value(), "s" * 32),
    **{
        f"FILINGS_WEBHOOK__{port.upper()}_SECRET": ("o" * 40, {"FILINGS_WEBHOOK__SECRET": "s" * 32},
                                                    lambda s, p=port: s.webhook.secret_for(p).get_secret_value(), "o" * 40)
        for port in ("sms_gateway", "notifier", "review_desk")
    },
    "FILINGS_WEBHOOK__TIMEOUT": ("3", {}, lambda s: s.webhook.timeout, timedelta(seconds=3)),
    "FILINGS_WEBHOOK__CONNECT_TIMEOUT": ("PT0.5S", {}, lambda s: s.webhook.connect_timeout, timedelta(milliseconds=500)),
    "FILINGS_API_URL": ("http://filings.internal:8400", {}, lambda s: s.api_url, "http://filings.internal:8400"),
    "FILINGS_SMS_RATE_PER_SECOND": ("5", {}, lambda s: s.sms_rate_per_second, 5.0),
    "FILINGS_DEPLOYMENT_NAME": ("icp", {}, lambda s: s.deployment_name, "icp"),
    "FILINGS_BUILD_ID": ("2026.11.30-abc", {}, lambda s: s.build_id, "2026.11.30-abc"),
    "FILINGS_API__HOST": ("0.0.0.0", {}, lambda s: s.api.host, "0.0.0.0"),
    "FILINGS_API__PORT": ("18400", {}, lambda s: s.api.port, 18400),
    "FILINGS_API__ALLOWED_HOSTS": ("filings.example.cn, *.corp.example", {}, lambda s: s.allowed_hosts(),
                                   ["filings.example.cn", "*.corp.example"]),
    "FILINGS_API__AUTH": ("oidc", {"FILINGS_API__JWKS_URL": "https://idp.example/jwks",
                                   "FILINGS_CONSOLE__OIDC_CLIENT_ID": "icp-filings-service"}, lambda s: s.api.auth, "oidc"),
    "FILINGS_API__SIGNING_KEY": ("/run/secrets/api.pem", {}, lambda s: s.api.signing_key_path(s.data_dir),
                                 Path("/run/secrets/api.pem")),
    "FILINGS_API__ISSUER": ("https://idp.example/realms/x", {}, lambda s: s.api.issuer, "https://idp.example/realms/x"),
    "FILINGS_API__AUDIENCE": ("icp-filings", {}, lambda s: s.api.audience, "icp-filings"),
    "FILINGS_API__JWKS_URL": ("https://idp.example/jwks", {}, lambda s: s.api.jwks_url, "https://idp.example/jwks"),
    "FILINGS_API__JWKS_CACHE": ("600", {}, lambda s: s.api.jwks_cache, timedelta(minutes=10)),
    "FILINGS_API__JWKS_TIMEOUT": ("PT2S", {}, lambda s: s.api.jwks_timeout, timedelta(seconds=2)),
    "FILINGS_API__ALGORITHMS": ("RS256", {}, lambda s: s.api.algorithm_list(), ["RS256"]),
    "FILINGS_API__ROLE_CLAIM": ("filings_role", {}, lambda s: s.api.role_claim, "filings_role"),
    "FILINGS_API__PROVINCE_CLAIM": ("filings_province", {}, lambda s: s.api.province_claim, "filings_province"),
    "FILINGS_API__APPIDS_CLAIM": ("filings_appids", {}, lambda s: s.api.appids_claim, "filings_appids"),
    "FILINGS_API__LEEWAY": ("5", {}, lambda s: s.api.leeway, timedelta(seconds=5)),
    "FILINGS_API__TOKEN_TTL": ("PT1H", {}, lambda s: s.api.token_ttl, timedelta(hours=1)),
    "FILINGS_API__MAX_JSON_BYTES": ("131072", {}, lambda s: s.api.max_json_bytes, 131072),
    "FILINGS_API__MAX_UPLOAD_BYTES": ("7340032", {}, lambda s: s.api.max_upload_bytes, 7340032),
    "FILINGS_API__SMS_VERIFY_PER_MOBILE": ("3/minute", {}, lambda s: s.api.sms_verify_per_mobile, "3/minute"),
    "FILINGS_API__SMS_VERIFY_PER_CLIENT": ("60/minute", {}, lambda s: s.api.sms_verify_per_client, "60/minute"),
    "FILINGS_API__TEMPORAL_TIMEOUT": ("PT3S", {}, lambda s: s.api.temporal_timeout, timedelta(seconds=3)),
    "FILINGS_API__IDEMPOTENCY_CLAIM_TIMEOUT": ("300", {}, lambda s: s.api.idempotency_claim_timeout, timedelta(minutes=5)),
    "FILINGS_API__PAGE_SIZE": ("20", {}, lambda s: s.api.page_size, 20),
    "FILINGS_API__MAX_PAGE_SIZE": ("100", {}, lambda s: s.api.max_page_size, 100),
    "FILINGS_API__LIST_LIMIT": ("500", {}, lambda s: s.api.list_limit, 500),
    "FILINGS_CONSOLE__OIDC_CLIENT_ID": ("console", {}, lambda s: s.console.oidc_client_id, "console"),
    "FILINGS_CONSOLE__OIDC_CLIENT_SECRET": ("s3", {}, lambda s: s.console.oidc_client_secret.get_secret_value(), "s3"),
    "FILINGS_CONSOLE__OIDC_DISCOVERY_URL": (
        "http://keycloak:8080/realms/x/.well-known/openid-configuration", {},
        lambda s: s.console.discovery_url("https://idp.example/realms/x"),
        "http://keycloak:8080/realms/x/.well-known/openid-configuration"),
    "FILINGS_CONSOLE__OIDC_SCOPES": ("openid", {}, lambda s: s.console.oidc_scopes, "openid"),
    "FILINGS_CONSOLE__OIDC_DISCOVERY_CACHE": ("60", {}, lambda s: s.console.oidc_discovery_cache, timedelta(minutes=1)),
    "FILINGS_CONSOLE__OIDC_TIMEOUT": ("PT2S", {}, lambda s: s.console.oidc_timeout, timedelta(seconds=2)),
    "FILINGS_CONSOLE__PUBLIC_URL": ("https://filings.example.cn/", {}, lambda s: s.console.public_url,
                                    "https://filings.example.cn"),
    "FILINGS_CONSOLE__PAGE_SIZE": ("50", {}, lambda s: s.console.page_size, 50),
    "FILINGS_CONSOLE__SESSION_LIFETIME": ("PT4H", {}, lambda s: s.console.session_lifetime, timedelta(hours=4)),
    "FILINGS_CONSOLE__SESSION_IDLE": ("90", {}, lambda s: s.console.session_idle, timedelta(seconds=90)),
}


def test_every_variable_is_covered_here():
    assert set(CASES) == set(env_vars())


@pytest.mark.parametrize("variable", sorted(CASES))
def test_every_variable_is_read(variable, monkeypatch, pem):
    value, companions, read, expected = CASES[variable]
    for name, given in {variable: value, **companions}.items():
        monkeypatch.setenv(name, pem(given[1:]) if given.startswith("@") else given)
    assert read(load_settings()) == expected


def test_the_codec_address_defaults_to_the_local_codec_server(monkeypatch):
    """What the banner, the Web UI and the workflow's refusal name when FILINGS_CODEC_URL is not set."""
    monkeypatch.setenv("FILINGS_CODEC_PORT", "9081")
    assert load_settings().codec_url == "http://127.0.0.1:9081"


INVALID = {
    "TEMPORAL_TLS": "maybe",
    "TEMPORAL_TLS_CLIENT_CERT_PATH": "/no/such/cert.pem",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/no/such/ca.pem",
    "FILINGS_LOG_LEVEL": "LOUD",
    "FILINGS_LOG_FORMAT": "xml",
    "FILINGS_WEB_UI": "temporal-ui",
    "FILINGS_METRICS_PORT": "70000",
    "FILINGS_HEALTH_PORT": "-1",
    "FILINGS_SHUTDOWN_GRACE": "forever",
    "FILINGS_MAX_CACHED_WORKFLOWS": "-1",
    "FILINGS_CODEC_PORT": "0",
    "FILINGS_CODEC_URL": "codec.example.cn:8081",  # no scheme
    "FILINGS_API__ALLOWED_HOSTS": "https://filings.example.cn:443",  # a URL, not a host name
    "FILINGS_PAYLOAD_KEYS": "not json",
    "FILINGS_POLICY__SMS_RESENDS": "9",
    "FILINGS_POLICY__SMS_WINDOW": "soon",
    "FILINGS_POLICY__PLATFORM_SLA_BUSINESS_DAYS": "0",
    "FILINGS_POLICY__PROVINCIAL_SLA_OVERRIDES": '{"火星": 3}',
    "FILINGS_POLICY__HISTORY_BYTES_BEFORE_CONTINUE": "200000",  # below the floor: runs would spend themselves continuing
    "FILINGS_ADAPTERS__SMS_GATEWAY": "twilio",
    "FILINGS_ADAPTERS__NOTIFIER": "no_such_module:build",
    "FILINGS_WEBHOOK__SMS_GATEWAY_URL": "sms-gateway.example.cn/send",  # no scheme
    "FILINGS_WEBHOOK__SECRET": "short",
    "FILINGS_WEBHOOK__TIMEOUT": "PT30S",  # longer than the activity's attempt
}


@pytest.mark.parametrize("variable", sorted(INVALID))
def test_an_invalid_value_stops_the_process_naming_the_variable(variable, monkeypatch):
    monkeypatch.setenv(variable, INVALID[variable])
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    message = str(stopped.value.code)
    assert message.startswith("invalid configuration:")
    assert re.search(rf"\b{variable}\b", message), message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "@cert"}, "TEMPORAL_TLS_CLIENT_KEY_PATH"),
        ({"TEMPORAL_TLS": "false", "TEMPORAL_TLS_CLIENT_CERT_PATH": "@c", "TEMPORAL_TLS_CLIENT_KEY_PATH": "@k"}, "TEMPORAL_TLS"),
        ({"FILINGS_METRICS_PORT": "9465"}, "FILINGS_HEALTH_PORT"),
        ({"FILINGS_POLICY__PROVINCIAL_SLA_OVERRIDES": "not json"}, "FILINGS_POLICY"),
        ({"FILINGS_POLICY__PROVINCIAL_SLA_OVERRIDES": '{"冀": 500}'}, "FILINGS_POLICY__PROVINCIAL_SLA_OVERRIDES"),
        ({"FILINGS_ADAPTERS__SMS_GATEWAY": "http", "FILINGS_WEBHOOK__SECRET": "s" * 32}, "FILINGS_WEBHOOK__SMS_GATEWAY_URL"),
        ({"FILINGS_ADAPTERS__REVIEW_DESK": "http", "FILINGS_WEBHOOK__REVIEW_DESK_URL": "https://desk.example.cn/h"},
         "FILINGS_WEBHOOK__SECRET"),
    ],
)
def test_inconsistent_values_are_named_too(given, named, monkeypatch, pem):
    for name, value in given.items():
        monkeypatch.setenv(name, pem(value[1:]) if value.startswith("@") else value)
    with pytest.raises(SystemExit, match=named):
        load_settings()


def test_an_api_key_turns_tls_on_unless_told_otherwise(monkeypatch):
    monkeypatch.setenv("TEMPORAL_API_KEY", "key-123")
    monkeypatch.setenv("TEMPORAL_TLS", "false")  # e.g. a TLS-terminating proxy on localhost
    assert connect_options(load_settings()) == {"tls": False, "api_key": "key-123"}


def test_an_adapter_plugs_in_by_configuration(monkeypatch, tmp_path):
    write_test_keys(tmp_path)  # the local material store seals with the payload keys
    monkeypatch.setenv("FILINGS_ADAPTERS__SMS_GATEWAY", FACTORY)
    ports = build_ports(load_settings(data_dir=tmp_path))
    assert isinstance(ports.sms_gateway, FakeGateway) and ports.sms_gateway.settings.data_dir == tmp_path
    assert type(ports.notifier).__name__ == "FileNotifier"  # the other ports keep the local ones


def test_the_readme_table_lists_exactly_the_variables():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", section, flags=re.MULTILINE))
    assert listed == set(env_vars())
