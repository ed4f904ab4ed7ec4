"""Replay safety: every recorded lifecycle path replays on today's workflow code.

A filing lives for weeks, so the worker that finishes it runs newer code than the one
that started it. A history recorded by `tests/histories/record.py` stands for such a
running filing: if today's code issues different commands for it, the replay fails
here, before a deploy would fail it in production. `legacy/` keeps histories recorded
before a versioned change (`workflow.patched`), which must keep replaying until the
patch is deprecated.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from engine.wiring import WORKFLOWS
from filing.messages import FilingOutcome, Stage, TimelineEntry
from filing.state import FilingInput, FilingState
from filing.ports import Channel
from tests.histories import HISTORY_DIR, LEGACY_DIR, history_converter, workflow_id_for
from tests.workflow.test_lifecycle import new_filing
from workflows.filing import FilingWorkflow

HISTORIES = sorted(p for p in HISTORY_DIR.glob("*.json") if p.name != "keys.json")
LEGACY = sorted(LEGACY_DIR.glob("*.json"))
#: The lifecycle paths the issue names; each must have a recorded history.
REQUIRED = {
    "happy_path", "platform_reject_resubmit", "sms_timeout", "sms_attempts_exhausted",
    "platform_sla_breach", "withdraw", "expiry", "cancel_access", "cancel_mini_program",
    "cancel_subject_sms_ignored", "province_number_taken", "continued_on_long_history",
    # what the filing service sends, and one path per failure branch
    "service_decisions", "sms_undeliverable_first_send", "sms_undeliverable_on_resend", "check_unavailable",
    "submission_rejected", "registry_unavailable", "deadline_unavailable",
}
#: Every path recorded on the shape before outside effects became regular activities.
SHAPE_PATCH = "effects-as-activities"
PATCH = "notify-applicant-on-sla-breach"
BEFORE_PATCH = LEGACY_DIR / f"platform_sla_breach.before-{PATCH}.json"


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id_for(path), path.read_text(encoding="utf-8"))


def markers(path: Path) -> list[str]:
    events = json.loads(path.read_text(encoding="utf-8"))["events"]
    return [e["markerRecordedEventAttributes"]["markerName"] for e in events if "markerRecordedEventAttributes" in e]


def patches(path: Path) -> set[str]:
    """The patch ids a history's `core_patch` markers record."""
    events = json.loads(path.read_text(encoding="utf-8"))["events"]
    found = set()
    for event in events:
        marker = event.get("markerRecordedEventAttributes", {})
        if marker.get("markerName") == "core_patch":
            for payload in marker["details"]["patch-data"]["payloads"]:
                found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def test_every_required_path_is_recorded():
    assert REQUIRED <= {p.name.split(".")[0] for p in HISTORIES}


def test_continued_filings_are_recorded_run_by_run():
    runs = sorted(p.name for p in HISTORIES if p.name.startswith("platform_reject_resubmit."))
    assert runs == ["platform_reject_resubmit.run1.json", "platform_reject_resubmit.run2.json"]
    first = json.loads((HISTORY_DIR / runs[0]).read_text(encoding="utf-8"))["events"][-1]
    assert "workflowExecutionContinuedAsNewEventAttributes" in first


@pytest.mark.parametrize("path", HISTORIES + LEGACY, ids=lambda p: str(p.relative_to(HISTORY_DIR)))
async def test_recorded_history_replays_on_todays_code(path: Path):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=history_converter())
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure!r}"


# --- the versioned change, shown once for real -------------------------------------


def test_the_patch_is_recorded_in_new_histories_only():
    assert "core_patch" not in markers(BEFORE_PATCH)
    assert "core_patch" in markers(HISTORY_DIR / "platform_sla_breach.json")


@workflow.defn(name="FilingWorkflow")
class _UnguardedChange(FilingWorkflow):
    """The same change made without `workflow.patched`: what the patch protects against."""

    @workflow.init
    def __init__(self, start: FilingInput) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: FilingInput) -> FilingOutcome:
        return await super().run(start)

    async def _breach_sla(self) -> None:
        self._s.sla_breached = True
        self._record("sla_breached", self._s.stage.value)
        self._publish()
        await self._escalate("sla_breached", f"{self._s.stage.value} SLA passed without a decision")
        await self._notify("review_overdue", [Channel.IN_APP], detail=self._s.stage.value)


