"""Issues 18.15 and 21.4: a desk of open filings (1 000 in `make test`, 3 000 at full scale),
some of which continued as new a few times (their closed runs keep stale stages and
deadlines), read page by page on the dev server: each filing once, oldest deadline first
(none last), every page costs a bounded number of visibility rows and calls — never the
whole list — and a page inside one day's tie group costs one read of its rows, no count.

The filings are stand-ins: a tiny workflow registered as `FilingWorkflow` on this test's own
task queue sets the real §7 search attributes and waits; the moving ones upsert a stage and
deadline, continue as new, and settle on their last. Most are started with their attributes
and no worker at all (a running execution is all visibility needs)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from engine import deadline_pages
from engine.binaries import temporal_cli
from engine.visibility import build_query
from filing.messages import Stage
from tests.conftest import scaled, unique
from tests.processes import wait_until
from workflows import search_attributes as sa

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

#: 1 000 in `make test` (20 pages of the desk, a tie group of ~330), 3 000 with FILINGS_TEST_SCALE=full.
OPEN = scaled(1000, 3000)
MOVING = 24  # of which continue as new three times before they settle
PAGE = 50
SEAL = deadline_pages.Seal()


@workflow.defn(name="FilingWorkflow")
class StandIn:
    """Each step: upsert (stage, deadline); continue as new with the rest; wait on the last."""

    @workflow.run
    async def run(self, steps: list[list[Any]]) -> None:
        stage, deadline = steps[0]
        workflow.upsert_search_attributes([
            sa.FILING_STAGE.value_set(stage),
            sa.STAGE_DEADLINE.value_set(datetime.fromisoformat(deadline)) if deadline else sa.STAGE_DEADLINE.value_unset(),
        ])
        if len(steps) > 1:
            workflow.continue_as_new(steps[1:])
        await workflow.wait_condition(lambda: False)


def deadlines(n: int, rng: secrets.SystemRandom) -> list[datetime | None]:
    """What a desk holds: many filings sharing a day's 24:00 China time (one tie group far
    larger than a page), returned filings with deadlines to the microsecond — some on a
    half millisecond or in a second's last half millisecond, where stores round apart —
    and filings without a deadline. Distinct deadlines are at least 3 ms apart."""
    day = datetime(2031, 3, 2, 16, tzinfo=UTC)  # 24:00 China time
    out: list[datetime | None] = []
    for i in range(n):
        if i % 3 == 0:
            out.append(day)  # ~1 000 alike
        elif i % 3 == 1 and i % 7 == 0:
            out.append(day + timedelta(days=1 + i % 5))  # five more days, ~70 each
        elif i % 10 == 2:
            out.append(None)
        else:
            slot = day - timedelta(days=3) + timedelta(milliseconds=5 * i)  # ms multiples of 5
            out.append(rng.choice([slot + timedelta(microseconds=rng.randrange(0, 1000)),
                                   slot + timedelta(microseconds=500),
                                   slot.replace(microsecond=999_700)]))
    return out


def order(deadline: datetime | None) -> tuple[int, datetime]:
    return (1, datetime.min.replace(tzinfo=UTC)) if deadline is None else (0, deadline)


class CountingClient:
    """A client of its own whose visibility RPCs are counted (calls and rows answered)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lists = self.counts = self.rows = 0
        service = client.workflow_service
        listing: Callable[..., Awaitable[Any]] = service.list_workflow_executions
        counting: Callable[..., Awaitable[Any]] = service.count_workflow_executions

        async def list_executions(req: Any, *args: Any, **kwargs: Any) -> Any:
            answer = await listing(req, *args, **kwargs)
            self.lists += 1
            self.rows += len(answer.executions)
            return answer

        async def count_executions(req: Any, *args: Any, **kwargs: Any) -> Any:
            self.counts += 1
            return await counting(req, *args, **kwargs)

        service.list_workflow_executions = list_executions  # type: ignore[method-assign]
        service.count_workflow_executions = count_executions  # type: ignore[method-assign]

    def reset(self) -> tuple[int, int, int]:
        used = (self.lists, self.rows, self.counts)
        self.lists = self.rows = self.counts = 0
        return used


async def start_open_filings(client: Client, task_queue: str, ids: list[str], due: dict[str, datetime | None]) -> None:
    async def one(filing_id: str) -> None:
        attrs = [SearchAttributePair(sa.FILING_STAGE, "PLATFORM_REVIEW"), SearchAttributePair(sa.APP_ID, filing_id[7:])]
        if due[filing_id] is not None:
            attrs.append(SearchAttributePair(sa.STAGE_DEADLINE, due[filing_id]))  # type: ignore[arg-type]
        await client.start_workflow("FilingWorkflow", [["PLATFORM_REVIEW", None]], id=filing_id, task_queue=task_queue,
                                    search_attributes=TypedSearchAttributes(attrs))

    for at in range(0, len(ids), 100):
        await asyncio.gather(*(one(i) for i in ids[at:at + 100]))


