"""The service's Prometheus metrics, on a registry of its own (one per app: tests build many)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "filings_api_requests", "Requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "filings_api_request_seconds", "Time to answer, by route template.", ["route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        #: Calls refused for who made them (401, 403, 404 out of scope): the only trace a
        #: refusal leaves (SPEC §12: "leaves nothing behind").
        self.refusals = Counter(
            "filings_api_refusals", "Calls refused: no valid token, outside the role or the scope.",
            ["route", "status"], registry=self.registry)
        self.rate_limited = Counter(
            "filings_api_rate_limited", "SMS code entries refused by the rate limit.", ["limit"],
            registry=self.registry)
        self.replays = Counter(
            "filings_api_idempotent_replays", "Answers replayed for a repeated Idempotency-Key.", ["route"],
            registry=self.registry)
        self.audited_reads = Counter(
            "filings_api_audited_reads", "Clear reads recorded in the audit log.", ["action", "role"],
            registry=self.registry)
        #: The provincial-review forecast (`service.forecasts`): business days the reviews of
        #: the last 90 days took, per province and kind (NaN below 20 finished reviews).
        self.forecast_days = Gauge(
            "filings_provincial_review_business_days",
            "Business days finished provincial reviews took over the sliding window (quantile 0.5, 0.9); NaN: too few.",
            ["province", "kind", "quantile"], registry=self.registry)
        self.forecast_finished = Gauge(
            "filings_provincial_review_finished",
            "Finished provincial reviews in the forecast's sliding window.", ["province", "kind"],
            registry=self.registry)
