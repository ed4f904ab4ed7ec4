"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the file parses,
every service a service depends on exists, the worker's environment is exactly
configuration the engine reads (and valid), the search attributes the setup job
registers are exactly SPEC §7's, host ports do not clash, images are pinned, and the
worker image is slim, non-root and healthchecked. `tests/integration/test_compose_setup.py`
runs the setup job's script itself against a real server."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.keys import Keyring
from engine.settings import Settings, env_vars
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parents[2]
#: SPEC §7, as written there.
SPEC_SEARCH_ATTRIBUTES = {
    "FilingStage": "Keyword", "FilingKind": "Keyword", "Province": "Keyword", "AppId": "Keyword",
    "SlaBreached": "Bool", "DeadlineProvisional": "Bool", "StageDeadline": "Datetime", "FilingAttempt": "Int",
}
SAMPLE_ENV = {  # what an operator's .env gives the `${VAR:?...}` the worker requires
    "FILINGS_PAYLOAD_KEYS": json.dumps(Keyring.generate("k1").dump()),
    "FILINGS_SMS_HMAC_KEYS": json.dumps(Keyring.generate("k1").dump()),
    "FILINGS_CODEC_TOKEN": "a-long-random-token",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` / `${VAR:?message}`, from SAMPLE_ENV."""
    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in SAMPLE_ENV:
            return SAMPLE_ENV[name]
        assert op == ":-", f"${{{name}}} has no default and no sample value"
        return rest

    return re.sub(r"\$\{(\w+)(:-|:\?)([^}]*)\}", one, str(value))


def depends_on(service: dict[str, Any]) -> list[str]:
    deps = service.get("depends_on", [])
    return list(deps) if isinstance(deps, (dict, list)) else []


def test_every_dependency_exists(compose):
    services = compose["services"]
    for name, service in services.items():
        for dep in depends_on(service):
            assert dep in services, f"{name} depends on unknown service {dep}"
    # The worker waits for the search attributes, which wait for a healthy server, which
    # waits for its schema, which waits for a healthy database.
    chain = ["worker", "temporal-setup", "temporal", "temporal-schema", "postgresql"]
    for later, earlier in zip(chain, chain[1:], strict=False):
        assert earlier in depends_on(services[later])
    assert services["worker"]["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert {"temporal-ui", "prometheus"} <= set(services)


def test_the_workers_environment_is_the_configuration(compose, monkeypatch):
    environment = compose["services"]["worker"]["environment"]
    assert set(environment) <= set(env_vars()), set(environment) - set(env_vars())
    for name in [n for n in os.environ if n.startswith(("FILINGS_", "TEMPORAL_"))]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, interpolate(value))
    settings = Settings()  # every value is valid
    assert settings.temporal_address == "temporal:7233" and settings.http_host == "0.0.0.0"
    assert settings.payload_keyring().current == "k1"
    # Docker's stop timeout outlasts the grace period plus the worker's own margin.
    stop = compose["services"]["worker"]["stop_grace_period"]
    assert timedelta(seconds=int(stop.rstrip("s"))) > settings.shutdown_grace + timedelta(seconds=5)
    assert compose["services"]["worker"]["healthcheck"]["test"] == ["CMD", "python", "-m", "engine.health"]


def test_the_setup_job_registers_exactly_the_specs_search_attributes(compose):
    job = compose["services"]["temporal-setup"]
    script = ROOT / "deploy" / "temporal" / Path(job["entrypoint"][-1]).name
    registered = dict(re.findall(r"--name (\w+) --type (\w+)", script.read_text(encoding="utf-8")))
    assert registered == SPEC_SEARCH_ATTRIBUTES
    assert registered == {k.name: k.indexed_value_type.name.title() for k in sa.ALL}
    assert "./deploy/temporal:/deploy:ro" in job["volumes"]


def test_ports_do_not_clash_and_workers_scale(compose):
    published = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host_ip, host_port, _ = str(port).rsplit(":", 2)
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            published.append(host_port)
    assert len(published) == len(set(published)), published
    worker = compose["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker  # `--scale worker=3`
    assert {str(p) for p in worker["expose"]} == {worker["environment"]["FILINGS_METRICS_PORT"],
                                                   worker["environment"]["FILINGS_HEALTH_PORT"]}


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service.get("image", "")
        tag = image.rpartition(":")[2]
        assert image and ":" in image and tag not in ("latest", "") and re.search(r"\d", tag), f"{name}: {image}"
    versions = {s["image"].split(":")[1] for s in compose["services"].values() if s["image"].startswith("temporalio/")
                and "/ui:" not in s["image"]}
    assert len(versions) == 1, f"server and admin-tools must share a version: {versions}"


def test_the_worker_image_is_slim_non_root_and_healthchecked():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"python:3\.11\.\d+-slim", dockerfile)
    assert re.search(r"^USER 10001", dockerfile, flags=re.MULTILINE)
    assert 'HEALTHCHECK' in dockerfile and '"engine.health"' in dockerfile
    assert 'CMD ["python", "-m", "worker"]' in dockerfile
    assert "STOPSIGNAL SIGTERM" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".data", ".env", "tests"} <= set(ignored)


def test_the_codec_servers_environment_is_the_configuration(compose, monkeypatch):
    service = compose["services"]["codec-server"]
    environment = service["environment"]
    assert set(environment) <= set(env_vars()), set(environment) - set(env_vars())
    for name in [n for n in os.environ if n.startswith(("FILINGS_", "TEMPORAL_"))]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, interpolate(value))
    settings = Settings()
    assert settings.codec_host == "0.0.0.0" and settings.codec_token is not None
    assert settings.codec_cors_origin == "http://localhost:8080"  # the compose Web UI's origin
    assert f"127.0.0.1:{settings.codec_port}:{settings.codec_port}" in service["ports"]
    assert service["command"] == ["python", "-m", "engine.codec_server"]
