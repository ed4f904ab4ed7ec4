"""The SDK runtime of a worker process: one Prometheus endpoint for the SDK's metrics and
the engine's own (`workflows.metrics`, `activities.metrics` feed the same meter), and the
SDK core's log lines forwarded into the process's structlog stream.
"""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from engine.settings import Settings
from workflows.metrics import STAGE_DURATION

_HOUR, _DAY = 3600.0, 86400.0
#: Stage durations run from seconds (a re-check) to weeks (20 business days of review).
STAGE_DURATION_BUCKETS = [
    1.0, 60.0, 600.0, _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 3 * _DAY, 5 * _DAY,
    7 * _DAY, 14 * _DAY, 21 * _DAY, 30 * _DAY, 45 * _DAY, 60 * _DAY,
]


class MetricsPortUnavailable(RuntimeError):
    pass


def build_runtime(settings: Settings) -> Runtime:
    """A runtime exporting to `FILINGS_HTTP_HOST:FILINGS_METRICS_PORT` (none when the port is 0)."""
    metrics = None
    if settings.metrics_port:
        metrics = PrometheusConfig(
            bind_address=f"{settings.http_host}:{settings.metrics_port}",
            counters_total_suffix=True,  # OpenMetrics names: filings_started_total
            durations_as_seconds=True,
            histogram_bucket_overrides={STAGE_DURATION: STAGE_DURATION_BUCKETS},
        )
    core_logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=metrics, logging=core_logs))
    except Exception as err:  # the bridge reports a taken port as a plain exception
        raise MetricsPortUnavailable(
            f"FILINGS_METRICS_PORT: cannot serve metrics on {settings.http_host}:{settings.metrics_port}: {err}"
        ) from err
