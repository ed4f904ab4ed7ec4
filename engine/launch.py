"""Starting a filing (R9): one filing in flight per mini-program, idempotent per submission.

The workflow id is `filing-<appid>`, so the server itself refuses a second running
filing for an appid. Which submission is running is kept in the memo (a hash, no
personal data): the same submission again answers with the running filing; another
one is refused naming the running one's stage. A finished filing does not block.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from filing.messages import FilingInput, FilingOutcome, Stage
from filing.models import Application
from filing.policy import FilingPolicy
from filing.provinces import find_province
from workflows import search_attributes as sa
from workflows.filing import FilingWorkflow


class FilingInFlight(Exception):
    """R9: the mini-program already has another filing in flight."""

    def __init__(self, filing_id: str, stage: str) -> None:
        super().__init__(
            f"R9.filing_in_flight: {filing_id} is already in flight (stage {stage}); "
            "wait for it to finish, or withdraw it, before filing again for this mini-program"
        )
        self.filing_id = filing_id
        self.stage = stage


@dataclass(frozen=True)
class Started:
    handle: WorkflowHandle[FilingWorkflow, FilingOutcome]
    status: Literal["started", "already_running"]

    @property
    def filing_id(self) -> str:
        return self.handle.id


def filing_id_for(appid: str) -> str:
    return f"filing-{appid}"


def submission_id_for(application: Application) -> str:
    """Derived from the application's content, so the same file started twice is one submission."""
    canonical = application.model_dump_json(exclude_none=True).encode()
    return "sub-" + hashlib.sha256(canonical).hexdigest()[:32]


def initial_search_attributes(application: Application) -> TypedSearchAttributes:
    province = find_province(application.subject.address.province)
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.FILING_STAGE, Stage.SUBMITTED.value),
            SearchAttributePair(sa.FILING_KIND, application.kind.value),
            SearchAttributePair(sa.PROVINCE, province.prefix if province else application.subject.address.province),
            SearchAttributePair(sa.APP_ID, application.appid),
            SearchAttributePair(sa.FILING_ATTEMPT, 1),
            SearchAttributePair(sa.SLA_BREACHED, False),
            SearchAttributePair(sa.DEADLINE_PROVISIONAL, False),
        ]
    )


async def start_filing(
    client: Client,
    application: Application,
    *,
    task_queue: str,
    submission_id: str | None = None,
    policy: FilingPolicy | None = None,
) -> Started:
    """Start the filing; the application must already have passed the rules (`filing.rules`)."""
    filing_id = filing_id_for(application.appid)
    submission_id = submission_id or submission_id_for(application)
    try:
        handle = await client.start_workflow(
            FilingWorkflow.run,
            FilingInput(application=application, submission_id=submission_id, policy=policy or FilingPolicy()),
            id=filing_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(application),
            memo={"submission_id": submission_id},
        )
        return Started(handle, "started")
    except WorkflowAlreadyStartedError:
        running = client.get_workflow_handle_for(FilingWorkflow.run, filing_id)
        description = await running.describe()
        if await description.memo_value("submission_id", default=None) == submission_id:
            return Started(running, "already_running")
        stage = description.typed_search_attributes.get(sa.FILING_STAGE) or "unknown"
        raise FilingInFlight(filing_id, stage) from None
