"""The service's one way to Temporal: every call bounded in time, every failure a problem.

The client connects lazily: the service starts and answers (503) while Temporal is
down, and reconnects on the next call when it is back. Each call has an RPC timeout and
an overall one, so a request never hangs on an unreachable server or a filing whose
worker does not answer: 503 when Temporal cannot be reached, 504 when it did not answer
in time (the effect may or may not have happened: retry with the same Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RetryConfig, RPCError, RPCStatusCode

from engine import deadline_pages
from engine.visibility import FilingRow, fetch_rows
from engine.client import connect_options
from engine.codec import data_converter
from engine.launch import filing_id_for
from engine.settings import Settings
from filing.messages import ApplicationView, FilingStatus
from service.problems import Problem
from workflows import search_attributes as sa

T = TypeVar("T")

HEALTH_TIMEOUT = timedelta(seconds=3)


def retries(timeout: timedelta) -> RetryConfig:
    """A few quick retries of an unavailable server, well inside the call's timeout: a blip is
    ridden out, an outage answers 503 at once instead of the SDK's 10 s of retrying."""
    return RetryConfig(initial_interval_millis=100, multiplier=2, max_interval_millis=1000, max_retries=3,
                       max_elapsed_time_millis=int(timeout.total_seconds() * 500))


async def connect_lazily(settings: Settings) -> Client:
    """A client that connects on first use (and again after an outage)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.payload_keyring()),
        lazy=True,
        connect_timeout=settings.api.temporal_timeout,
        retry_config=retries(settings.api.temporal_timeout),
        **connect_options(settings),
    )


def update_id(principal_key: str, idempotency_key: str, name: str) -> str:
    """The update's id, from the caller's Idempotency-Key: Temporal itself then refuses to run
    the same update twice on a run, even if the key's stored answer were lost."""
    digest = hashlib.sha256(f"{principal_key}\n{idempotency_key}\n{name}".encode()).hexdigest()[:40]
    return f"api-{name}-{digest}"