async def walk(counting: CountingClient, query: str,
               size: int) -> tuple[list[tuple[str, datetime | None]], list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """The list page by page: the rows, every page's cost (lists, rows, counts), and the costs of
    the pages read on inside one tie group (started and ended inside the same deadline)."""
    seen: list[tuple[str, datetime | None]] = []
    costs: list[tuple[int, int, int]] = []
    inside: list[tuple[int, int, int]] = []
    cursor = None
    counting.reset()
    while True:
        page = await deadline_pages.page(counting.client, query, after_key=cursor, size=size)
        costs.append(counting.reset())
        assert len(page.rows) == size or page.next is None
        if cursor is None:  # the first page counted the list: the service answers it as `total`
            assert page.total == (await counting.client.count_workflows(query)).count
            counting.reset()
        seen += [(r.filing_id, r.deadline) for r in page.rows]
        if page.next is None:
            return seen, costs, inside
        if cursor is not None and cursor.position and page.next.position and page.next.bucket == cursor.bucket:
            inside.append(costs[-1])
        cursor = SEAL.open(SEAL.token(page.next))  # as a client would pass it back


@pytest.fixture
async def own_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own, in memory: 3 000 starts on the suite's file-backed one
    take minutes on a small machine (SQLite commits), in memory well under one."""
    environment = await WorkflowEnvironment.start_local(
        ip="127.0.0.1", dev_server_existing_path=str(temporal_cli()), search_attributes=sa.ALL, ui=False)
    try:
        yield environment
    finally:
        await environment.shutdown()


async def test_a_desk_of_open_filings_reads_each_filing_once_in_deadline_order_with_bounded_pages(
    own_server: WorkflowEnvironment,
) -> None:
    client = own_server.client
    task_queue = unique("tq-pages")
    rng = secrets.SystemRandom()
    ids = [f"filing-wx{secrets.token_hex(8)}" for _ in range(OPEN)]
    due = dict(zip(ids, deadlines(OPEN, rng), strict=True))
    moving, still = ids[:MOVING], ids[MOVING:]
    scope = f"WorkflowType = 'FilingWorkflow' AND TaskQueue = '{task_queue}'"
    began = time.monotonic()

    # The moving filings: three earlier runs with other stages and deadlines, closed as
    # continued-as-new, then the current run. Only they need a worker; it stops after.
    async with Worker(client, task_queue=task_queue, workflows=[StandIn], workflow_runner=UnsandboxedWorkflowRunner(),
                      max_concurrent_workflow_task_polls=2):
        stale = datetime(2020, 1, 1, tzinfo=UTC).isoformat()  # older than every deadline: would lead the list
        for filing_id in moving:
            final = due[filing_id].isoformat() if due[filing_id] else None
            steps = [["SUBMITTED", stale], ["PLATFORM_REVIEW", stale], ["RETURNED", stale], ["PLATFORM_REVIEW", final]]
            await client.start_workflow("FilingWorkflow", steps, id=filing_id, task_queue=task_queue)

        async def settled() -> bool:
            closed = await client.count_workflows(f"{scope} AND ExecutionStatus = 'ContinuedAsNew'")
            current = await client.count_workflows(
                f"{scope} AND ExecutionStatus = 'Running' AND FilingStage = 'PLATFORM_REVIEW' AND "
                f"(StageDeadline IS NULL OR StageDeadline > '2021-01-01T00:00:00Z')")
            return closed.count == 3 * MOVING and current.count == MOVING

        await wait_until(settled, 60, "the moving filings settled on their last run")

    print(f"moving filings settled in {time.monotonic() - began:.1f}s")
    await start_open_filings(client, task_queue, still, due)

    async def all_visible() -> bool:
        return (await client.count_workflows(f"{scope} AND ExecutionStatus = 'Running'")).count == OPEN

    await wait_until(all_visible, 60, f"{OPEN} open filings in visibility")
    print(f"set up in {time.monotonic() - began:.1f}s")

    counting = CountingClient(await Client.connect(client.service_client.config.target_host,
                                                   namespace=client.namespace))
    # The desk (running), every filing (the old default read the stale runs too), a stage.
    for query, size in ((build_query(task_queue, running=True), PAGE), (build_query(task_queue), 200),
                        (build_query(task_queue, stages=[Stage.PLATFORM_REVIEW]), 200)):
        began = time.monotonic()
        seen, costs, inside = await walk(counting, query, size)
        duplicates = [i for i, n in Counter(i for i, _ in seen).items() if n > 1]
        assert not duplicates, f"listed twice: {duplicates[:5]}"
        missing = set(ids) - {i for i, _ in seen}
        assert not missing, f"never listed: {sorted((i, due[i]) for i in missing)[:5]}"
        assert all(d == due[i] for i, d in seen), "each row shows the current run's deadline, not a stale one"
        assert [order(d) for _, d in seen] == sorted(order(d) for _, d in seen), "oldest deadline first, none last"
        lists, rows, counts = (max(c[k] for c in costs) for k in range(3))
        print(f"{query[-40:]}: {len(costs)} pages in {time.monotonic() - began:.1f}s; worst page: "
              f"{lists} list calls, {rows} rows, {counts} counts; {len(inside)} pages inside a tie group")
        # Bounded: at most 4 x (size + 1) rows for a page found by counting, a sample of at most 32
        # and the part of a tie group it reaches into — never the whole desk.
        assert rows <= 4 * (size + 1) + 32 + size, costs
        assert lists <= 5 and counts <= 40, costs
        # Inside a tie group (one day's deadlines) a page is the store's next rows: no count at all.
        assert inside or size > 100, "the desk's tie group spans several pages"
        assert all(lists <= 2 and rows <= size + 1 and counts == 0 for lists, rows, counts in inside), inside
