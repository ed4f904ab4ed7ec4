"""The alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboards (deploy/grafana/)
name only metrics that exist, watch what an operator must be woken for, and are provisioned
in compose.

Which metrics exist: the engine's are read from its code (workflows/metrics.py,
activities/metrics.py, service/metrics.py), so a renamed metric fails here. The Temporal
server's and the SDK's are listed below with their sources; a real worker's `/metrics` is
checked against the alerts' SDK names in tests/integration/test_compose_setup.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.metrics import ServiceMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

#: The Temporal server's metrics as its Prometheus reporter names them (counters without
#: `_total`; timers are histograms): temporalio/temporal `common/metrics/metric_defs.go`
#: (PersistenceRequests, PersistenceFailures, PersistenceLatency, PersistenceErrResourceExhaustedCounter,
#: ServiceRequests, ServiceFailures, ServiceErrResourceExhaustedCounter, ServiceLatency,
#: ApproximateBacklogCount, NoRecentPollerTasksPerTaskQueueCounter), as used by temporalio/dashboards
#: `server/server-general.json` (commit b5d9a1bc1888f73057f1639495e5773caad783ee).
SERVER_COUNTERS = {"persistence_requests", "persistence_errors", "persistence_errors_resource_exhausted",
                   "service_requests", "service_errors", "service_errors_resource_exhausted", "no_poller_tasks"}
SERVER_HISTOGRAMS = {"persistence_latency", "service_latency"}
SERVER_GAUGES = {"approximate_backlog_count"}

#: The Core SDK's worker metrics (temporalio/sdk-core `telemetry/metrics.rs`; the names of
#: temporalio/dashboards `sdk/temporal-core-sdks-otel.json`), prefixed `temporal_`, as
#: engine/telemetry.py exports them: counters with `_total`, durations in seconds.
SDK_COUNTERS = {"temporal_request", "temporal_request_failure", "temporal_long_request",
                "temporal_long_request_failure", "temporal_workflow_completed", "temporal_workflow_failed",
                "temporal_workflow_task_execution_failed", "temporal_activity_execution_failed",
                "temporal_workflow_task_queue_poll_succeed", "temporal_workflow_task_queue_poll_empty",
                "temporal_activity_poll_no_task", "temporal_sticky_cache_hit", "temporal_sticky_cache_miss",
                "temporal_sticky_cache_total_forced_eviction"}
SDK_HISTOGRAMS = {"temporal_request_latency", "temporal_long_request_latency", "temporal_workflow_endtoend_latency",
                  "temporal_workflow_task_schedule_to_start_latency", "temporal_workflow_task_execution_latency",
                  "temporal_workflow_task_replay_latency", "temporal_activity_schedule_to_start_latency",
                  "temporal_activity_execution_latency"}
SDK_GAUGES = {"temporal_num_pollers", "temporal_worker_task_slots_available", "temporal_worker_task_slots_used",
              "temporal_sticky_cache_size"}

PROMETHEUS = {"up"}  # Prometheus's own per-target series


def histogram(name: str) -> set[str]:
    return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}


def engine_metrics() -> set[str]:
    """The engine's metrics, read from the code that records them."""
    names: set[str] = set()
    for module in ("workflows/metrics.py", "activities/metrics.py"):
        source = (ROOT / module).read_text(encoding="utf-8")
        names |= {f"{n}_total" for n in re.findall(r'(?:_counter|create_counter)\(\s*"(\w+)"', source)}
        names |= set().union(*(histogram(n) for n in re.findall(r'"(\w+_seconds)"', source)))
    for family in ServiceMetrics().registry.collect():  # families, also those with no labelled sample yet
        names |= {"counter": {f"{family.name}_total"}, "histogram": histogram(family.name)}.get(family.type, {family.name})
    return names


def known_metrics() -> set[str]:
    known = set(SERVER_COUNTERS | SERVER_GAUGES | SDK_GAUGES | PROMETHEUS)
    known |= {f"{n}_total" for n in SDK_COUNTERS}
    for name in SERVER_HISTOGRAMS | SDK_HISTOGRAMS:
        known |= histogram(name)
    return known | engine_metrics()


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def metrics_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers left once strings, label
    matchers, ranges, groupings and function calls are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name in KEYWORDS or re.fullmatch(r"\d+[smhdwy]?", name):
            continue
        names.add(name)
    return names


def test_the_extractor_finds_selectors_and_skips_the_rest():
    expr = ('histogram_quantile(0.95, sum by (le, route) (rate(filings_api_request_seconds_bucket{route!="/x"}[5m])))'
            ' > 1 or max by (job) (up{job=~"a|b"}) == 0 unless on (job) absent(foo_total)')
    assert metrics_in(expr) == {"filings_api_request_seconds_bucket", "up", "foo_total"}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_names_metrics_that_exist():
    known = known_metrics()
    for rule in alert_rules():
        unknown = metrics_in(rule["expr"]) - known
        assert not unknown, f"{rule['alert']}: no such metric {sorted(unknown)}"


@pytest.mark.parametrize(("concern", "metric"), [
    ("the server's database failing", "persistence_errors"),
    ("the server's database slow", "persistence_latency_bucket"),
    ("calls refused for exhausted resources", "service_errors_resource_exhausted"),
    ("a task-queue backlog", "approximate_backlog_count"),
    ("tasks with no poller (the current version's workers gone)", "no_poller_tasks"),
    ("a worker with no free slot", "temporal_worker_task_slots_available"),
    ("a replica down", "up"),
    ("review SLAs passed", "filings_sla_breaches_total"),
])
def test_an_alert_watches(concern, metric):
    assert [r["alert"] for r in alert_rules() if metric in metrics_in(r["expr"])], f"no alert for {concern}"


def test_the_replica_alert_fires_per_replica():
    (rule,) = [r for r in alert_rules() if r["alert"] == "ReplicaDown"]
    assert "instance" in re.search(r"by \(([^)]*)\)", rule["expr"]).group(1)
    for job in ("filings-worker", "filings-service", "temporal-server"):
        assert job in rule["expr"]


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))}


def test_every_dashboard_query_names_metrics_that_exist_on_the_provisioned_source():
    known = known_metrics()
    datasources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    uids = set()
    for name, board in dashboards().items():
        assert board["uid"] not in uids, name
        uids.add(board["uid"])
        assert board["panels"], name
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                unknown = metrics_in(target["expr"]) - known
                assert not unknown, f"{name} / {panel['title']}: no such metric {sorted(unknown)}"


def test_the_dashboards_show_the_sdk_the_server_and_the_filings():
    queried = {name: set().union(*(metrics_in(t["expr"]) for p in board["panels"] for t in p["targets"]))
               for name, board in dashboards().items()}
    assert {"filings_stage_transitions_total", "filings_stage_duration_seconds_bucket", "filings_sla_breaches_total",
            "filings_sms_sent_total", "filings_sms_verified_total", "filings_api_request_seconds_bucket"} <= queried["filings.json"]
    assert {"temporal_worker_task_slots_available", "temporal_num_pollers"} <= queried["sdk.json"]
    assert {"persistence_latency_bucket", "approximate_backlog_count"} <= queried["temporal-server.json"]


def test_compose_provisions_grafana_from_these_files():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    grafana = compose["services"]["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning/datasources"] == "./deploy/grafana/provisioning/datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./deploy/grafana/provisioning/dashboards"
    providers = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "icp-filings.yml").read_text())
    (provider,) = providers["providers"]
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert all(port.startswith("127.0.0.1:") for port in grafana["ports"])
