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

from engine.filing_ids import filing_id_for
from filing.filing_number import InvalidFilingNumber, parse_filing_number
from filing.messages import FilingOutcome, Stage
from filing.models import Application, CancellationRequest
from filing.policy import FilingPolicy
from filing.provinces import find_province
from filing.state import FilingInput
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


def submission_id_for(request: Application | CancellationRequest) -> str:
    """Derived from the content, so the same file started twice is one submission."""
    canonical = request.model_dump_json(exclude_none=True).encode()
    return "sub-" + hashlib.sha256(canonical).hexdigest()[:32]


def province_prefix(request: Application | CancellationRequest) -> str:
    """The province the filing is reviewed in: the subject's address, or the prefix of the
    number a cancellation names (the workflow derives the same)."""
    if isinstance(request, CancellationRequest):
        try:
            return parse_filing_number(request.filing_number).province.prefix
        except InvalidFilingNumber:
            return request.filing_number[:1]
    province = find_province(request.subject.address.province)
    return province.prefix if province else request.subject.address.province


def initial_search_attributes(request: Application | CancellationRequest) -> TypedSearchAttributes:
    appid = request.appid
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.FILING_STAGE, Stage.SUBMITTED.value),
            SearchAttributePair(sa.FILING_KIND, request.kind.value),
            SearchAttributePair(sa.PROVINCE, province_prefix(request)),
            SearchAttributePair(sa.APP_ID, appid),
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
    codec_endpoint: str | None = None,
) -> Started:
    """Start the filing; the application must already have passed the rules (`filing.rules`).
    `codec_endpoint`: the codec server's address in force (`Settings.codec_url`), which the
    filing names when it refuses personal data sent without the codec."""
    return await _start(client, application, task_queue, submission_id, policy, codec_endpoint)


async def start_cancellation(
    client: Client,
    request: CancellationRequest,
    *,
    task_queue: str,
    submission_id: str | None = None,
    policy: FilingPolicy | None = None,
    codec_endpoint: str | None = None,
) -> Started:
    """Start a cancellation (SPEC §2): a short request; R8 against the registry first."""
    return await _start(client, request, task_queue, submission_id, policy, codec_endpoint)


async def _start(
    client: Client,
    request: Application | CancellationRequest,
    task_queue: str,
    submission_id: str | None,
    policy: FilingPolicy | None,
    codec_endpoint: str | None = None,
) -> Started:
    filing_id = filing_id_for(request.appid)
    submission_id = submission_id or submission_id_for(request)
    common = {"submission_id": submission_id, "policy": policy or FilingPolicy(), "codec_endpoint": codec_endpoint}
    start = (
        FilingInput(cancellation=request, **common)
        if isinstance(request, CancellationRequest)
        else FilingInput(application=request, **common)
    )
    try:
        handle = await client.start_workflow(
            FilingWorkflow.run,
            start,
            id=filing_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(request),
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
