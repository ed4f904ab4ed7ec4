"""One table of the registry's database kept by a store of its own (the calendar overrides,
the provincial material lists): its engine, shared or its own, and its transactions, where a
missing table is told as a schema behind (naming the fix) and any other fault as the
registry unavailable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from registry import migrate
from registry.database import create_registry_engine, describe, in_transaction, unavailable

T = TypeVar("T")


def now_utc() -> datetime:
    return datetime.now(UTC)


class TableStore:
    """Base of a store on one registry table, named by `TABLE`."""

    TABLE: ClassVar[str]

    def __init__(self, url: str, *, engine: Engine | None = None, clock: Callable[[], datetime] = now_utc) -> None:
        """`engine`: share one the caller already has (the filing service's); else one of
        its own, closed by `close()`."""
        self.url = url
        self._own = engine is None
        self._engine = engine if engine is not None else create_registry_engine(url)
        self._clock = clock

    def __str__(self) -> str:
        return f"registry database {describe(self.url)} (table {self.TABLE})"

    def close(self) -> None:
        if self._own:
            self._engine.dispose()

    def _run(self, work: Callable[[Connection], T], *, writes: bool = False) -> T:
        try:
            return in_transaction(self._engine, work, writes=writes)
        except DBAPIError as err:
            if self.TABLE in str(err.orig) or getattr(err.orig, "sqlstate", None) == "42P01":
                migrate.require_current(self.url)  # a schema behind says so, naming the fix
            raise unavailable(self.url, err) from None
