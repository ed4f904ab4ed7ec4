"""Talking to one filing: the `status` query, stage checks, and updates, with every
failure a one-line `CliError`.

Every command that acts on a filing reads `status` first: an unknown id, or a filing in
a stage where the act cannot apply, is refused here and nothing is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cli.options import EXIT_UNCONFIRMED, CliError
from filing.messages import FilingStatus, Stage

T = TypeVar("T")

#: How long a status query or an update may take before we say the worker is not answering.
ANSWER_TIMEOUT = timedelta(seconds=15)


def _not_found(filing_id: str, err: RPCError) -> CliError:
    if "namespace" in err.message.lower():
        return CliError(err.message)
    return CliError(f"no filing {filing_id}")


async def fetch_status(client: Client, filing_id: str) -> FilingStatus:
    """The filing's `status` (its latest run); `no filing <id>` when there is none."""
    handle = client.get_workflow_handle(filing_id)
    try:
        return await handle.query("status", result_type=FilingStatus, rpc_timeout=ANSWER_TIMEOUT)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise _not_found(filing_id, err) from None
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise CliError(f"{filing_id} did not answer its status query in time: is a worker running?") from None
        raise
    except WorkflowQueryFailedError as err:
        raise CliError(f"{filing_id}: status query failed: {err.message}") from None


def require_stage(status: FilingStatus, allowed: Stage | Iterable[Stage], action: str) -> None:
    """Refuse before sending when the filing is not where `action` applies, naming its stage."""
    stages = {allowed} if isinstance(allowed, Stage) else set(allowed)
    if status.stage not in stages:
        wanted = " or ".join(sorted(s.value for s in stages))
        raise CliError(
            f"cannot {action}: {status.filing_id} is in stage {status.stage.value}, not {wanted}; nothing was sent"
        )


async def update(client: Client, filing_id: str, name: str, arg: Any, result_type: type[T]) -> T:
    """Run an update; a validator's refusal (type "Refused") is the one-line reason."""
    handle = client.get_workflow_handle(filing_id)
    call = handle.execute_update(name, arg, result_type=result_type)
    try:
        return await asyncio.wait_for(call, ANSWER_TIMEOUT.total_seconds())
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == "Refused":
            raise CliError(f"refused: {cause.message}") from None
        raise CliError(f"{name} failed: {cause}") from None
    except TimeoutError:
        raise CliError(
            f"{name} sent to {filing_id}, no answer within {ANSWER_TIMEOUT.total_seconds():g}s: "
            "is a worker running? check with `filings status`",
            EXIT_UNCONFIRMED,
        ) from None
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise CliError(f"{filing_id} has finished or does not exist: {err.message}") from None
        raise
