"""Pages of a filing list in deadline order, read from a visibility store that cannot sort.

Why this exists: the SQL visibility store (the dev server's SQLite, PostgreSQL and MySQL
in recent Temporal servers) refuses `ORDER BY` — measured on Server 1.32: "operation is
not supported: 'ORDER BY' clause" — and answers newest start first. Pulling the whole list
and sorting it per page is work that grows with the list. Instead a page is found by
counting: `CountWorkflowExecutions` (one number, no rows) says how many filings lie under a
bound; the bound is narrowed until it holds between `size + 1` and `cap` filings; only
those are read, and sorted here. Work per page: at most `cap` rows read plus a few
samples of `sample` rows, and a few dozen counts at worst.

The order: the stage deadline at millisecond grain (the grain the SQLite store keeps; a
bucket is the deadline rounded half up to the millisecond), filings without a deadline
last, ties by workflow id, then run id. Bounds between buckets are half-millisecond
instants written with four decimals (`…SS.fff5Z`), which the SQLite store (text
comparison of its `…SS.fff+00:00` column) and the stores keeping microseconds compare
alike. A deadline on a half millisecond, or in a second's last half millisecond (SQLite
truncates those), is placed by asking the server, so a cursor never skips nor repeats it.

Workflow ids compare as the store compares them: bytewise on SQLite, which is Python's
order; on PostgreSQL by the database's collation, which agrees for filing ids
(`filing-wx` + 16 lowercase hex digits).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecution

from engine.visibility import FilingRow, quote
from workflows import search_attributes as sa

D = sa.STAGE_DEADLINE.name
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
#: The bucket search never leaves [1970, 9000): deadlines are days or weeks from now.
FIRST_BUCKET, LAST_BUCKET = 0, (datetime(9000, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)
#: Visibility rows one RPC may answer (the server's default `frontend.visibilityMaxPageSize`).
SERVER_PAGE = 1000
#: A safety stop for the narrowing: far above what a real list needs (see the module docstring).
MAX_ROUNDS = 400


class ListTooBusy(RuntimeError):
    """The list kept changing under the page's reads (or the narrowing ran away): try again."""


