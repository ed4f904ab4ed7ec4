"""The engine's metrics counted in activities, through `activity.metric_meter()`: what
actually reached an outside service, which only the activity knows (the workflow only
knows that it asked)."""

from __future__ import annotations

from temporalio import activity

from filing.ports import Channel, Notice


def notice_delivered(notice: Notice) -> None:
    """One per channel a notice went out on; operator escalations are `channel="operator"`."""
    counter = activity.metric_meter().create_counter(
        "filings_notifications", "Notices delivered, by event and channel (operator = escalation)"
    )
    for channel in notice.channels:
        counter.add(1, {"event": notice.event, "channel": Channel(channel).value})