class Temporal:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.timeout: timedelta = settings.api.temporal_timeout
        ring = settings.payload_keyring()
        #: Lists' cursors, sealed with a key derived from the payload keys every replica holds.
        self.cursors = deadline_pages.Seal(ring.all_keys(), ring.current)

    async def call(self, call: Awaitable[T], *, filing_id: str | None = None, what: str = "the call") -> T:
        """Await a Temporal call within the timeout, turning every failure into a `Problem`."""
        try:
            return await asyncio.wait_for(call, self.timeout.total_seconds() + 1)
        except TimeoutError:
            raise self._timed_out(what, filing_id) from None
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "Refused":
                # Some refusals carry the §7 answer a client shows (`no_valid_code`, `resend_limit_reached`).
                answer = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else None
                extra = {"answer": answer} if answer is not None else {}
                raise Problem(409, f"not applied: {cause.message}", kind="refused", title="Not applied",
                              why=cause.message, filing_id=filing_id, **extra) from None
            raise Problem(503, f"{what} failed in the filing: {cause}", kind="update-failed",
                          filing_id=filing_id) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise self._timed_out(what, filing_id) from None
        except WorkflowQueryFailedError as err:
            raise Problem(503, f"the workers could not answer {what}: {err.message}", kind="query-failed",
                          filing_id=filing_id) from None
        except RPCError as err:
            raise self._rpc_problem(err, what, filing_id) from None
        except RuntimeError as err:
            if "connect" in str(err).lower():  # the lazy client's failed (re)connection
                raise Problem(503, f"Temporal at {self.settings.temporal_address} is unreachable; nothing was done",
                              kind="temporal-unavailable", headers={"Retry-After": "5"}) from None
            raise

    def _timed_out(self, what: str, filing_id: str | None) -> Problem:
        return Problem(
            504, f"Temporal did not answer {what} within {self.timeout.total_seconds():g} s: is a worker running? "
            "The effect may or may not have happened; retry with the same Idempotency-Key",
            kind="temporal-timeout", filing_id=filing_id)

    def _rpc_problem(self, err: RPCError, what: str, filing_id: str | None) -> Problem:
        if err.status is RPCStatusCode.NOT_FOUND:
            if "namespace" in err.message.lower():
                return Problem(503, f"Temporal namespace {self.settings.temporal_namespace!r} not found",
                               kind="temporal-unavailable")
            if filing_id and "complete" in err.message.lower():
                return Problem(409, f"{filing_id} has finished: nothing more can be done to it",
                               kind="filing-finished", why="the filing has finished", filing_id=filing_id)
            return Problem(404, f"no filing {filing_id}" if filing_id else "not found", kind="not-found")
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return self._timed_out(what, filing_id)
        if err.status is RPCStatusCode.FAILED_PRECONDITION and "Workflow Task in failed state" in err.message:
            return Problem(503, f"{filing_id}: its workflow task is being retried; nothing was done, try again",
                           kind="filing-busy", headers={"Retry-After": "2"}, filing_id=filing_id)
        if err.status is RPCStatusCode.FAILED_PRECONDITION and filing_id:
            return Problem(409, f"{filing_id}: {err.message}", kind="filing-finished", why=err.message,
                           filing_id=filing_id)
        return Problem(503, f"Temporal at {self.settings.temporal_address} is unavailable ({err.status.name if err.status else 'error'}); "
                       "nothing was done", kind="temporal-unavailable", headers={"Retry-After": "5"})

    # --- the filing's messages --------------------------------------------------------

    async def status(self, appid: str) -> FilingStatus:
        filing_id = filing_id_for(appid)
        handle = self.client.get_workflow_handle(filing_id)
        return await self.call(handle.query("status", result_type=FilingStatus, rpc_timeout=self.timeout),
                               filing_id=filing_id, what="the status query")

    async def application(self, appid: str) -> ApplicationView:
        filing_id = filing_id_for(appid)
        handle = self.client.get_workflow_handle(filing_id)
        return await self.call(handle.query("application", result_type=ApplicationView, rpc_timeout=self.timeout),
                               filing_id=filing_id, what="the application query")

    async def update(self, appid: str, name: str, arg: Any, result_type: type[T], update_id: str) -> T:
        filing_id = filing_id_for(appid)
        handle = self.client.get_workflow_handle(filing_id)
        return await self.call(
            handle.execute_update(name, arg, id=update_id, result_type=result_type, rpc_timeout=self.timeout),
            filing_id=filing_id, what=f"the {name} update")

    async def stage_of(self, filing_id: str) -> str:
        """The stage as the search attributes show it (answers without a worker)."""
        description = await self.call(self.client.get_workflow_handle(filing_id).describe(rpc_timeout=self.timeout),
                                      filing_id=filing_id, what="describe")
        return description.typed_search_attributes.get(sa.FILING_STAGE) or "unknown"

    async def rows(self, query: str, limit: int) -> list[FilingRow]:
        return await self.call(fetch_rows(self.client, query, limit=limit), what="the visibility list")

    async def page(self, query: str, after: deadline_pages.Key | None, size: int) -> tuple[deadline_pages.Page, int]:
        """One page of a list in deadline order, and how many filings the list holds (a first
        page counts the list anyway; a later one counts it beside its own reads)."""

        async def both() -> tuple[deadline_pages.Page, int]:
            if after is None:
                found = await deadline_pages.page(self.client, query, after_key=None, size=size)
                if found.total is not None:
                    return found, found.total
                return found, (await self.client.count_workflows(query)).count
            found, total = await asyncio.gather(deadline_pages.page(self.client, query, after_key=after, size=size),
                                                self.client.count_workflows(query))
            return found, total.count

        try:
            return await self.call(both(), what="the visibility list")
        except deadline_pages.ListTooBusy as err:
            raise Problem(503, f"the list changed under the page's reads ({err}); ask again",
                          kind="list-busy") from None

    async def signal(self, filing_id: str, run_id: str, name: str, arg: Any) -> bool:
        """False when the run finished meanwhile."""
        handle = self.client.get_workflow_handle(filing_id, run_id=run_id)
        try:
            await self.call(handle.signal(name, arg, rpc_timeout=self.timeout), filing_id=filing_id, what=name)
        except Problem as problem:
            if problem.status in (404, 409):
                return False
            raise
        return True

    async def healthy(self) -> tuple[bool, str]:
        try:
            ok = await asyncio.wait_for(self.client.service_client.check_health(timeout=HEALTH_TIMEOUT), 4)
        except (TimeoutError, RPCError, RuntimeError) as err:
            return False, f"{self.settings.temporal_address} unreachable ({type(err).__name__})"
        return ok, f"{self.settings.temporal_address} {'serving' if ok else 'not serving'}"
