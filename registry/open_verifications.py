"""The `filing.ports.OpenVerifications` on the registry's database (`open_verifications`).

A row says "the filing `filing_id` waits for the code sent to this mobile, until
`expires_at`". The mobile is stored only as an HMAC under a key derived from the payload
keyring (which both the workers, who write, and the filing service, which reads, hold): a
plain digest would be reversed by trying the 10¹¹ mobile numbers. Rows are written with
the current key and found under every key of the keyring, so a rotation of the payload
keys loses no open verification. Expired rows are ignored at once and deleted by the next write.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from filing.ports import OpenVerification
from registry import migrate
from registry.database import create_registry_engine, in_transaction, unavailable
from registry.tables import open_verifications as table

T = TypeVar("T")

_CONTEXT = b"icp-filings open-verification index v1"


def index_key(payload_key: bytes) -> bytes:
    """The key naming a mobile in the index, derived from a payload key (never the key itself)."""
    return hmac.new(payload_key, _CONTEXT, hashlib.sha256).digest()


class SqlOpenVerifications:
    def __init__(self, url: str, payload_keys: Mapping[str, bytes], current: str, *,
                 engine: Engine | None = None) -> None:
        """`payload_keys`: the payload keyring's keys by id; `current`: the one new rows use.
        `engine`: share the caller's (the filing service's)."""
        if current not in payload_keys:
            raise ValueError(f"payload key {current!r} is not among the keys {sorted(payload_keys)}")
        self.url = url
        self._own = engine is None
        self._engine = engine if engine is not None else create_registry_engine(url)
        self._keys = {key_id: index_key(key) for key_id, key in payload_keys.items()}
        self._current = current

    def dispose(self) -> None:
        """Release the engine this instance made (not a shared one)."""
        if self._own:
            self._engine.dispose()

    def _digest(self, mobile: str, key_id: str) -> str:
        return hmac.new(self._keys[key_id], mobile.encode(), hashlib.sha256).hexdigest()

    def _all_digests(self, mobile: str) -> list[str]:
        return [self._digest(mobile, key_id) for key_id in sorted(self._keys)]

    async def open(self, mobile: str, filing_id: str, expires_at: datetime) -> None:
        now = datetime.now(UTC)
        digest = self._digest(mobile, self._current)

        def work(c: Connection) -> None:
            # Rows of this mobile and filing under an older key go: one row per verification.
            c.execute(delete(table).where(table.c.filing_id == filing_id,
                                          table.c.mobile_digest.in_(self._all_digests(mobile)),
                                          table.c.mobile_digest != digest))
            insert = postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert
            statement = insert(table).values(mobile_digest=digest, filing_id=filing_id, opened_at=now,
                                             expires_at=expires_at)
            c.execute(statement.on_conflict_do_update(
                index_elements=[table.c.mobile_digest, table.c.filing_id],
                set_={"opened_at": statement.excluded.opened_at, "expires_at": statement.excluded.expires_at}))
            c.execute(delete(table).where(table.c.expires_at < now))  # what expired, every open clears

        await self._run(work, writes=True)

    async def find(self, mobile: str, now: datetime) -> list[OpenVerification]:
        def work(c: Connection) -> list[OpenVerification]:
            rows = c.execute(select(table).where(table.c.mobile_digest.in_(self._all_digests(mobile)),
                                                 table.c.expires_at > now)
                             .order_by(table.c.opened_at.desc(), table.c.filing_id)).all()
            return [OpenVerification(filing_id=r.filing_id, opened_at=r.opened_at, expires_at=r.expires_at)
                    for r in rows]

        return await self._run(work, writes=False)

    async def close(self, mobile: str, filing_id: str) -> None:
        def work(c: Connection) -> None:
            c.execute(delete(table).where(table.c.mobile_digest.in_(self._all_digests(mobile)),
                                          table.c.filing_id == filing_id))

        await self._run(work, writes=True)

    async def _run(self, work: Callable[[Connection], T], *, writes: bool) -> T:
        return await asyncio.to_thread(self._blocking, work, writes)

    def _blocking(self, work: Callable[[Connection], T], writes: bool) -> T:
        try:
            return in_transaction(self._engine, work, writes=writes)
        except DBAPIError as err:
            if "open_verifications" in str(err.orig) or getattr(err.orig, "sqlstate", None) == "42P01":
                migrate.require_current(self.url)  # a schema behind says so, naming the fix
            raise unavailable(self.url, err) from None
