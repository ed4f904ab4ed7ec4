"""docker-compose.yml and deploy/, checked without a Docker engine (none runs where this is
written; docs/compose.md says what was not run). Each test reads the files as compose and
the containers would, and runs what can run here for real: the secrets recipe, the
entrypoint that turns secrets into variables, the engine's settings loaded from a service's
exact environment, the healthcheck commands against a live HTTP endpoint.
`tests/integration/test_compose_setup.py` runs the setup jobs against real servers."""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.keys import Keyring
from engine.settings import Settings, env_vars
from filing.provinces import find_province
from tests.unit.compose_file import (
    ROOT,
    SECRET_NAME,
    SECRETS_DIR,
    MissingVariable,
    depends_on,
    environment,
    host_path,
    interpolate,
    load,
    one_shot,
    secret_files,
    secret_mounts,
    volume_sources,
)
from workflows import search_attributes as sa

#: SPEC §7, as written there.
SPEC_SEARCH_ATTRIBUTES = {
    "FilingStage": "Keyword", "FilingKind": "Keyword", "Province": "Keyword", "AppId": "Keyword",
    "SlaBreached": "Bool", "DeadlineProvisional": "Bool", "StageDeadline": "Datetime", "FilingAttempt": "Int",
}
#: The services running the engine's image, and what each may hold.
ENGINE_SERVICES = ("worker", "worker-previous", "service", "codec-server", "registry-migrate", "set-current-version")
#: Variables the Temporal server image renders its configuration from (temporalio/temporal
#: docker/config_template_embedded.yaml), the ones this stack sets.
TEMPORAL_SERVER_VARIABLES = {
    "DB", "DB_PORT", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD", "BIND_ON_IP",
    "DYNAMIC_CONFIG_FILE_PATH", "NUM_HISTORY_SHARDS", "PROMETHEUS_ENDPOINT",
}
ROLES = {"applicant", "platform_reviewer", "province_reviewer", "verification_site", "operator"}
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's first step: `deploy/make-secrets.sh`, here into a scratch directory."""
    target = tmp_path_factory.mktemp("stack") / "secrets"
    subprocess.run(["sh", str(DEPLOY / "make-secrets.sh"), str(target)], check=True, capture_output=True, text=True)
    return target


def mount_secrets(compose: dict[str, Any], service: dict[str, Any], made: Path, run: Path) -> Path:
    """/run/secrets as compose fills it for one service: its declared secrets only, each under
    its target name (default: the secret's), with the content of the host file the top level names."""
    run.mkdir(parents=True, exist_ok=True)
    files = secret_files(compose)
    for target, name in secret_mounts(service).items():
        (run / target).write_bytes((made / files[name].name).read_bytes())
    return run


