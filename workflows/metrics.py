"""The engine's own metrics, counted where the workflow records its timeline.

They go through `workflow.metric_meter()`, which records nothing while a history is
replayed: each event counts once however often a filing is replayed (worker restart,
cache eviction), and a metric adds no command, so the history is the same with or
without them. The SDK runtime's Prometheus exporter serves them beside its own.
A workflow task that fails and is retried before completing may count its events
again: the counters are at-least-once, like every Prometheus counter fed by retries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

STAGE_DURATION = "filings_stage_duration_seconds"


def _counter(name: str, description: str) -> Callable[[dict[str, str]], None]:
    def add(labels: dict[str, str]) -> None:
        workflow.metric_meter().create_counter(name, description).add(1, labels)

    return add


_started = _counter("filings_started", "Filings started (first attempt; resubmissions are stage transitions)")
_transitions = _counter("filings_stage_transitions", "Stage changes, by the stage left, the stage entered and why")
_sla_breaches = _counter("filings_sla_breaches", "Review SLAs passed without a decision (L5), by stage and province")
_sms_sent = _counter("filings_sms_sent", "12381 verification codes sent, resends included (L3)")
_sms_verified = _counter("filings_sms_verified", "Verifiers who entered their code correctly (L3)")
_sms_wrong = _counter("filings_sms_wrong_entries", "Wrong code entries (L3; a brute-force signal)")
_sms_timed_out = _counter("filings_sms_timed_out", "Filings returned because the SMS window closed (sms_timeout)")
_sms_exhausted = _counter("filings_sms_exhausted", "Filings returned because a verifier used up every entry (sms_attempts_exhausted)")


def filing_started(kind: str) -> None:
    _started({"kind": kind})


def stage_changed(stage: str, next_stage: str, outcome: str, since: datetime) -> None:
    """A stage ended (`outcome` is the timeline event that ended it); `since` is when it began."""
    _transitions({"stage": stage, "next_stage": next_stage, "outcome": outcome})
    seconds = max((workflow.now() - since).total_seconds(), 0.0)
    workflow.metric_meter().create_histogram_float(
        STAGE_DURATION, "Time spent in a stage, by the stage and the stage entered next", "s"
    ).record(seconds, {"stage": stage, "next_stage": next_stage})


def sla_breached(stage: str, province: str) -> None:
    _sla_breaches({"stage": stage, "province": province})


def sms_sent() -> None:
    _sms_sent({})


def sms_verified() -> None:
    _sms_verified({})


def sms_wrong_entry() -> None:
    _sms_wrong({})


def sms_timed_out() -> None:
    _sms_timed_out({})


def sms_exhausted() -> None:
    _sms_exhausted({})


#: Timeline events that are counted as they are recorded.
_ON_EVENT: dict[str, Callable[[], None]] = {
    "sms_sent": sms_sent,
    "sms_verified": sms_verified,
    "sms_wrong_code": sms_wrong_entry,
    "sms_timeout": sms_timed_out,
    "sms_attempts_exhausted": sms_exhausted,
}


def event_recorded(event: str) -> None:
    """Called for every timeline entry; counts the ones that are SMS outcomes."""
    helper = _ON_EVENT.get(event)
    if helper is not None:
        helper()
