"""The provinces' supplementary-material lists in force (R10), kept in the registry database.

One source for every worker and service replica, as the calendar's overrides are:
`filings materials provinces import FILE` checks the operators' list whole and writes it
here in one transaction (all of it or, on any error, nothing); each L1 check and each start
check reads the row (one small read, parsed again only when its checksum changed), so an
import is in force everywhere without a restart. No row: the list shipped with the engine
(`filing/data/province_materials.json`) applies. An outage is an outage, never a silent
fall-back to the shipped list: the caller retries or answers 503.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from sqlalchemy import Connection, Engine, select

from filing.province_materials import (
    DEFAULT_PATH,
    ProvinceListing,
    ProvinceMaterials,
    parse_province_listing,
    shipped_listing,
)
from registry.table_store import TableStore, now_utc
from registry.tables import province_material_lists as table

T = TypeVar("T")
ROW = 1


class StoredListInvalid(RuntimeError):
    """The stored row does not parse (written by hand, not by the import): no list is in force."""


@dataclass(frozen=True)
class ListsInForce:
    """The list the checks apply, and where it comes from."""

    listing: ProvinceListing
    origin: Literal["registry", "shipped"]
    checksum: str
    #: The registry's import (none for the shipped list).
    version: int | None = None
    imported_at: datetime | None = None
    imported_from: str | None = None

    def describe(self) -> str:
        if self.origin == "shipped":
            return f"the list shipped with the engine ({DEFAULT_PATH.name}, updated {self.listing.updated or '?'})"
        assert self.imported_at is not None
        return (f"the list imported into the registry database from {self.imported_from} "
                f"(version {self.version}, {self.imported_at:%Y-%m-%d %H:%M} UTC)")


@dataclass(frozen=True)
class Imported:
    """What an import did: the list `added` (none before), `replaced`, or `unchanged`."""

    outcome: Literal["added", "replaced", "unchanged"]
    version: int
    checksum: str


class ProvinceMaterialsStore(TableStore):
    """The lists in force on the registry's database, and the import."""

    TABLE = "province_material_lists"

    def __init__(self, url: str, *, engine: Engine | None = None, clock: Callable[[], datetime] = now_utc) -> None:
        super().__init__(url, engine=engine, clock=clock)
        self._parsed: tuple[str, ProvinceMaterials] | None = None
        self._lock = threading.Lock()

    def _parse(self, content: str) -> ProvinceListing:
        try:
            return parse_province_listing(content, str(self))
        except ValueError as err:
            raise StoredListInvalid(f"{err}; import a checked list with `filings materials provinces import FILE`") \
                from None

    # --- read by every check ---------------------------------------------------------------

    def stored(self) -> ListsInForce | None:
        """The imported list with its bookkeeping, or None when nothing was imported."""
        row = self._run(lambda c: c.execute(select(table).where(table.c.id == ROW)).first())
        if row is None:
            return None
        return ListsInForce(self._parse(row.content), "registry", row.checksum, row.version, row.imported_at,
                            row.imported_from)

    def in_force(self) -> ListsInForce:
        """The imported list, else the shipped one."""
        found = self.stored()
        if found is not None:
            return found
        shipped = shipped_listing()
        return ListsInForce(shipped, "shipped", shipped.checksum())

    def lists(self) -> ProvinceMaterials:
        """What R10 applies now (the `province_lists` of the checks): one read; the row is
        parsed again only when its checksum changed. Raises `RegistryUnavailable` when the
        database cannot answer, `StoredListInvalid` when its row does not parse."""
        row = self._run(lambda c: c.execute(select(table.c.checksum, table.c.content).where(table.c.id == ROW)).first())
        if row is None:
            return shipped_listing().materials()
        with self._lock:
            if self._parsed is not None and self._parsed[0] == row.checksum:
                return self._parsed[1]
        parsed = self._parse(row.content).materials()
        with self._lock:
            self._parsed = (row.checksum, parsed)
        return parsed

    # --- written by `filings materials provinces import` --------------------------------

    def import_listing(self, listing: ProvinceListing, imported_from: str) -> Imported:
        """Replace the list in force by `listing` (already checked), in one transaction: the
        whole list or, on any error, the one before stays. The same list again changes nothing."""
        content, checksum = listing.canonical_json(), listing.checksum()

        def write(c: Connection) -> Imported:
            before = c.execute(select(table.c.checksum, table.c.version).where(table.c.id == ROW)).first()
            values = {"content": content, "checksum": checksum, "imported_at": self._clock(),
                      "imported_from": imported_from}
            if before is None:
                c.execute(table.insert().values(id=ROW, version=1, **values))
                return Imported("added", 1, checksum)
            if before.checksum == checksum:
                return Imported("unchanged", before.version, checksum)
            version = before.version + 1
            c.execute(table.update().where(table.c.id == ROW).values(version=version, **values))
            return Imported("replaced", version, checksum)

        return self._run(write, writes=True)
