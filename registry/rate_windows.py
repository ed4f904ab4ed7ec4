"""Moving-window rate limits shared by every replica, on the registry's database.

The `limits` package's moving window (`5/minute`: at most 5 entries in any 60 seconds),
with its counters here instead of in one process's memory, so N replicas of the filing
service allow the configured rate, not N times it. One row per limited key holds the
instants of its entries inside the longest window (a short JSON list). Counting is one
transaction: an upsert of each row first (on PostgreSQL it locks the row, taken in sorted
order so two replicas never deadlock; SQLite's writer holds the whole database), then
the check, then the new entry in every row — or, when any window is full, nothing at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from registry import migrate
from registry.database import create_registry_engine, in_transaction, unavailable
from registry.tables import rate_limit_windows as table

#: Expired rows deleted per clean-up, at most once per `cleanup_every` seconds per instance.
_CLEANUP_BATCH = 500


@dataclass(frozen=True)
class Window:
    """At most `amount` entries in any `seconds` (a `limits.RateLimitItem`)."""

    amount: int
    seconds: int


@dataclass(frozen=True)
class Refused:
    """The first full window met: its bucket, the window, and when it has room again."""

    bucket: str
    window: Window
    retry_after: float


class _Full(Exception):
    def __init__(self, refused: Refused) -> None:
        self.refused = refused


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class SharedMovingWindows:
    """Counts entries per bucket on the registry's database (`rate_limit_windows`)."""

    def __init__(self, url: str, *, engine: Engine | None = None, clock: Callable[[], float] = time.time,
                 cleanup_every: float = 60.0) -> None:
        """`engine`: share the caller's (the filing service's); `clock`: seconds since the
        epoch (replicas' clocks are NTP-synchronised; a window is minutes long)."""
        self.url = url
        self._own = engine is None
        self._engine = engine if engine is not None else create_registry_engine(url)
        self._clock = clock
        self._cleanup_every = cleanup_every
        self._cleaned_at = float("-inf")

    def close(self) -> None:
        if self._own:
            self._engine.dispose()

    def acquire(self, buckets: Mapping[str, Sequence[Window]]) -> Refused | None:
        """Count one entry in every bucket, or, when any of their windows is full, count
        nothing and say which and for how long (blocking: call it off the event loop)."""
        try:
            in_transaction(self._engine, lambda connection: self._count(connection, buckets), writes=True)
        except _Full as full:  # rolled back: nothing counted
            return full.refused
        except DBAPIError as err:
            self._raise(err)
        self._clean_up()
        return None

    def _count(self, c: Connection, buckets: Mapping[str, Sequence[Window]]) -> None:
        now = self._clock()
        longest = {bucket: max(w.seconds for w in windows) for bucket, windows in buckets.items()}
        # Every row locked first, in one order for every replica; then checked in the caller's order.
        hits = {bucket: [h for h in json.loads(self._lock_row(c, bucket, now)) if h >= now - longest[bucket]]
                for bucket in sorted(buckets)}
        for bucket, windows in buckets.items():
            for window in windows:
                inside = [h for h in hits[bucket] if h >= now - window.seconds]
                if len(inside) >= window.amount:
                    # Room again when the entry that makes the window full leaves it.
                    leaves = inside[len(inside) - window.amount] + window.seconds
                    raise _Full(Refused(bucket, window, max(0.0, leaves - now)))
        for bucket in sorted(buckets):
            c.execute(table.update().where(table.c.bucket == bucket).values(
                hits=json.dumps([*hits[bucket], round(now, 6)]), expires_at=_instant(now + longest[bucket])))

    @staticmethod
    def _lock_row(c: Connection, bucket: str, now: float) -> str:
        """The bucket's entries, its row created or locked by an upsert (the atomic step)."""
        insert = postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert
        statement = insert(table).values(bucket=bucket, hits="[]", expires_at=_instant(now))
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.bucket], set_={"bucket": statement.excluded.bucket}
        ).returning(table.c.hits)
        hits: str = c.execute(statement).scalar_one()
        return hits

    def _clean_up(self) -> None:
        """Delete rows whose entries all left their windows, now and then; rows another
        replica holds are skipped (PostgreSQL), never waited for."""
        now = self._clock()
        if now - self._cleaned_at < self._cleanup_every:
            return
        self._cleaned_at = now
        expired = (select(table.c.bucket).where(table.c.expires_at < _instant(now))
                   .limit(_CLEANUP_BATCH).with_for_update(skip_locked=True))
        try:
            with self._engine.connect() as connection, connection.begin():
                connection.execute(delete(table).where(table.c.bucket.in_(expired)))
        except DBAPIError:
            pass  # the next clean-up tries again; the entry itself was counted

    def _raise(self, err: DBAPIError) -> None:
        if "rate_limit_windows" in str(err.orig) or getattr(err.orig, "sqlstate", None) == "42P01":
            migrate.require_current(self.url)  # a schema behind says so, naming the fix
        raise unavailable(self.url, err) from None
