"""Sending an update to a filing the way every client should: with a stable update id (a
retried call is the same call, never a second one) and a refusal read as what it is.

A validator refuses an update that does not fit (wrong stage, no-op, bad payload) and the
refusal leaves no trace in the history; some refusals carry the §7 answer a client shows
instead (`no_valid_code`, `resend_limit_reached`, ...). Used by the filing service, the
`filings` tool and the tests alike.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError


class UpdateRefused(Exception):
    """The workflow refused the update (its validator); `answer` is the §7 answer, if any."""

    def __init__(self, message: str, answer: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.message = message
        self.answer = answer


def refusal(err: WorkflowUpdateFailedError) -> UpdateRefused | None:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == "Refused":
        answer = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else None
        return UpdateRefused(cause.message, answer)
    return None


async def send_update(
    handle: WorkflowHandle[Any, Any],
    name: str,
    payload: dict[str, Any],
    *,
    update_id: str | None = None,
    rpc_timeout: timedelta | None = None,
) -> dict[str, Any]:
    """The update's answer; raises `UpdateRefused` when the workflow refused it.

    `update_id` makes a retry the same update: the server answers it again instead of
    running it twice (a `verify_sms_code` never counts twice, a `resubmit` answers the
    same attempt)."""
    try:
        result: dict[str, Any] = await handle.execute_update(
            name, payload, id=update_id, result_type=dict, rpc_timeout=rpc_timeout
        )
        return result
    except WorkflowUpdateFailedError as err:
        refused = refusal(err)
        if refused is not None:
            raise refused from None
        raise


async def answer_of(
    handle: WorkflowHandle[Any, Any], name: str, payload: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """The §7 answer, also when it came as a refusal that carries one."""
    try:
        return await send_update(handle, name, payload, **options)
    except UpdateRefused as refused:
        if refused.answer is None:
            raise
        return refused.answer
