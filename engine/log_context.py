"""Every activity log line names its filing, stage and attempt.

The workflow side adds a header to each activity it schedules with the filing's stage
and attempt as its §7 search attributes hold them at that moment (no personal data, and
for local activities the header never reaches the history); the activity side binds
them, with the filing id (the workflow id) and the activity's own retry attempt, into
structlog's context for the activity's task, so the engine's lines and the SDK's own
carry them without any activity passing them along.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from workflows import search_attributes as sa

HEADER = "filing-log-context"


def _context_header() -> Payload:
    attributes = workflow.info().typed_search_attributes
    context = {"stage": attributes.get(sa.FILING_STAGE), "attempt": attributes.get(sa.FILING_ATTEMPT)}
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(context).encode())


def _read_header(headers: Mapping[str, Payload]) -> dict[str, Any]:
    payload = headers.get(HEADER)
    if payload is None:
        return {}
    try:
        context = json.loads(payload.data)
    except ValueError:
        return {}
    return {key: context[key] for key in ("stage", "attempt") if context.get(key) is not None}


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = {**input.headers, HEADER: _context_header()}
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = {**input.headers, HEADER: _context_header()}
        return super().start_local_activity(input)


class _WorkflowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        # Each activity runs in its own task (its own context copy): nothing leaks to another.
        structlog.contextvars.bind_contextvars(
            filing_id=info.workflow_id,
            **_read_header(input.headers),
            activity=info.activity_type,
            activity_attempt=info.attempt,
        )
        return await super().execute_activity(input)


class FilingLogContext(Interceptor):
    """Worker interceptor: `Worker(..., interceptors=[FilingLogContext()])`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound
