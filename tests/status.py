"""The `status` query as every test asks it: bounded, never a loop without end.

A query that reaches a run just as it continues as new waits for the closed run, so one
attempt may hang; it is asked again, but for at most `within` seconds in all, after which
the test fails naming what it waited for (a hung filing must fail a test, not hang CI).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from filing.messages import FilingStatus

RETRIED = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


async def status_of(handle: WorkflowHandle[Any, Any], *, within: float = 30.0, attempt: float = 5.0) -> FilingStatus:
    """The filing's status; each attempt bounded by `attempt` s, all of them by `within` s."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + within
    last: RPCError | None = None
    while loop.time() < ends:
        try:
            status: FilingStatus = await handle.query(
                "status", result_type=FilingStatus, rpc_timeout=timedelta(seconds=min(attempt, max(ends - loop.time(), 0.1)))
            )
            return status
        except RPCError as err:
            if err.status not in RETRIED:
                raise
            last = err
    raise AssertionError(f"the status query of {handle.id} did not answer within {within:g} s (last: {last})")
