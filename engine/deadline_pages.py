"""Pages of a filing list in deadline order, read from a visibility store that cannot sort.

Why this exists: the SQL visibility store (the dev server's SQLite, PostgreSQL and MySQL
in recent Temporal servers) refuses `ORDER BY` — measured on Server 1.32: "operation is
not supported: 'ORDER BY' clause" — and answers in its own order, the run started last
first, which it pages by itself with its page token. Pulling the whole list and sorting it
per page is work that grows with the list. Instead:

- **Between deadlines** a page is found by counting: `CountWorkflowExecutions` (one number,
  no rows) says how many filings lie under a deadline bound; the bound is narrowed until
  it holds between `want` (the page and one more) and `cap` filings; only those are read,
  and sorted here.
- **Within one deadline** the store's own order is kept, and its page token marks where a
  page ended. A desk is mostly tie groups: every SLA ends at 24:00 China time of its
  business day, so the filings of one day share one deadline. Reading on inside a tie
  group is then one list call of a page's rows, whatever its size (before issue 21 a tie
  group was split by workflow id with a dozen counts per page, each a scan of the desk).

The order: the stage deadline at millisecond grain (the grain the SQLite store keeps; a
bucket is the deadline rounded half up to the millisecond), filings without a deadline
last; within a bucket, the store's order (the newest run first). Bounds between buckets are
half-millisecond instants written with four decimals (`…SS.fff5Z`), which the SQLite store
(text comparison of its `…SS.fff+00:00` column) and the stores keeping microseconds compare
alike. A deadline on a half millisecond, or in a second's last half millisecond (SQLite
truncates those), is placed by asking the server, so a cursor never skips nor repeats it.

A cursor carries the store's page token, which the server trusts; it is sealed (HMAC) so
only tokens this engine handed out reach the server — a forged one is refused here as "not
a cursor of this list", never sent (the dev server answers a malformed token with an error
the SDK retries for seconds).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
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
#: Samples of a bracket's buckets one page may take before narrowing by counts alone.
MAX_SAMPLES = 4
#: The store's page tokens are small (SQL: its last row's close time, start time and run id).
MAX_POSITION = 512


class ListTooBusy(RuntimeError):
    """The list kept changing under the page's reads (or the narrowing ran away): try again."""


@dataclass(frozen=True)
class Key:
    """Where the next page starts: in deadline bucket `bucket` (ms since 1970; None: the
    filings without a deadline, last), at `position` — the store's page token inside that
    bucket, `b""` for its first filing, None when the bucket is done (the next one follows)."""

    bucket: int | None
    position: bytes | None = b""


