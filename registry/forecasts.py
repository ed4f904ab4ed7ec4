"""The finished provincial reviews the forecast stands on, read from the registry.

Why the registry and not Temporal: it keeps every applied approval for ever (workflows end
and are deleted after their retention), with its instant (`approved_at`) and, since
migration 0008, the provincial review's start (`review_started_at`, the workflow's
`stage_since` when the province approved). One indexed range read over `approved_at`; no
history is replayed and no visibility query is paged. Rows recorded before 0008 (or by the
importer of past filings) have no start and are not samples.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select

from filing.filing_number import parse_filing_number
from filing.forecast import PROVINCIAL_KINDS, ReviewSample
from filing.models import FilingKind
from filing.registry import RegistryOutcome
from registry.database import in_transaction
from registry.tables import registry_changes


def review_samples(engine: Engine, since: datetime) -> list[ReviewSample]:
    """Every applied provincial approval decided at or after `since` whose review start is known."""
    t = registry_changes
    query = (
        select(t.c.kind, t.c.number, t.c.approved_at, t.c.review_started_at, t.c.outcome)
        .where(t.c.approved_at >= since, t.c.review_started_at.is_not(None),
               t.c.kind.in_([k.value for k in PROVINCIAL_KINDS]))
    )
    rows = in_transaction(engine, lambda c: c.execute(query).all())
    samples = []
    for kind, number, approved_at, started_at, outcome in rows:
        recorded = RegistryOutcome.model_validate_json(outcome)
        try:  # the number the registry recorded (a NEW's issued one), else the one named
            parsed = parse_filing_number(recorded.service_number or number)
        except ValueError:
            continue
        samples.append(ReviewSample(province=parsed.province.prefix, kind=FilingKind(kind),
                                    started_at=started_at, decided_at=approved_at))
    return samples


def changes_fingerprint(engine: Engine) -> tuple[int, int]:
    """One small read that changes whenever a change is recorded (or removed): the samples
    are read again only then."""
    t = registry_changes
    found = in_transaction(engine, lambda c: c.execute(select(func.max(t.c.id), func.count(t.c.id))).one())
    return int(found[0] or 0), int(found[1] or 0)
