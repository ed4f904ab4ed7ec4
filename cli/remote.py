"""Direct mode's calls to one filing on Temporal: the `status` query and the §7 updates,
with every failure a one-line `CliError`.

Every update carries a stable update id (the command's derived key, `cli.idempotency`):
Temporal runs an update id once per filing and answers a repeat with the first outcome,
so a re-run after a timeout never counts a code twice and a retried resubmission answers
the same attempt. A refusal that only means "the filing's workflow task is being retried"
is retried with backoff within `--wait`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from cli.door import Refused
from cli.errors import CliError, task_retrying, unconfirmed
from engine.updates import UpdateRefused, send_update
from filing.messages import FilingStatus, Stage

#: How long one status query or update RPC may take before we say the worker is not answering.
ANSWER_TIMEOUT = timedelta(seconds=15)
RERUN = "run the same command again: it sends the same update id, so it answers the first call's result"


def _not_found(filing_id: str, err: RPCError) -> CliError:
    if "namespace" in err.message.lower():
        return CliError(err.message)
    return CliError(f"no filing {filing_id}")


async def fetch_status(client: Client, filing_id: str) -> FilingStatus:
    """The filing's `status` (its latest run); `no filing <id>` when there is none. A query
    that lands just as a run continues as new can hang on the closed run: asked once more."""
    for last in (False, True):
        handle = client.get_workflow_handle(filing_id)
        try:
            return await handle.query("status", result_type=FilingStatus, rpc_timeout=ANSWER_TIMEOUT)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise _not_found(filing_id, err) from None
            if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                if last:
                    raise CliError(f"{filing_id} did not answer its status query in time: "
                                   "is a worker running?") from None
                continue
            raise
        except WorkflowQueryFailedError as err:
            raise CliError(f"{filing_id}: status query failed: {err.message}") from None
    raise AssertionError("unreachable")


def require_stage(status: FilingStatus, allowed: Stage | Iterable[Stage], action: str) -> None:
    """Refuse before sending when the filing is not where `action` applies, naming its stage."""
    stages = {allowed} if isinstance(allowed, Stage) else set(allowed)
    if status.stage not in stages:
        wanted = " or ".join(sorted(s.value for s in stages))
        raise CliError(
            f"cannot {action}: {status.filing_id} is in stage {status.stage.value}, not {wanted}; nothing was sent"
        )


async def update(client: Client, filing_id: str, name: str, payload: dict[str, Any], *, update_id: str,
                 wait: float, note: Callable[[str], None]) -> dict[str, Any]:
    """The update's answer; `Refused` (with the §7 answer it carries, if any) when the filing refuses it."""
    handle = client.get_workflow_handle(filing_id)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    delay, told = 0.2, False
    while True:
        left = max(give_up - loop.time(), 1.0)
        try:
            call = send_update(handle, name, payload, update_id=update_id,
                               rpc_timeout=min(ANSWER_TIMEOUT, timedelta(seconds=left)))
            return await asyncio.wait_for(call, left + 1)
        except UpdateRefused as refused:
            raise Refused(refused.message, refused.answer) from None
        except WorkflowUpdateFailedError as err:
            raise CliError(f"{name} failed in {filing_id}: {err.cause}") from None
        except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
            raise unconfirmed(f"{name} sent to {filing_id}, no answer within {left:g} s (is a worker running?)",
                              RERUN) from None
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise CliError(f"{filing_id} has finished or does not exist: {err.message}") from None
            if not (err.status is RPCStatusCode.FAILED_PRECONDITION and task_retrying(err.message)):
                raise
            if loop.time() + delay >= give_up:
                raise CliError(f"{filing_id}: {err.message}: its workflow task is being retried (a worker "
                               "restarting?); nothing was done, try again later") from None
            if not told:
                note(f"{filing_id}'s workflow task is being retried (a worker restarting?): "
                     f"retrying for up to {wait:g} s")
                told = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
