"""Reviewers' decisions: a signal (SPEC §7), so the tool confirms it took effect.

A signal has no answer. After sending, the tool polls `status` (bounded by `--wait`)
until the filing's timeline shows this decision applied (the event the workflow records
when it acts on it, naming the reviewer) or recorded as ignored (L9, `decision_ignored`
naming the signal, the decision and the reviewer), and reports which. Matching on the
reviewer keeps a concurrent colleague's decision from being taken for ours.

The decision names the attempt the tool saw, so if the applicant resubmits in between
the workflow ignores it (L9) instead of applying it to an attempt nobody reviewed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from temporalio.client import Client

from cli.options import EXIT_IGNORED, EXIT_OK, EXIT_UNCONFIRMED
from cli.remote import fetch_status
from filing.messages import FilingStatus, PlatformDecision, ProvinceDecision, Stage, TimelineEntry

Signal = Literal["platform_decision", "province_decision"]

#: The timeline events the workflow records when it applies a decision (detail ends "by <reviewer>").
APPLIED_EVENTS: dict[Signal, frozenset[str]] = {
    "platform_decision": frozenset({"platform_approved", "platform_rejected"}),
    "province_decision": frozenset({"approved", "province_rejected"}),
}
POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class Confirmation:
    filing_id: str
    signal: Signal
    decision: str
    outcome: Literal["applied", "ignored", "unconfirmed"]
    stage: Stage  # the stage at the last look
    detail: str | None  # why it was ignored, or what the applied event says

    @property
    def exit_code(self) -> int:
        return {"applied": EXIT_OK, "ignored": EXIT_IGNORED, "unconfirmed": EXIT_UNCONFIRMED}[self.outcome]

    def as_json(self) -> dict[str, object]:
        return {
            "filing_id": self.filing_id,
            "signal": self.signal,
            "decision": self.decision,
            "outcome": self.outcome,
            "stage": self.stage.value,
            "detail": self.detail,
        }


def _verdict(
    signal: Signal, decision: PlatformDecision | ProvinceDecision, entry: TimelineEntry
) -> tuple[str, str] | None:
    detail = entry.detail or ""
    if entry.event in APPLIED_EVENTS[signal] and detail.endswith(f"by {decision.reviewer}"):
        return "applied", detail
    ignored = f"{signal} {decision.decision.value} by {decision.reviewer}: "
    if entry.event == "decision_ignored" and detail.startswith(ignored):
        return "ignored", detail[len(ignored) :]
    return None


async def signal_and_confirm(
    client: Client,
    before: FilingStatus,
    signal: Signal,
    decision: PlatformDecision | ProvinceDecision,
    wait: float,
) -> Confirmation:
    """Send `decision` (for the attempt in `before`) and watch the timeline after it."""
    decision = decision.model_copy(update={"attempt": before.attempt})
    seen = len(before.timeline)
    await client.get_workflow_handle(before.filing_id).signal(signal, decision)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    verdict: tuple[str, str] | None = None
    while True:
        status = await fetch_status(client, before.filing_id)
        if verdict is None:
            verdict = next(filter(None, (_verdict(signal, decision, e) for e in status.timeline[seen:])), None)
        # An applied decision may take a moment to move the stage (codes are sent first):
        # wait for that too, so the report names where the filing went.
        settled = verdict is not None and (verdict[0] == "ignored" or status.stage is not before.stage)
        if settled or loop.time() >= give_up:
            outcome, detail = verdict or ("unconfirmed", None)
            return Confirmation(
                before.filing_id,
                signal,
                decision.decision.value,
                outcome,  # type: ignore[arg-type]
                status.stage,
                detail,
            )
        await asyncio.sleep(POLL_INTERVAL)