@dataclass(frozen=True)
class Key:
    """Where a filing stands in the order: its deadline bucket (ms since 1970, None: no
    deadline, last), then workflow id, then run id. A page's cursor is its last key."""

    bucket: int | None
    workflow_id: str
    run_id: str

    def order(self) -> tuple[int, int, str, str]:
        return (1, 0, self.workflow_id, self.run_id) if self.bucket is None else (0, self.bucket, self.workflow_id, self.run_id)

    def token(self) -> str:
        """Opaque for clients: base64 of a small JSON."""
        raw = json.dumps({"b": self.bucket, "w": self.workflow_id, "r": self.run_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> Key:
        """The key a `token()` wrote; ValueError for anything else."""
        try:
            got = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValueError("not a cursor of this list") from None
        if not (isinstance(got, dict) and set(got) == {"b", "w", "r"}
                and (got["b"] is None or (type(got["b"]) is int and FIRST_BUCKET - 1 <= got["b"] <= LAST_BUCKET))
                and isinstance(got["w"], str) and isinstance(got["r"], str)
                and 0 < len(got["w"]) <= 255 and len(got["r"]) <= 64):
            raise ValueError("not a cursor of this list")
        return cls(got["b"], got["w"], got["r"])


@dataclass
class Page:
    rows: list[FilingRow]
    next: Key | None
    #: Visibility reads this page cost (for logs, metrics and the tests' bound).
    counts: int = 0
    lists: int = 0
    rows_read: int = 0


@dataclass
class _Reader:
    """The page's visibility calls, counted."""

    client: Client
    base: str
    counts: int = 0
    lists: int = 0
    rows_read: int = 0
    memo: dict[str, int] = field(default_factory=dict)

    async def count(self, *parts: str) -> int:
        query = _and(self.base, *parts)
        if query not in self.memo:
            self.counts += 1
            self.memo[query] = (await self.client.count_workflows(query)).count
        return self.memo[query]

    async def rows(self, limit: int, *parts: str) -> list[WorkflowExecution]:
        self.lists += 1 + (limit - 1) // SERVER_PAGE
        size = min(limit, SERVER_PAGE)
        found = [w async for w in self.client.list_workflows(_and(self.base, *parts), limit=limit, page_size=size)]
        self.rows_read += len(found)
        return found


def _and(*parts: str) -> str:
    return " AND ".join(p if i == 0 else f"({p})" for i, p in enumerate(q for q in parts if q))


def pivot(bucket: int) -> str:
    """The instant between `bucket` and `bucket + 1`: `…SS.fff5Z`, never with a trailing zero."""
    at = EPOCH + timedelta(microseconds=bucket * 1000 + 500)
    return quote(at.strftime("%Y-%m-%dT%H:%M:%S") + f".{at.microsecond // 100:04d}Z")


def _micros(at: datetime) -> int:
    return (at - EPOCH) // US


def bucket_of(at: datetime) -> int:
    """Rounded half up to the millisecond, but a second's last half millisecond stays in the
    second: what the SQLite store keeps (the others differ only on those; see `_settle`)."""
    micros = _micros(at)
    return micros // 1000 if at.microsecond >= 999_500 else (micros + 500) // 1000


def _ambiguous(at: datetime) -> bool:
    """Stores may disagree on its bucket: on a half millisecond, or in a second's last
    half millisecond (which SQLite truncates to .999 instead of rounding up)."""
    rest = _micros(at) % 1000
    return 499 <= rest <= 501 or at.microsecond >= 999_500


def _ids_after(workflow_id: str, run_id: str) -> str:
    return f"WorkflowId > {quote(workflow_id)} OR (WorkflowId = {quote(workflow_id)} AND RunId > {quote(run_id)})"


def _ids_upto(workflow_id: str, run_id: str) -> str:
    return f"WorkflowId < {quote(workflow_id)} OR (WorkflowId = {quote(workflow_id)} AND RunId <= {quote(run_id)})"


def _in_bucket(bucket: int | None) -> str:
    return f"{D} IS NULL" if bucket is None else f"{D} >= {pivot(bucket - 1)} AND {D} < {pivot(bucket)}"


def after(key: Key) -> str:
    """Filings after `key` in the order."""
    if key.bucket is None:
        return f"{D} IS NULL AND ({_ids_after(key.workflow_id, key.run_id)})"
    return (f"{D} IS NULL OR {D} >= {pivot(key.bucket)} OR "
            f"({_in_bucket(key.bucket)} AND ({_ids_after(key.workflow_id, key.run_id)}))")


def upto(key: Key) -> str:
    """Filings at or before `key`."""
    if key.bucket is None:
        return f"{D} IS NOT NULL OR {_ids_upto(key.workflow_id, key.run_id)}"
    return f"{D} < {pivot(key.bucket - 1)} OR ({_in_bucket(key.bucket)} AND ({_ids_upto(key.workflow_id, key.run_id)}))"


def upto_bucket(bucket: int) -> str:
    return f"{D} < {pivot(bucket)}"


@dataclass
class _Search:
    """Finds a bound holding between `want` and `cap` filings after the cursor."""

    read: _Reader
    lo: Key | None
    want: int
    cap: int
    sample: int

    @property
    def after_lo(self) -> str:
        return after(self.lo) if self.lo else ""

    async def bound(self) -> str:
        """The predicate of the page's region (empty: every filing after the cursor)."""
        if await self.read.count(self.after_lo) <= self.cap:
            return ""
        if self.lo is not None and self.lo.bucket is None:
            return await self._ties(None, 0)
        finite = await self.read.count(self.after_lo, f"{D} IS NOT NULL")
        if finite < self.want:
            return await self._ties(None, finite)
        if finite <= self.cap:
            return f"{D} IS NOT NULL"
        return await self._buckets(finite)

    async def _buckets(self, finite: int) -> str:
        """Narrow on the deadline: (kb, kh] brackets the answer, N(kb) < want < cap < N(kh).
        First the buckets of one sample (binary search), then, as a sample is skewed to the
        newest filings, galloping down from it when the cursor gives no lower end, then
        interpolation on the counts, every other step halving, so it ends in O(log) counts."""
        kb: int | None = self.lo.bucket - 1 if self.lo is not None and self.lo.bucket is not None else None
        nb, kh, nh = 0, LAST_BUCKET, finite
        rows = await self.read.rows(self.sample, self.after_lo, f"{D} IS NOT NULL")
        hints = sorted({bucket_of(d) for w in rows if (d := w.typed_search_attributes.get(sa.STAGE_DEADLINE))})
        target = min(2 * self.want, (self.want + self.cap) // 2)
        step = 1000
        for rounds in range(MAX_ROUNDS):
            if kb is not None and kh - kb <= 1:
                return await self._ties(kh, nb)
            inside = [h for h in hints if (kb is None or kb < h) and h < kh]
            if inside:
                middle = inside[len(inside) // 2]
            elif kh - 1 in hints or (kh in hints and (kb is None or kh - 1 > kb)):
                middle = kh - 1  # a day's deadlines share one instant: is kh a tie group?
                hints = [h for h in hints if h != kh]
            elif kb is None:
                middle, step = max(FIRST_BUCKET - 1, kh - step), step * 2
            elif rounds % 2:
                middle = (kb + kh) // 2
            else:
                middle = kb + max(1, min(kh - kb - 1, (kh - kb) * (target - nb) // max(1, nh - nb)))
            n = await self.read.count(self.after_lo, upto_bucket(middle)) if middle >= FIRST_BUCKET else 0
            if n < self.want:
                kb, nb = middle, n
            elif n > self.cap:
                kh, nh = middle, n
            else:
                return upto_bucket(middle)
        raise ListTooBusy("the deadline search did not settle")

    async def _ties(self, bucket: int | None, before: int) -> str:
        """One bucket holds more than `cap` filings after the cursor: narrow on the ids.
        `before` filings after the cursor lie in earlier buckets."""
        lower = (self.lo.workflow_id, self.lo.run_id) if self.lo is not None and self.lo.bucket == bucket else None
        upper: tuple[str, str] | None = None
        for _ in range(MAX_ROUNDS):
            parts = [self.after_lo, _in_bucket(bucket)]
            if lower:
                parts.append(_ids_after(*lower))
            if upper:
                parts.append(_ids_upto(*upper))
            rows = await self.read.rows(self.sample, *parts)
            ids = sorted({(w.id, w.run_id) for w in rows})
            if len(rows) < self.sample:  # the whole bracket: the answer is among them
                need = self.want - before
                chosen = ids[min(need, len(ids)) - 1] if ids else upper
                return upto(Key(bucket, *chosen)) if chosen else _in_bucket(bucket)
            lo_i, hi_i = 0, len(ids) - 1
            while lo_i <= hi_i:
                mid = (lo_i + hi_i) // 2
                n = await self.read.count(self.after_lo, upto(Key(bucket, *ids[mid])))
                if n < self.want:
                    lower, before, lo_i = ids[mid], n, mid + 1
                elif n > self.cap:
                    upper, hi_i = ids[mid], mid - 1
                else:
                    return upto(Key(bucket, *ids[mid]))
        raise ListTooBusy("the id search did not settle")


def _tentative(w: WorkflowExecution) -> Key:
    deadline = w.typed_search_attributes.get(sa.STAGE_DEADLINE)
    return Key(None if deadline is None else bucket_of(deadline), w.id, w.run_id)


async def _settle(read: _Reader, found: list[WorkflowExecution], size: int) -> list[tuple[Key, WorkflowExecution]]:
    """The rows in order, the page's last row the one the server agrees is last: a row whose
    deadline stores may bucket apart is asked about when it could fall either side of the cursor
    (rarely more than one or two per page; elsewhere a millisecond either way changes nothing)."""
    keyed = sorted(((_tentative(w), w) for w in found), key=lambda kw: kw[0].order())
    asked: dict[datetime, int] = {}
    while True:
        if len(keyed) <= size:
            return keyed
        edge = keyed[size - 1][0].bucket
        doubtful = [(i, w, d) for i, (k, w) in enumerate(keyed) if k.bucket is not None and edge is not None
                    and (d := w.typed_search_attributes.get(sa.STAGE_DEADLINE)) is not None
                    and _ambiguous(d) and abs(k.bucket - edge) <= 1 and asked.get(d) != k.bucket]
        if not doubtful:
            return keyed
        for i, w, deadline in doubtful:
            if deadline not in asked:  # one question per instant: the store buckets alike values alike
                low = _micros(deadline) // 1000
                mine = f"WorkflowId = {quote(w.id)} AND RunId = {quote(w.run_id)}"
                asked[deadline] = low if await read.count(mine, upto_bucket(low)) else low + 1
            keyed[i] = (Key(asked[deadline], w.id, w.run_id), w)
        keyed.sort(key=lambda kw: kw[0].order())


async def page(client: Client, query: str, *, after_key: Key | None, size: int, cap: int | None = None,
               sample: int | None = None) -> Page:
    """The `size` filings of `query` after `after_key`, oldest deadline first, and the
    cursor of the next page (None on the last)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    want = size + 1
    cap = max(cap or 4 * want, want)
    sample = sample or min(max(2 * want, 64), SERVER_PAGE)
    for _ in range(3):
        read = _Reader(client, query)
        bound = await _Search(read, after_key, want, cap, sample).bound()
        found = await read.rows(cap + 1, after(after_key) if after_key else "", bound)
        if len(found) <= cap:
            break
    else:
        raise ListTooBusy("the list grew past the page's bound three times running")
    keyed = await _settle(read, found, size)
    chosen = keyed[:size]
    more = len(keyed) > size or (bool(bound) and len(chosen) == size)
    return Page(rows=[FilingRow.of(w) for _, w in chosen], next=chosen[-1][0] if more and chosen else None,
                counts=read.counts, lists=read.lists, rows_read=read.rows_read)


async def walk(client: Client, query: str, *, size: int, limit: int | None = None) -> list[FilingRow]:
    """Every filing of `query` in deadline order (at most `limit`), a page at a time."""
    found: list[FilingRow] = []
    cursor: Key | None = None
    while limit is None or len(found) < limit:
        got = await page(client, query, after_key=cursor, size=size if limit is None else min(size, limit - len(found)))
        found += got.rows
        if got.next is None:
            break
        cursor = got.next
    return found