class Seal:
    """Cursors as opaque, tamper-proof text: JSON of the key, base64, and an HMAC-SHA256 tag.
    Several keys open (rotation: the current one seals); a seal of no key lives for its
    process (the `filings` tool's own walks)."""

    LABEL = b"filings list cursor v1"

    def __init__(self, keys: Mapping[str, bytes] | None = None, current: str | None = None) -> None:
        raw = dict(keys) if keys else {"process": secrets.token_bytes(32)}
        self._keys = {kid: hmac.new(k, self.LABEL, hashlib.sha256).digest() for kid, k in raw.items()}
        self._current = current if current in self._keys else next(iter(self._keys))

    def _tag(self, kid: str, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._keys[kid], body, hashlib.sha256).digest()[:16]).decode().rstrip("=")

    def token(self, key: Key) -> str:
        position = None if key.position is None else base64.urlsafe_b64encode(key.position).decode()
        body = json.dumps({"b": key.bucket, "p": position, "k": self._current}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._tag(self._current, body)

    def open(self, token: str) -> Key:
        """The key a `token()` of this deployment wrote; ValueError for anything else."""
        try:
            text, tag = token.split(".")
            body = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            got = json.loads(body)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValueError("not a cursor of this list") from None
        if not (isinstance(got, dict) and set(got) == {"b", "p", "k"} and got["k"] in self._keys
                and hmac.compare_digest(self._tag(got["k"], body), tag)):
            raise ValueError("not a cursor of this list")
        bucket, position = got["b"], got["p"]
        if not ((bucket is None or (type(bucket) is int and FIRST_BUCKET <= bucket <= LAST_BUCKET))
                and (position is None or (isinstance(position, str) and len(position) <= 2 * MAX_POSITION))):
            raise ValueError("not a cursor of this list")
        return Key(bucket, None if position is None else base64.urlsafe_b64decode(position))


@dataclass
class Page:
    rows: list[FilingRow]
    next: Key | None
    #: How many filings the list holds, when the page counted it anyway (a first page does).
    total: int | None = None
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

    async def in_store_order(self, bucket: int | None, size: int, position: bytes) -> tuple[list[WorkflowExecution], bytes]:
        """Up to `size` filings of one bucket from `position` on, in the store's order, and the
        store's token after them (b"" when the bucket has no more)."""
        listing = self.client.list_workflows(_and(self.base, _in_bucket(bucket)), page_size=size,
                                             next_page_token=position or None)
        await listing.fetch_next_page()
        found = list(listing.current_page or ())
        self.lists += 1
        self.rows_read += len(found)
        return found, (listing.next_page_token or b"") if len(found) >= size else b""


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


def _in_bucket(bucket: int | None) -> str:
    return f"{D} IS NULL" if bucket is None else f"{D} >= {pivot(bucket - 1)} AND {D} < {pivot(bucket)}"


def upto_bucket(bucket: int) -> str:
    return f"{D} < {pivot(bucket)}"


@dataclass(frozen=True)
class _Region:
    """What lies after a bucket boundary: the buckets above `floor` (None: every bucket)
    and the filings without a deadline; or (`nulls_only`) just those."""

    floor: int | None = None
    nulls_only: bool = False

    @classmethod
    def of(cls, key: Key) -> _Region | None:
        """The region from `key`'s bucket on (its start, or after it when it is done); None: nothing."""
        if key.bucket is None:
            return None if key.position is None else cls(nulls_only=True)
        return cls(floor=key.bucket if key.position is None else key.bucket - 1)

    def where(self) -> str:
        if self.nulls_only:
            return f"{D} IS NULL"
        return "" if self.floor is None else f"{D} IS NULL OR {D} >= {pivot(self.floor)}"


@dataclass(frozen=True)
class _Tie:
    """One bucket holds more than `cap` filings of the region; `before` lie in earlier buckets."""

    bucket: int | None
    before: int


@dataclass
class _Search:
    """Finds a bound holding between `want` and `cap` filings of the region, or the tie group
    the page reaches into."""

    read: _Reader
    region: _Region
    want: int
    cap: int
    sample: int

    async def bound(self) -> str | _Tie:
        """The predicate of the page's part of the region (empty: all of it), or its tie group."""
        where = self.region.where()
        if await self.read.count(where) <= self.cap:
            return ""
        if self.region.nulls_only:
            return _Tie(None, 0)
        finite = await self.read.count(where, f"{D} IS NOT NULL")
        if finite < self.want:
            return _Tie(None, finite)
        if finite <= self.cap:
            return f"{D} IS NOT NULL"
        return await self._buckets(where, finite)

    async def _buckets(self, where: str, finite: int) -> str | _Tie:
        """Narrow on the deadline: (kb, kh] brackets the answer, N(kb) < want < cap < N(kh).
        Candidates come from samples of the bracket (binary search over the buckets a sample
        shows). Where a sample is mostly tie groups — a desk's deadlines are a few days' 24:00
        instants — the bracket left is sampled again (a few times per page), which finds the
        next tie group in one call where counting would bisect a day's milliseconds. Otherwise
        galloping down when there is no lower end, then interpolation on the counts, every
        other step halving, so it ends in O(log) counts."""
        kb: int | None = self.region.floor
        nb, kh, nh = 0, LAST_BUCKET, finite
        hints: list[int] = []
        samples, tied = 0, True
        target = min(2 * self.want, (self.want + self.cap) // 2)
        step = 1000
        for rounds in range(MAX_ROUNDS):
            if kb is not None and kh - kb <= 1:
                return _Tie(kh, nb)
            inside = [h for h in hints if (kb is None or kb < h) and h < kh]
            if not inside and samples < MAX_SAMPLES and tied:
                samples += 1
                below = [where, f"{D} IS NOT NULL" if kh == LAST_BUCKET else upto_bucket(kh - 1)]
                rows = await self.read.rows(self.sample, *below, f"{D} >= {pivot(kb)}" if kb is not None else "")
                if not rows:  # nothing between kb and kh: kh is where the page reaches (a tie group)
                    if kh == LAST_BUCKET:
                        raise ListTooBusy("the deadlines counted a moment ago are gone")
                    kb = kh - 1
                    continue
                hints = sorted({bucket_of(d) for w in rows if (d := w.typed_search_attributes.get(sa.STAGE_DEADLINE))})
                tied = 2 * len(hints) <= len(rows)  # mostly tie groups: sampling finds the next one
                continue
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
            n = await self.read.count(where, upto_bucket(middle)) if middle >= FIRST_BUCKET else 0
            if n < self.want:
                kb, nb = middle, n
            elif n > self.cap:
                kh, nh = middle, n
            else:
                return upto_bucket(middle)
        raise ListTooBusy("the deadline search did not settle")


def _sort_key(bucket: int | None, w: WorkflowExecution) -> tuple[int, int, float, str]:
    """Deadline bucket (none last), then as the store lists a bucket: the newest run first."""
    started = -w.start_time.timestamp() if w.start_time else 0.0
    return (1, 0, started, w.run_id or "") if bucket is None else (0, bucket, started, w.run_id or "")


async def _settle(read: _Reader, found: list[WorkflowExecution], size: int) -> list[tuple[int | None, WorkflowExecution]]:
    """The rows in order, their buckets as the store has them where the page ends: a row whose
    deadline stores may bucket apart is asked about when it could fall either side of the page's
    end (rarely more than one or two per page; elsewhere a millisecond either way changes nothing)."""

    def tentative(w: WorkflowExecution) -> int | None:
        deadline = w.typed_search_attributes.get(sa.STAGE_DEADLINE)
        return None if deadline is None else bucket_of(deadline)

    keyed = sorted(((tentative(w), w) for w in found), key=lambda bw: _sort_key(*bw))
    asked: dict[datetime, int] = {}
    while True:
        if len(keyed) <= size:
            return keyed
        edge = keyed[size - 1][0]
        doubtful = [(i, w, d) for i, (b, w) in enumerate(keyed) if b is not None and edge is not None
                    and (d := w.typed_search_attributes.get(sa.STAGE_DEADLINE)) is not None
                    and _ambiguous(d) and abs(b - edge) <= 1 and asked.get(d) != b]
        if not doubtful:
            return keyed
        for i, w, deadline in doubtful:
            if deadline not in asked:  # one question per instant: the store buckets alike values alike
                low = _micros(deadline) // 1000
                mine = f"WorkflowId = {quote(w.id)} AND RunId = {quote(w.run_id or '')}"
                asked[deadline] = low if await read.count(mine, upto_bucket(low)) else low + 1
            keyed[i] = (asked[deadline], w)
        keyed.sort(key=lambda bw: _sort_key(*bw))


async def page(client: Client, query: str, *, after_key: Key | None, size: int, cap: int | None = None,
               sample: int | None = None) -> Page:
    """The `size` filings of `query` after `after_key`, oldest deadline first, and the
    cursor of the next page (None on the last)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    read = _Reader(client, query)
    rows: list[WorkflowExecution] = []
    region: _Region | None = _Region()
    if after_key is not None and after_key.position:  # inside a tie group: read on in the store's order
        rows, position = await read.in_store_order(after_key.bucket, size, after_key.position)
        if position:
            more = await read.in_store_order(after_key.bucket, 1, position)
            if more[0]:
                return _page(read, rows, Key(after_key.bucket, position))
        region = _Region.of(Key(after_key.bucket, None))
    elif after_key is not None:
        region = _Region.of(after_key)
    if region is None or len(rows) == size and not await read.count(region.where()):
        return _page(read, rows, None)
    if len(rows) == size:
        return _page(read, rows, Key(after_key.bucket if after_key else None, None))
    need = size - len(rows)
    for _ in range(3):
        got, next_key = await _from_region(read, region, need, cap=max(cap or 4 * (need + 1), need + 1),
                                           sample=sample or min(max(need + 1, 16), 32))
        if got is not None:
            return _page(read, rows + got, next_key)
    raise ListTooBusy("the list changed under the page's reads three times running")


async def _from_region(read: _Reader, region: _Region, need: int, *, cap: int,
                       sample: int) -> tuple[list[WorkflowExecution] | None, Key | None]:
    """Up to `need` filings from the start of `region` and the key after them; None when the
    list changed between the counts and the read (the caller asks again)."""
    want = need + 1
    bound = await _Search(read, region, want, cap, sample).bound()
    tie: _Tie | None = None
    if isinstance(bound, _Tie):  # the filings before the tie group, then the group in the store's order
        tie = bound
        upto = "" if tie.before == 0 else (f"{D} IS NOT NULL" if tie.bucket is None else upto_bucket(tie.bucket - 1))
    else:
        upto = bound
    if tie is None and not upto and not await read.count(region.where()):  # counted already: an empty list
        return [], None
    found = await read.rows(cap + 1, region.where(), upto) if tie is None or tie.before else []
    if len(found) > cap or (tie is not None and len(found) > need):
        return None, None
    keyed = await _settle(read, found, need)
    if len(keyed) > need:
        last, follower = keyed[need - 1][0], keyed[need][0]
        if follower != last:  # bucket `last` ends the page: the next one reads on after it, as the store places
            return [w for _, w in keyed[:need]], Key(last, None)  # `follower`'s deadline (ms-rounding apart)
        # The page ends inside bucket `last`: its rows here are the first of the store's order.
        head = [w for b, w in keyed[:need] if b != last]
        tail, position = await read.in_store_order(last, need - len(head), b"")
        return head + tail, Key(last, position or None)
    if tie is not None:
        head = [w for _, w in keyed]
        if len(head) == need:
            return head, Key(tie.bucket)
        tail, position = await read.in_store_order(tie.bucket, need - len(head), b"")
        return head + tail, Key(tie.bucket, position or None)
    if upto:  # the counts promised more than the read found: the list changed
        return None, None
    return [w for _, w in keyed], None


def _page(read: _Reader, rows: list[WorkflowExecution], next_key: Key | None) -> Page:
    return Page(rows=[FilingRow.of(w) for w in rows], next=next_key if rows else None, total=read.memo.get(read.base),
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
