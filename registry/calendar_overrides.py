"""The business calendar's yearly overrides in the registry database (SPEC §5).

One source for every worker and replica: `filings calendar import` validates the operators'
files and writes them here, all or nothing; each worker's calendar (`BusinessCalendar` on
this store) asks `fingerprint()` before every deadline computation — one small read — and
reloads when it changed, so an import is seen by every worker without a restart and before
the `calendar_updated` signals that follow it. A database without overrides answers none:
the packaged official data applies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection, select

from filing.calendar import CalendarDataError, CalendarOverride, override_checksum
from registry.table_store import TableStore
from registry.tables import calendar_overrides as table

T = TypeVar("T")


@dataclass(frozen=True)
class StoredOverride:
    """A year as the database holds it, with its import's bookkeeping."""

    year: int
    checksum: str
    version: int
    imported_at: datetime
    source: str


@dataclass(frozen=True)
class Imported:
    """What an import did to one year."""

    year: int
    outcome: Literal["added", "replaced", "unchanged"]
    version: int
    checksum: str


class CalendarOverrideStore(TableStore):
    """`filing.calendar.OverrideSource` on the registry's database, and the import."""

    TABLE = "calendar_overrides"

    # --- read by every worker (OverrideSource) ------------------------------------------

    def fingerprint(self) -> str:
        rows = self._run(lambda c: c.execute(select(table.c.year, table.c.checksum).order_by(table.c.year)).all())
        if not rows:
            return "none"
        return hashlib.sha256(json.dumps([[y, s] for y, s in rows]).encode()).hexdigest()

    def overrides(self, skip_invalid: bool = False) -> dict[int, CalendarOverride]:
        rows = self._run(lambda c: c.execute(select(table).order_by(table.c.year)).all())
        result: dict[int, CalendarOverride] = {}
        for row in rows:
            try:
                result[row.year] = CalendarOverride.model_validate({
                    "year": row.year, "holidays": json.loads(row.holidays), "workdays": json.loads(row.workdays),
                    "source": row.source})
            except (ValidationError, ValueError) as err:  # a row written by hand, not by the import
                if skip_invalid:
                    continue
                raise CalendarDataError(f"{self}: year {row.year}: {' '.join(str(err).split())}") from None
        return result

    def stored(self) -> list[StoredOverride]:
        rows = self._run(lambda c: c.execute(select(table).order_by(table.c.year)).all())
        return [StoredOverride(r.year, r.checksum, r.version, r.imported_at, r.source) for r in rows]

    # --- written by `filings calendar import` -------------------------------------------

    def import_overrides(self, overrides: Sequence[CalendarOverride]) -> list[Imported]:
        """Write every given year in one transaction: all of them or, on any error, none.
        Each replaces its whole year; importing the same dates again changes nothing."""
        years = [o.year for o in overrides]
        if len(set(years)) != len(years):
            twice = sorted({y for y in years if years.count(y) > 1})
            raise CalendarDataError(f"year: {', '.join(map(str, twice))} given twice; import one schedule per year")

        def write(c: Connection) -> list[Imported]:
            now = self._clock()
            existing = {r.year: r for r in c.execute(select(table).where(table.c.year.in_(years))).all()}
            done: list[Imported] = []
            for o in overrides:
                checksum, before = override_checksum(o), existing.get(o.year)
                values = {"holidays": _days(o.holidays), "workdays": _days(o.workdays), "source": o.source,
                          "checksum": checksum, "imported_at": now}
                if before is None:
                    c.execute(table.insert().values(year=o.year, version=1, **values))
                    done.append(Imported(o.year, "added", 1, checksum))
                elif before.checksum == checksum and before.source == o.source:
                    done.append(Imported(o.year, "unchanged", before.version, checksum))
                else:
                    version = before.version + (before.checksum != checksum)
                    c.execute(table.update().where(table.c.year == o.year).values(version=version, **values))
                    done.append(Imported(o.year, "replaced", version, checksum))
            return done

        return self._run(write, writes=True)


def _days(days: Sequence[date]) -> str:
    return json.dumps([d.isoformat() for d in days])
