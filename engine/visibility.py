"""Operators' lists and reviewers' queues: visibility queries on the §7 search attributes,
shared by the filing service and the `filings` tool's direct mode.

Queries are scoped to `FilingWorkflow` on the configured task queue (one deployment's
filings) and never name a run a filing continued from: a list shows each filing once, as
its current run stands (`ExecutionStatus = 'Running'` for the desks, `running`, `overdue`
and `provisional`; otherwise every run but the continued-as-new ones, so a finished
filing shows its last run). Ordering and paging happen in `engine.deadline_pages`: the
SQL visibility store of the dev server and of small deployments refuses ORDER BY.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from filing.messages import Stage
from filing.models import FilingKind

if TYPE_CHECKING:  # the SDK is imported where it is used: `FilingRow` alone serves the `filings`
    # commands that talk to the filing service, which then start without the SDK (issue 21)
    from temporalio.client import Client, WorkflowExecution


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(name: str, values: Iterable[str]) -> str | None:
    listed = sorted(set(values))
    if not listed:
        return None
    return f"{name} = {quote(listed[0])}" if len(listed) == 1 else f"{name} IN ({', '.join(map(quote, listed))})"


def build_query(
    task_queue: str,
    *,
    stages: Iterable[Stage] = (),
    provinces: Iterable[str] = (),
    kinds: Iterable[FilingKind] = (),
    overdue: bool = False,
    provisional: bool = False,
    running: bool = False,
    now: datetime | None = None,
) -> str:
    """The visibility query of a list; overdue is `SlaBreached = true OR StageDeadline < now`.
    A run that continued as new keeps the stage it had then: it is never listed."""
    from workflows import search_attributes as sa

    now = now or datetime.now(UTC)
    parts = ["WorkflowType = 'FilingWorkflow'", f"TaskQueue = {quote(task_queue)}"]
    parts += filter(
        None,
        [
            _in(sa.FILING_STAGE.name, (s.value for s in stages)),
            _in(sa.PROVINCE.name, provinces),
            _in(sa.FILING_KIND.name, (k.value for k in kinds)),
        ],
    )
    if running or overdue or provisional:
        parts.append("ExecutionStatus = 'Running'")
    else:
        parts.append("ExecutionStatus != 'ContinuedAsNew'")
    if overdue:
        stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
        parts.append(f"({sa.SLA_BREACHED.name} = true OR {sa.STAGE_DEADLINE.name} < {quote(stamp)})")
    if provisional:
        parts.append(f"{sa.DEADLINE_PROVISIONAL.name} = true")
    return " AND ".join(parts)


@dataclass(frozen=True)
class FilingRow:
    """One filing as its search attributes show it (no personal data, SPEC §7)."""

    filing_id: str
    run_id: str
    running: bool
    stage: str
    kind: str
    province: str
    appid: str
    attempt: int | None
    deadline: datetime | None
    provisional: bool
    sla_breached: bool
    started_at: datetime

    @classmethod
    def of(cls, w: WorkflowExecution) -> FilingRow:
        from temporalio.client import WorkflowExecutionStatus

        from workflows import search_attributes as sa

        attrs = w.typed_search_attributes
        return cls(
            filing_id=w.id,
            run_id=w.run_id,
            running=w.status is WorkflowExecutionStatus.RUNNING,
            stage=attrs.get(sa.FILING_STAGE) or "?",
            kind=attrs.get(sa.FILING_KIND) or "?",
            province=attrs.get(sa.PROVINCE) or "?",
            appid=attrs.get(sa.APP_ID) or "?",
            attempt=attrs.get(sa.FILING_ATTEMPT),
            deadline=attrs.get(sa.STAGE_DEADLINE),
            provisional=bool(attrs.get(sa.DEADLINE_PROVISIONAL)),
            sla_breached=bool(attrs.get(sa.SLA_BREACHED)),
            started_at=w.start_time,
        )

    def overdue(self, now: datetime) -> bool:
        return self.running and (self.sla_breached or (self.deadline is not None and self.deadline < now))

    def as_json(self, now: datetime) -> dict[str, object]:
        return {
            "filing_id": self.filing_id,
            "run_id": self.run_id,
            "running": self.running,
            "stage": self.stage,
            "kind": self.kind,
            "province": self.province,
            "appid": self.appid,
            "attempt": self.attempt,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "provisional": self.provisional,
            "sla_breached": self.sla_breached,
            "overdue": self.overdue(now),
            "started_at": self.started_at.isoformat(),
        }


async def fetch_rows(client: Client, query: str, limit: int | None = None) -> list[FilingRow]:
    return [FilingRow.of(w) async for w in client.list_workflows(query, limit=limit)]


def oldest_deadline_first(rows: list[FilingRow]) -> list[FilingRow]:
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r.deadline or far, r.started_at))