def run_entrypoint(env: dict[str, str], secrets: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """deploy/entrypoint.sh as a container runs it, with /run/secrets standing at `secrets`."""
    moved = {name: value.replace(SECRETS_DIR, str(secrets)) for name, value in env.items()}
    clean = {"PATH": os.environ["PATH"], "SECRETS_DIR": str(secrets), "PYTHONPATH": str(ROOT), **moved}
    return subprocess.run(["sh", str(DEPLOY / "entrypoint.sh"), *command], env=clean, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


# --- order and dependencies ---------------------------------------------------------------


def test_every_dependency_exists_and_jobs_finish_before_their_users(services):
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if one_shot(services[dep]):
                assert condition == "service_completed_successfully", f"{name} must wait for job {dep} to finish"
    chain = ["worker", "temporal-setup", "temporal", "temporal-schema", "postgres-init", "postgresql"]
    for later, earlier in zip(chain, chain[1:], strict=False):
        assert earlier in depends_on(services[later]), f"{later} must wait for {earlier}"
    for user in ("worker", "service"):
        assert {"registry-migrate", "minio-setup", "temporal-setup"} <= set(depends_on(services[user]))
    assert depends_on(services["registry-migrate"]) == {"postgres-init": "service_completed_successfully"}
    assert depends_on(services["service"])["keycloak"] == "service_healthy"
    assert services["registry-migrate"]["command"] == ["filings", "registry", "migrate"]


def test_the_build_is_made_current_once_its_workers_are_healthy_on_every_up(services):
    """Workers poll as a version of their deployment; until one is current no filing moves
    (issue 20). The job runs the image's own build id, after the workers are healthy, once."""
    job = services["set-current-version"]
    assert depends_on(job) == {"worker": "service_healthy"}
    assert job["command"][:3] == ["python", "-m", "engine.set_current_version"]
    assert job["restart"] == "no" and one_shot(job) and "secrets" not in job
    assert job["image"] == services["worker"]["image"] and job["build"] == services["worker"]["build"]
    env, worker = environment(job), environment(services["worker"])
    for shared in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "FILINGS_TASK_QUEUE", "FILINGS_DEPLOYMENT_NAME"):
        assert env[shared] == worker[shared], shared


def test_the_setup_job_registers_exactly_the_specs_search_attributes(services):
    job = services["temporal-setup"]
    script = host_path(job, job["entrypoint"][-1])
    assert script is not None and script.exists()
    registered = dict(re.findall(r"--name (\w+) --type (\w+)", script.read_text(encoding="utf-8")))
    assert registered == SPEC_SEARCH_ATTRIBUTES
    assert registered == {k.name: k.indexed_value_type.name.title() for k in sa.ALL}
    # Retention is applied on every run, not only when the namespace is created.
    assert "namespace update" in script.read_text(encoding="utf-8")
    assert environment(job)["NAMESPACE_RETENTION"] == "30d"


# --- the Temporal server ------------------------------------------------------------------


def test_the_server_has_its_dynamic_config_file(services):
    server = services["temporal"]
    path = environment(server)["DYNAMIC_CONFIG_FILE_PATH"]
    assert path.startswith("/"), "name the file by an absolute path: the image's working directory may change"
    on_host = host_path(server, path)
    assert on_host is not None, f"{path} is not mounted into the server"
    assert on_host.is_file() and on_host.is_relative_to(DEPLOY / "temporal" / "dynamicconfig")
    config = yaml.safe_load(on_host.read_text(encoding="utf-8"))
    assert isinstance(config, dict) and config
    for key, values in config.items():
        assert re.fullmatch(r"[a-z]+(\.[A-Za-z0-9]+)+", key), key
        assert isinstance(values, list) and values, key
        for entry in values:
            assert set(entry) <= {"value", "constraints"} and "value" in entry, key
            assert set(entry.get("constraints") or {}) <= {"namespace", "taskQueueName", "taskType"}, key
    assert config["limit.maxIDLength"] == [{"value": 255, "constraints": {}}]


def test_history_shards_are_chosen_not_inherited(services):
    shards = int(environment(services["temporal"])["NUM_HISTORY_SHARDS"])
    assert shards > 4, "4 is the template's default, fixed for ever at the cluster's creation"
    assert shards & (shards - 1) == 0, "a power of two, as Temporal recommends"


def test_the_servers_variables_are_the_images_own(compose, services, secrets_dir, tmp_path):
    server = services["temporal"]
    env = environment(server)
    given = {name.removesuffix("_FILE") if name.endswith("_FILE") else name for name in env}
    assert given <= TEMPORAL_SERVER_VARIABLES, given - TEMPORAL_SERVER_VARIABLES
    assert env["POSTGRES_USER"] == "temporal", "the server connects as its own role, not the superuser"
    # The entrypoint hands the image's entrypoint the password read from the secret.
    assert server["entrypoint"][-1] == "/deploy/entrypoint.sh" and server["command"] == ["/etc/temporal/entrypoint.sh"]
    assert host_path(server, "/deploy/entrypoint.sh") == DEPLOY / "entrypoint.sh"
    mounted = mount_secrets(compose, server, secrets_dir, tmp_path / "run-secrets")
    done = run_entrypoint(env, mounted, "sh", "-c", 'test "$POSTGRES_PWD" = "$(cat "$0")"',
                          str(secrets_dir / "temporal_db_password"))
    assert done.returncode == 0, done.stderr
    port = env["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert port in {str(p) for p in server["expose"]}


# --- Prometheus ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(services) -> dict[str, Any]:
    service = services["prometheus"]
    config_path = host_path(service, "/etc/prometheus/prometheus.yml")
    assert config_path is not None
    return yaml.safe_load(config_path.read_text(encoding="utf-8"))


def test_prometheus_scrapes_the_server_every_worker_and_every_service_replica(services, prometheus):
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    server_port = environment(services["temporal"])["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [f"temporal:{server_port}"]

    worker = jobs["filings-worker"]["dns_sd_configs"][0]
    assert set(worker["names"]) == {"worker", "worker-previous"}
    assert str(worker["port"]) == environment(services["worker"])["FILINGS_METRICS_PORT"]

    service = jobs["filings-service"]
    assert service.get("metrics_path", "/metrics") == "/metrics"
    assert service["dns_sd_configs"][0]["names"] == ["service"]
    assert str(service["dns_sd_configs"][0]["port"]) == environment(services["service"])["FILINGS_API__PORT"]


def test_prometheus_keeps_its_data_and_loads_the_alert_rules(services, prometheus):
    service = services["prometheus"]
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in service["command"])
    storage = flags["storage.tsdb.path"]
    assert volume_sources(service)[storage] == "prometheus-data" and "prometheus-data" in load()["volumes"]
    assert flags["config.file"] == "/etc/prometheus/prometheus.yml"
    for rules in prometheus["rule_files"]:
        assert host_path(service, rules) == DEPLOY / "prometheus" / "alerts.yml"


def test_the_alert_rules_are_well_formed_and_watch_what_matters(services):
    rules_file = host_path(services["prometheus"], "/etc/prometheus/alerts.yml")
    assert rules_file is not None
    document = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    names, expressions = set(), []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["rules"], group.get("name")
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"]) and rule["alert"] not in names, rule["alert"]
            names.add(rule["alert"])
            expr = rule["expr"]
            assert isinstance(expr, str) and expr.count("(") == expr.count(")"), rule["alert"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
            # Every label an annotation names must survive the expression's aggregation.
            kept = set()
            for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
                kept |= {label.strip() for label in grouping.split(",")}
            for text in rule["annotations"].values():
                for label in re.findall(r"\$labels\.(\w+)", text):
                    assert label in kept, f"{rule['alert']}: {label} is aggregated away"
            expressions.append(expr)
    every = "\n".join(expressions)
    assert re.search(r"increase\(filings_sla_breaches_total\[", every)
    assert re.search(r"increase\(temporal_workflow_task_execution_failed_total\[", every)
    for histogram in ("temporal_activity_schedule_to_start_latency", "temporal_workflow_task_schedule_to_start_latency"):
        assert re.search(rf"histogram_quantile\(0\.\d+, sum by \(le\b[^)]*\)\s*\(rate\({histogram}_bucket\[", every)


# --- secrets ------------------------------------------------------------------------------



def test_no_secret_is_an_environment_value(services):
    for name, service in services.items():
        declared = set(secret_mounts(service))
        for variable, value in environment(service).items():
            if variable.endswith("_FILE"):
                assert value.startswith(f"{SECRETS_DIR}/"), f"{name}: {variable} must name a mounted secret"
                assert value.removeprefix(f"{SECRETS_DIR}/") in declared, f"{name}: {variable} needs its secret declared"
            else:
                assert not SECRET_NAME.search(variable), f"{name}: {variable} is a secret: give {variable}_FILE"
                assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name}: {variable} carries a password"


def test_each_service_holds_only_the_secrets_it_needs(compose, services):
    holders: dict[str, set[str]] = {}
    for name, service in services.items():
        for secret in secret_mounts(service).values():
            assert secret in compose["secrets"], f"{name}: unknown secret {secret}"
            holders.setdefault(secret, set()).add(name)
    assert holders.pop("sms_hmac_keys") == {"worker", "worker-previous"}  # SPEC §9: workers only
    assert holders.pop("payload_keys") == {"worker", "worker-previous", "service", "codec-server"}
    assert holders.pop("codec_token") == {"codec-server"}
    assert holders.pop("postgres_password") == {"postgresql", "postgres-init"}
    assert holders.pop("temporal_db_password") == {"postgres-init", "temporal-schema", "temporal"}
    assert holders.pop("filings_db_password") == {"postgres-init", "registry-migrate", "worker", "worker-previous", "service"}
    assert holders.pop("minio_root_user") == holders.pop("minio_root_password") == {"minio", "minio-setup"}
    assert holders.pop("s3_access_key_id") == holders.pop("s3_secret_access_key") == {
        "minio-setup", "worker", "worker-previous", "service"}
    assert holders.pop("keycloak_admin_password") == {"keycloak"}
    assert holders.pop("keycloak_db_password") == {"postgres-init", "keycloak"}
    assert holders.pop("oidc_client_secret") == {"keycloak", "service"}  # the realm's client and the console
    assert holders.pop("temporal_ui_client_secret") == {"keycloak", "temporal-ui"}
    assert holders == {}, f"secrets nobody should hold: {holders}"


def test_the_secrets_recipe_creates_every_secret_owner_only_and_keeps_them(compose, secrets_dir):
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    files = secret_files(compose)
    assert {path.parent for path in files.values()} == {(ROOT / "secrets").resolve()}
    assert {path.name for path in files.values()} == {path.name for path in secrets_dir.iterdir()}
    for path in secrets_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, path.name  # readable in containers, see the script
        text = path.read_text(encoding="utf-8").strip()
        if path.suffix == ".json":
            assert Keyring.model_validate_json(text).current == "k1"
        else:
            assert re.fullmatch(r"[a-z]*-?[0-9a-f]{12,}", text), path.name
    before = {path.name: path.read_bytes() for path in secrets_dir.iterdir()}
    again = subprocess.run(["sh", str(DEPLOY / "make-secrets.sh"), str(secrets_dir)], capture_output=True, text=True)
    assert again.returncode == 0 and "created" not in again.stdout
    assert before == {path.name: path.read_bytes() for path in secrets_dir.iterdir()}
    # Two stacks never share a key by accident.
    assert (secrets_dir / "payload_keys.json").read_text() != (secrets_dir / "sms_hmac_keys.json").read_text()


def test_required_values_are_refused_by_name_not_defaulted():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "${FILINGS_BUILD_ID:?" in text
    with pytest.raises(MissingVariable, match="FILINGS_BUILD_ID: set FILINGS_BUILD_ID in .env"):
        interpolate(load()["services"]["worker"]["image"], env={})
    for default in re.findall(r"\$\{(\w+):-", text):
        assert not SECRET_NAME.search(default), f"{default} must not have a default"


# --- the entrypoint -----------------------------------------------------------------------


def test_the_entrypoint_turns_secret_files_into_variables(tmp_path):
    (tmp_path / "token").write_text("t0ken-value\n\n")
    done = run_entrypoint({"FILINGS_CODEC_TOKEN_FILE": f"{SECRETS_DIR}/token", "FILINGS_KEYS_FILE": f"{SECRETS_DIR}/keys",
                           "CA_BUNDLE_FILE": "/etc/ssl/certs/ca.pem"},
                          tmp_path, "sh", "-c", 'printf "%s|%s|%s|%s" "$FILINGS_CODEC_TOKEN" "${FILINGS_CODEC_TOKEN_FILE-unset}" '
                                                '"$FILINGS_KEYS_FILE" "$CA_BUNDLE_FILE"')
    assert done.returncode == 0, done.stderr
    # Trailing newlines dropped; the _FILE variable gone; settings that name files left alone.
    assert done.stdout == f"t0ken-value|unset|{tmp_path}/keys|/etc/ssl/certs/ca.pem"


@pytest.mark.parametrize(
    ("env", "status", "message"),
    [
        ({"FILINGS_CODEC_TOKEN_FILE": f"{SECRETS_DIR}/absent"}, 66, "FILINGS_CODEC_TOKEN_FILE: cannot read"),
        ({"FILINGS_CODEC_TOKEN_FILE": f"{SECRETS_DIR}/token", "FILINGS_CODEC_TOKEN": "x"}, 64,
         "both FILINGS_CODEC_TOKEN and FILINGS_CODEC_TOKEN_FILE are set"),
        ({"FILINGS_CODEC_TOKEN_FILE": f"{SECRETS_DIR}/empty"}, 65, "FILINGS_CODEC_TOKEN_FILE: "),
    ],
)
def test_the_entrypoint_refuses_a_missing_or_ambiguous_secret_by_name(tmp_path, env, status, message):
    (tmp_path / "token").write_text("never-printed-value")
    (tmp_path / "empty").write_text("")
    done = run_entrypoint(env, tmp_path, "true")
    assert done.returncode == status and message in done.stderr
    assert "never-printed-value" not in done.stderr + done.stdout


# --- the engine's processes: their environment is the configuration -------------------------


def settings_inside(env: dict[str, str], secrets: Path) -> dict[str, Any]:
    """What the process would load: the image has no entrypoint script, the command starts with
    the service's environment and its secrets mounted (here at `secrets`, FILINGS_SECRETS_DIR),
    and the settings read the files. No secret may be in the process's environment."""
    probe = (
        "import json, os; from engine.settings import Settings; s = Settings()\n"
        "environ = open('/proc/self/environ', 'rb').read().decode()\n"
        "leaked = [p.name for p in __import__('pathlib').Path(os.environ['FILINGS_SECRETS_DIR']).iterdir()"
        " if p.read_text().strip() in environ]\n"
        "def has(f):\n"
        "    try: return f() is not None\n"
        "    except Exception: return False\n"
        "def s3_key(s):\n"  # what the material store's boto3 client authenticates with
        "    if s.s3.access_key_id: return s.s3.access_key_id.get_secret_value()\n"
        "    if not os.environ.get('AWS_ACCESS_KEY_ID'): return None\n"  # never ask instance metadata
        "    import boto3; c = boto3.session.Session().get_credentials()\n"
        "    return c and c.get_frozen_credentials().access_key\n"
        "print(json.dumps({'address': s.temporal_address, 'payload': has(s.payload_keyring),"
        " 'sms': has(s.sms_code_keys), 'codec_token': s.codec_token is not None,"
        " 's3_key': s3_key(s),"
        " 'registry': s.registry_url, 'registry_password': s.registry_password is not None, 'leaked': leaked,"
        " 'cors': s.codec_cors_origin, 'api': s.api.model_dump(mode='json'), 'store': s.adapters.material_store,"
        " 'deployment': s.deployment_name, 'build_id': s.build_id, 'grace': s.shutdown_grace.total_seconds(),"
        " 'health': s.health_port, 'metrics': s.metrics_port}))\n"
    )
    clean = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env, "FILINGS_SECRETS_DIR": str(secrets),
             "FILINGS_DATA_DIR": str(secrets.parent / "data")}
    done = subprocess.run([sys.executable, "-c", probe], env=clean, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded.pop("leaked") == [], "a secret is in the process's environment"
    return loaded


@pytest.mark.parametrize("name", ENGINE_SERVICES)
def test_an_engine_services_environment_is_valid_configuration(compose, services, secrets_dir, tmp_path, name):
    env = environment(services[name])
    known = set(env_vars())
    for variable in env:
        assert variable in known, f"{name}: {variable} is read by nothing"
    named = {value.removeprefix(f"{SECRETS_DIR}/") for variable, value in env.items() if variable.endswith("_FILE")}
    for target, secret in secret_mounts(services[name]).items():  # each secret file is a setting, by name
        assert target.upper() in known or target in named, f"{name}: secret {secret} mounted as {target}, which no setting reads"
    assert "FILINGS_BUILD_ID" not in env, "the build id comes from the image, never from compose"
    loaded = settings_inside(env, mount_secrets(compose, services[name], secrets_dir, tmp_path / "run-secrets"))
    if name in ("worker", "worker-previous", "service", "registry-migrate"):
        assert loaded["registry"] == "postgresql+psycopg://filings@postgresql:5432/filings" and loaded["registry_password"]
    mounted = tmp_path / "run-secrets"
    if "s3_access_key_id" in secret_mounts(services[name]).values():
        assert loaded["s3_key"] == (mounted / "filings_s3__access_key_id").read_text().strip()
    if name in ("worker", "worker-previous"):
        assert loaded["payload"] and loaded["sms"] and loaded["store"] == "s3"
        assert loaded["address"] == "temporal:7233" and loaded["deployment"] == "icp-filings"
        service = services[name]
        stop = timedelta(seconds=int(str(service["stop_grace_period"]).rstrip("s")))
        assert stop > timedelta(seconds=loaded["grace"] + 5)  # the grace plus the worker's own margin
        assert {str(p) for p in service["expose"]} == {str(loaded["metrics"]), str(loaded["health"])}
        assert service["healthcheck"]["test"][:3] == ["CMD", "bash", "-c"]  # no Python started per probe
    if name == "service":
        assert loaded["payload"] and not loaded["sms"] and loaded["store"] == "s3"
        assert loaded["api"]["host"] == "0.0.0.0" and loaded["api"]["auth"] == "oidc"
    if name == "codec-server":
        assert loaded["payload"] and loaded["codec_token"] and not loaded["sms"]
        assert set(loaded["cors"].split(",")) == {"http://localhost:8080", "http://127.0.0.1:8080"}
        assert f"127.0.0.1:8081:{environment(services[name])['FILINGS_CODEC_PORT']}" in services[name]["ports"]
    if name == "registry-migrate":
        assert not loaded["payload"] and not loaded["sms"]


@pytest.mark.parametrize("name", ENGINE_SERVICES)
def test_a_docker_exec_in_an_engine_container_loads_valid_configuration(services, tmp_path, name):
    """Healthchecks and `docker compose exec` start processes beside PID 1, with the container's
    environment as configured (the entrypoint did not convert their *_FILE variables)."""
    env = {**environment(services[name]), "FILINGS_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", "from engine.settings import load_settings; load_settings()"],
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr + done.stdout


def test_the_previous_build_runs_exactly_like_the_current_one(services):
    current, previous = services["worker"], services["worker-previous"]
    for key in ("environment", "secrets", "volumes", "healthcheck", "depends_on", "deploy", "stop_grace_period"):
        assert previous[key] == current[key], key
    assert "build" not in previous and previous["pull_policy"] == "never" and previous["profiles"] == ["rollout"]
    assert interpolate(previous["image"], {"FILINGS_PREVIOUS_BUILD_ID": "b0"}) == "icp-filing-engine:b0"
    # Without the variable, the tag itself says what is missing.
    assert interpolate(previous["image"], {}) == "icp-filing-engine:set-FILINGS_PREVIOUS_BUILD_ID"


# --- the OIDC provider ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def realm(services) -> dict[str, Any]:
    keycloak = services["keycloak"]
    path = next(host_path(keycloak, target) for target in volume_sources(keycloak) if target.startswith("/opt/keycloak/data/import/"))
    assert path is not None and path == DEPLOY / "keycloak" / "icp-filings-realm.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_service_trusts_the_issuer_its_tokens_carry(services, realm):
    keycloak, service = environment(services["keycloak"]), environment(services["service"])
    issuer = f"{keycloak['KC_HOSTNAME']}/realms/{realm['realm']}"
    assert service["FILINGS_API__ISSUER"] == issuer == "http://localhost:8180/realms/icp-filings"
    # Keycloak's published port is the one in its hostname: a browser reaches what tokens name.
    published = {p.split(":")[1]: p.split(":")[2] for p in services["keycloak"]["ports"]}
    assert published["8180"] == "8080"
    # The keys are fetched inside the network, from the same realm.
    assert service["FILINGS_API__JWKS_URL"] == f"http://keycloak:8080/realms/{realm['realm']}/protocol/openid-connect/certs"
    audiences = [m["config"]["included.custom.audience"] for c in realm["clients"] for m in c.get("protocolMappers", [])
                 if m["protocolMapper"] == "oidc-audience-mapper"]
    assert audiences == [service["FILINGS_API__AUDIENCE"]] == ["icp-filings"]
    settings = Settings(api={"auth": "oidc", "issuer": issuer, "audience": "icp-filings",
                             "jwks_url": service["FILINGS_API__JWKS_URL"]},
                        console={"oidc_client_id": service["FILINGS_CONSOLE__OIDC_CLIENT_ID"]})
    assert settings.api.role_claim == "role" and settings.api.appids_claim == "appids"


def test_the_realm_gives_each_role_a_user_and_puts_the_attributes_in_the_token(realm, services):
    (client,) = [c for c in realm["clients"] if c["clientId"] == "icp-filings-service"]
    assert client["publicClient"] is False and client["clientAuthenticatorType"] == "client-secret"
    placeholder = re.fullmatch(r"\$\{(\w+)\}", client["secret"])
    assert placeholder, "the client secret comes from the environment, never the file"
    assert f"{placeholder.group(1)}_FILE" in environment(services["keycloak"])
    mappers = {m["config"].get("claim.name"): m["config"] for m in client["protocolMappers"]
               if m["protocolMapper"] == "oidc-usermodel-attribute-mapper"}
    assert set(mappers) == {"role", "province", "appids"}
    for claim, config in mappers.items():
        assert config["user.attribute"] == claim and config["access.token.claim"] == "true"
        assert config["multivalued"] == ("true" if claim == "appids" else "false")
    users = {u["attributes"]["role"][0]: u for u in realm["users"]}
    assert set(users) == ROLES
    assert all(re.fullmatch(r"wx[0-9a-f]{16}", appid) for appid in users["applicant"]["attributes"]["appids"])
    assert find_province(users["province_reviewer"]["attributes"]["province"][0]).prefix == "冀"
    for user in realm["users"]:
        (credential,) = user["credentials"]
        assert credential["value"].startswith("dev-") and not credential["temporary"]
    # Users can read but never change the attributes that grant them rights.
    (profile_component,) = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    profile = json.loads(profile_component["config"]["kc.user.profile.config"][0])
    granted = {a["name"]: a for a in profile["attributes"] if a["name"] in mappers}
    assert set(granted) == set(mappers)
    assert all(a["permissions"]["edit"] == ["admin"] for a in granted.values())
    assert "unmanagedAttributePolicy" not in profile  # no attribute outside the profile
    assert granted["appids"]["multivalued"] is True
    assert set(granted["role"]["validations"]["options"]["options"]) == ROLES


def test_keycloak_runs_in_production_mode_on_its_own_database_and_imports_the_realm_once(
        compose, services, secrets_dir, tmp_path):
    keycloak = services["keycloak"]
    env = environment(keycloak)
    command = keycloak["command"]
    assert command[0] == "start" and "start-dev" not in command and "--import-realm" in command
    # --import-realm skips a realm the database already holds: imported on the first `up` only,
    # so a recreated container keeps the realm, its users and its signing keys (in PostgreSQL).
    assert not any(arg.startswith("--override") or "OVERWRITE" in arg for arg in command)
    assert not any(target.startswith("/opt/keycloak/data") and not target.startswith("/opt/keycloak/data/import/")
                   for target in volume_sources(keycloak)), "Keycloak's state lives in its database, not the container"
    assert env["KC_DB"] == "postgres"
    host, database = re.fullmatch(r"jdbc:postgresql://([\w-]+):5432/(\w+)", env["KC_DB_URL"]).groups()
    assert host == "postgresql" and database == "keycloak" != "filings"
    assert env["KC_DB_USERNAME"] == "keycloak" and env["KC_DB_PASSWORD_FILE"] == f"{SECRETS_DIR}/keycloak_db_password"
    assert depends_on(keycloak)["postgres-init"] == "service_completed_successfully"
    # The init job creates that role, owning that database, with the password of the same secret.
    init = services["postgres-init"]
    script = host_path(init, init["entrypoint"][-1])
    assert script is not None and re.search(r"^owns keycloak KEYCLOAK_DB_PASSWORD keycloak$",
                                            script.read_text(encoding="utf-8"), re.MULTILINE)
    assert environment(init)["KEYCLOAK_DB_PASSWORD_FILE"] == env["KC_DB_PASSWORD_FILE"]
    # Keycloak's own start reads KC_DB_PASSWORD, which the entrypoint fills from the secret.
    assert keycloak["entrypoint"][1] == "/deploy/entrypoint.sh" and host_path(keycloak, "/deploy/entrypoint.sh") == DEPLOY / "entrypoint.sh"
    mounted = mount_secrets(compose, keycloak, secrets_dir, tmp_path / "run-secrets")
    done = run_entrypoint(env, mounted, "sh", "-c", 'test "$KC_DB_PASSWORD" = "$(cat "$0")"',
                          str(secrets_dir / "keycloak_db_password"))
    assert done.returncode == 0, done.stderr
    # Production mode needs a fixed hostname, and here plain HTTP on the local network.
    assert env["KC_HOSTNAME"] == "http://localhost:8180" and env["KC_HTTP_ENABLED"] == "true"


def test_the_consoles_login_discovers_inside_the_network_as_the_realms_client_with_its_secret_file(
        compose, services, realm, secrets_dir, tmp_path):
    service, keycloak = services["service"], environment(services["keycloak"])
    env = environment(service)
    (client,) = [c for c in realm["clients"] if c["clientId"] == env["FILINGS_CONSOLE__OIDC_CLIENT_ID"]]
    assert client["clientId"] == "icp-filings-service" != env["FILINGS_API__AUDIENCE"]
    assert client["standardFlowEnabled"] and client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert any(re.fullmatch(uri.replace("*", ".*"), "http://localhost:8400/login/callback") for uri in client["redirectUris"])
    # Discovery on Keycloak's internal address, for the realm whose issuer the service checks.
    assert env["FILINGS_CONSOLE__OIDC_DISCOVERY_URL"] == (
        f"http://keycloak:8080/realms/{realm['realm']}/.well-known/openid-configuration")
    assert env["FILINGS_API__ISSUER"] == f"{keycloak['KC_HOSTNAME']}/realms/{realm['realm']}"
    assert keycloak["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"  # the token endpoint it names stays internal
    # The client's secret: one secret for both sides; the service reads it as the file of its
    # setting (FILINGS_SECRETS_DIR), so it is in no environment.
    placeholder = re.fullmatch(r"\$\{(\w+)\}", client["secret"])
    assert placeholder and keycloak[f"{placeholder.group(1)}_FILE"] == f"{SECRETS_DIR}/oidc_client_secret"
    assert secret_mounts(service)["filings_console__oidc_client_secret"] == "oidc_client_secret"
    assert "FILINGS_CONSOLE__OIDC_CLIENT_SECRET" not in env
    mounted = mount_secrets(compose, service, secrets_dir, tmp_path / "run-secrets")
    probe = ("import os, sys; from engine.settings import Settings; c = Settings().console\n"
             "print(c.oidc_client_id, c.discovery_url('x'), c.oidc_client_secret.get_secret_value() == open(sys.argv[1]).read().strip())")
    done = subprocess.run([sys.executable, "-c", probe, str(secrets_dir / "oidc_client_secret")],
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env, "FILINGS_SECRETS_DIR": str(mounted),
                               "FILINGS_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["icp-filings-service", env["FILINGS_CONSOLE__OIDC_DISCOVERY_URL"], "True"]


def test_the_web_ui_lets_operators_in_through_the_provider_and_holds_no_codec_token(
        compose, services, realm, secrets_dir, tmp_path):
    ui, keycloak = services["temporal-ui"], environment(services["keycloak"])
    env = environment(ui)
    (client,) = [c for c in realm["clients"] if c["clientId"] == env["TEMPORAL_AUTH_CLIENT_ID"]]
    # Signed in with the realm the service trusts: discovery inside the network, the issuer browsers see.
    assert env["TEMPORAL_AUTH_ENABLED"] == "true"
    assert env["TEMPORAL_AUTH_PROVIDER_URL"] == f"http://keycloak:8080/realms/{realm['realm']}"
    assert env["TEMPORAL_AUTH_ISSUER_URL"] == environment(services["service"])["FILINGS_API__ISSUER"]
    assert env["TEMPORAL_AUTH_CALLBACK_URL"] == "http://localhost:8080/auth/sso/callback"
    assert env["TEMPORAL_AUTH_CALLBACK_URL"] in client["redirectUris"]
    assert "openid" in env["TEMPORAL_AUTH_SCOPES"].split(",")
    assert ui["depends_on"]["keycloak"]["condition"] == "service_healthy"
    # A confidential client whose secret reaches both sides from one secret file, never the environment.
    assert client["publicClient"] is False and not client["directAccessGrantsEnabled"]
    placeholder = re.fullmatch(r"\$\{(\w+)\}", client["secret"])
    assert placeholder and keycloak[f"{placeholder.group(1)}_FILE"] == env["TEMPORAL_AUTH_CLIENT_SECRET_FILE"]
    assert env["TEMPORAL_AUTH_CLIENT_SECRET_FILE"] == f"{SECRETS_DIR}/temporal_ui_client_secret"
    assert ui["entrypoint"] == ["/bin/sh", "/deploy/entrypoint.sh"] and ui["command"] == ["./start-ui-server.sh"]
    assert host_path(ui, "/deploy/entrypoint.sh") == DEPLOY / "entrypoint.sh"
    mounted = mount_secrets(compose, ui, secrets_dir, tmp_path / "run-secrets")
    done = run_entrypoint(env, mounted, "sh", "-c", 'test "$TEMPORAL_AUTH_CLIENT_SECRET" = "$(cat "$0")"',
                          str(secrets_dir / "temporal_ui_client_secret"))
    assert done.returncode == 0, done.stderr
    # Only operators get in: the client's browser login denies every other role.
    flows = {flow.get("id", flow["alias"]): flow for flow in realm["authenticationFlows"]}
    by_alias = {flow["alias"]: flow for flow in realm["authenticationFlows"]}
    login = flows[client["authenticationFlowBindingOverrides"]["browser"]]
    assert login["topLevel"] and [e["requirement"] for e in login["authenticationExecutions"]] == ["REQUIRED", "CONDITIONAL"]
    who, others = (by_alias[e["flowAlias"]] for e in login["authenticationExecutions"])
    assert {e["authenticator"] for e in who["authenticationExecutions"]} == {"auth-cookie", "auth-username-password-form"}
    condition, deny = others["authenticationExecutions"]
    assert (condition["authenticator"], deny["authenticator"]) == ("conditional-user-attribute", "deny-access-authenticator")
    (config,) = [c["config"] for c in realm["authenticatorConfig"] if c["alias"] == condition["authenticatorConfig"]]
    assert config == {"attribute_name": "role", "attribute_expected_value": "operator", "not": "true"}
    # Its codec endpoint is the bare codec server (GET /api/v1/settings shows it to anyone), which
    # answers the UI's page by origin.
    codec = environment(services["codec-server"])
    assert env["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8081"
    assert "127.0.0.1:8081:8081" in services["codec-server"]["ports"]
    assert "http://localhost:8080" in codec["FILINGS_CODEC_CORS_ORIGIN"].split(",")
    assert "TEMPORAL_CODEC_PASS_ACCESS_TOKEN" not in env


# --- MinIO ---------------------------------------------------------------------------------


def test_the_engines_bucket_account_is_limited_to_its_bucket(services):
    bucket = environment(services["worker"])["FILINGS_S3__BUCKET"]
    assert environment(services["service"])["FILINGS_S3__BUCKET"] == bucket
    assert environment(services["minio-setup"])["FILINGS_S3_BUCKET"] == bucket
    policy = json.loads((DEPLOY / "minio" / "filings-materials-policy.json").read_text(encoding="utf-8"))
    actions, resources = set(), set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions |= set(statement["Action"])
        resources |= set(statement["Resource"])
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert actions == {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject"}  # no deletes
    assert environment(services["worker"])["FILINGS_S3__ENDPOINT_URL"] == "http://minio:9000"
    assert "9000" in {str(p) for p in services["minio"]["expose"]} and "ports" not in services["minio"]


# --- ports, restarts, logs, limits ------------------------------------------------------------


def port_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def test_ports_stay_on_this_machine_do_not_clash_and_replicas_scale(services):
    taken: dict[int, str] = {}
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: a fixed name forbids --scale"
        for port in service.get("ports", []):
            host_ip, host_ports, _ = str(port).rsplit(":", 2)
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            for number in port_range(host_ports):
                assert number not in taken, f"{name} and {taken.get(number)} both publish {number}"
                taken[number] = name
    assert "ports" not in services["worker"]
    (service_port,) = services["service"]["ports"]
    assert len(port_range(service_port.rsplit(":", 2)[1])) >= 2, "`--scale service=2` needs a port per replica"


def test_long_running_services_restart_rotate_their_logs_and_have_limits(services):
    for name, service in services.items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file" and {"max-size", "max-file"} <= set(logging.get("options", {})), name
        if one_shot(service) or service.get("profiles") == ["tools"]:
            continue
        assert service.get("restart") == "unless-stopped", name
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and re.fullmatch(r"\d+[MG]", limits["memory"]), name
        assert "healthcheck" in service or name in {"temporal-ui"}, f"{name} has no healthcheck"


# --- healthchecks, run against a live endpoint -------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def endpoint() -> Iterator[tuple[int, dict[str, Any]]]:
    """An HTTP server on a free port answering every GET with the status in `state`; the
    paths asked are in `state["paths"]`."""
    state: dict[str, Any] = {"status": 200, "paths": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            state["paths"].append(self.path)
            self.send_response(state["status"])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def healthcheck(service: dict[str, Any], moved: tuple[int, int] | None = None) -> list[str]:
    """The healthcheck's command line; `moved` = (port in the file, port to ask instead)."""
    test = [interpolate(part) for part in service["healthcheck"]["test"]]
    assert test[0] == "CMD"
    if moved is None:
        return test[1:]
    return [part.replace(str(moved[0]), str(moved[1])) for part in test[1:]]


def test_the_workers_healthcheck_asks_its_health_endpoint(services, endpoint, tmp_path):
    live_port, state = endpoint
    worker = services["worker"]
    env = {**environment(worker), "FILINGS_HEALTH_PORT": str(live_port), "FILINGS_DATA_DIR": str(tmp_path)}
    command = healthcheck(worker)
    check = {"env": {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
                     **env}, "cwd": ROOT, "capture_output": True, "timeout": 30}
    assert subprocess.run(command, **check).returncode == 0
    assert state["paths"] == ["/readyz"]  # readiness; liveness is the watchdog's (and Kubernetes' /livez)
    state["status"] = 503
    assert subprocess.run(command, **check).returncode == 1
    nobody = {**check, "env": {**check["env"], "FILINGS_HEALTH_PORT": str(free_port())}}
    assert subprocess.run(command, **nobody).returncode != 0


@pytest.mark.parametrize(("name", "port"), [("service", 8400), ("keycloak", 9000)])
def test_healthchecks_tell_a_healthy_endpoint_from_a_failing_or_absent_one(services, endpoint, name, port):
    live_port, state = endpoint
    command = healthcheck(services[name], (port, live_port))
    assert subprocess.run(command, timeout=30).returncode == 0
    assert state["paths"] == [{"service": "/readyz", "keycloak": "/health/ready"}[name]]
    state["status"] = 503
    assert subprocess.run(command, timeout=30, capture_output=True).returncode != 0
    nobody = healthcheck(services[name], (port, free_port()))
    assert subprocess.run(nobody, timeout=30, capture_output=True).returncode != 0