def test_the_shape_change_is_versioned_and_the_earlier_shape_kept():
    earlier = [p for p in LEGACY if p.name.endswith(f".before-{SHAPE_PATCH}.json")]
    assert {p.name.split(".")[0] for p in earlier} >= {"happy_path", "sms_timeout", "cancel_access", "handover_failed"}
    assert all(SHAPE_PATCH not in patches(p) for p in earlier)
    assert SHAPE_PATCH in patches(HISTORY_DIR / "happy_path.json")


@workflow.defn(name="FilingWorkflow")
class _UnversionedShape(FilingWorkflow):
    """Today's shape without `workflow.patched`: every filing, old ones too, on regular activities."""

    @workflow.init
    def __init__(self, start: FilingInput) -> None:
        super().__init__(start)
        self._shape = True

    @workflow.run
    async def run(self, start: FilingInput) -> FilingOutcome:
        return await super().run(start)


async def test_the_shape_change_without_its_patch_would_break_running_filings():
    replayer = Replayer(
        workflows=[_UnversionedShape], data_converter=history_converter(), workflow_runner=UnsandboxedWorkflowRunner()
    )
    legacy = LEGACY_DIR / f"happy_path.before-{SHAPE_PATCH}.json"
    result = await replayer.replay_workflow(load(legacy), raise_on_replay_failure=False)
    assert result.replay_failure is not None


RUNS_PATCH = "runs-bounded"


def test_bounded_runs_are_versioned_and_the_earlier_runs_kept():
    earlier = [p for p in LEGACY if p.name.endswith(f".before-{RUNS_PATCH}.json")]
    assert {p.name.split(".")[0] for p in earlier} >= {"continued_on_long_history", "happy_path", "sms_timeout"}
    assert all(RUNS_PATCH not in patches(p) for p in earlier)
    assert all(RUNS_PATCH in patches(p) for p in HISTORIES if p.name.split(".")[0] not in {"handover_failed"}
               and SHAPE_PATCH in patches(p))


async def test_the_change_without_its_patch_would_break_running_filings():
    replayer = Replayer(
        workflows=[_UnguardedChange], data_converter=history_converter(), workflow_runner=UnsandboxedWorkflowRunner()
    )
    result = await replayer.replay_workflow(load(BEFORE_PATCH), raise_on_replay_failure=False)
    assert result.replay_failure is not None


async def test_sla_breach_notifies_the_applicant_in_app(env, engine):
    filing = await new_filing(env, engine)
    status = await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.skip(status.deadline.due_at - await filing.now() + timedelta(minutes=1))
    await filing.wait_for(lambda s: any(e.event == "notified" and e.detail.startswith("review_overdue") for e in s.timeline))
    (notice,) = [n for n in filing.notifications() if n["event"] == "review_overdue"]
    assert notice["channels"] == ["in_app"] and notice["detail"] == "PLATFORM_REVIEW"
    assert [n["channels"] for n in filing.notifications() if n["event"] == "sla_breached"] == [["operator"]]


# --- the clock of a wake-up read from a query's history ------------------------------


@pytest.mark.parametrize(
    ("name", "event"), [("sms_timeout.run1.json", "sms_timeout"), ("expiry.json", "expired"),
                        ("platform_sla_breach.json", "sla_breached")])
async def test_a_timer_read_from_a_query_history_is_stamped_when_it_was_due(name: str, event: str, monkeypatch):
    """A status query dispatched before a timer fired and read after carries a history that ends
    `TimerFired, WorkflowTaskScheduled`: the SDK wakes the workflow with the previous task's
    start time. Seen in CI after a worker crash: a 12 s SMS window stamped `sms_timeout` 45 ms
    after it opened. What the wake-up records is stamped no earlier than the timer's due instant."""
    events = load(HISTORY_DIR / name).events
    fired = next(i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)
    timer_id = events[fired].timer_fired_event_attributes.timer_id
    started = next(e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                   and e.timer_started_event_attributes.timer_id == timer_id)
    due = started.event_time.ToDatetime(UTC) + started.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
    assert events[fired + 1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    cut = WorkflowHistory(workflow_id_for(HISTORY_DIR / name), list(events[: fired + 2]))

    stamped: list[TimelineEntry] = []
    record = FilingState.record
    monkeypatch.setattr(FilingState, "record", lambda self, entry: (stamped.append(entry), record(self, entry))[1])
    replayer = Replayer(workflows=WORKFLOWS, data_converter=history_converter(), workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(cut, raise_on_replay_failure=False)

    assert result.replay_failure is None
    at = next(e.at for e in stamped if e.event == event)
    assert at >= due - timedelta(seconds=1), f"{event} stamped {at}, the timer was due at {due}"
