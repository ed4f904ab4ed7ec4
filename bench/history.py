"""Reading a workflow's history: its length, and each event named so it can be justified."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle


def event_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def _marker_activity(event: HistoryEvent) -> str | None:
    data = event.marker_recorded_event_attributes.details.get("data")
    if data is None or not data.payloads:
        return None
    try:
        return str(json.loads(data.payloads[0].data).get("activity_type"))
    except (ValueError, AttributeError):
        return None


def _patch_id(event: HistoryEvent) -> str | None:
    data = event.marker_recorded_event_attributes.details.get("patch_data")
    if data is None or not data.payloads:
        return None
    try:
        return str(json.loads(data.payloads[0].data).get("id"))
    except (ValueError, AttributeError):
        return None


def describe(event: HistoryEvent) -> str:
    """`MARKER_RECORDED local activity compute_deadline`, `ACTIVITY_TASK_SCHEDULED send_sms_code (SMS queue)`,
    `WORKFLOW_EXECUTION_SIGNALED platform_decision`..."""
    name = event_name(event)
    detail = ""
    if event.HasField("marker_recorded_event_attributes"):
        activity, patch = _marker_activity(event), _patch_id(event)
        detail = (f"local activity {activity}" if activity else
                  f"patch {patch}" if patch else event.marker_recorded_event_attributes.marker_name)
    elif event.HasField("activity_task_scheduled_event_attributes"):
        scheduled = event.activity_task_scheduled_event_attributes
        on_sms = scheduled.task_queue.name.endswith("-sms")
        detail = scheduled.activity_type.name + (" (SMS queue)" if on_sms else "")
    elif event.HasField("workflow_execution_signaled_event_attributes"):
        detail = event.workflow_execution_signaled_event_attributes.signal_name
    elif event.HasField("workflow_execution_update_accepted_event_attributes"):
        detail = event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
    elif event.HasField("upsert_workflow_search_attributes_event_attributes"):
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        detail = ", ".join(sorted(fields))
    elif event.HasField("timer_started_event_attributes"):
        seconds = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        detail = f"{seconds / 3600:.1f} h"
    elif event.HasField("workflow_task_completed_event_attributes"):
        detail = ""
    return f"{name} {detail}".strip()


async def history_of(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    history = await handle.fetch_history()
    return list(history.events)


def summary(events: list[HistoryEvent]) -> dict[str, int]:
    return dict(Counter(event_name(e) for e in events).most_common())


async def run_chain(client: Client, workflow_id: str, first_run_id: str) -> list[list[HistoryEvent]]:
    """Every run of one filing, first to last, each run's events: a filing continues as new
    at a resubmission (and when its history is long), so its story spans runs. Followed
    through each run's `WORKFLOW_EXECUTION_CONTINUED_AS_NEW` event, not visibility (which
    is eventually consistent)."""
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = first_run_id
    while run_id:
        events = await history_of(client.get_workflow_handle(workflow_id, run_id=run_id))
        runs.append(events)
        last = events[-1] if events else None
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last is not None and last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return runs
