"""Console sessions held by the service, in the registry's database (`console_sessions`).

The browser's cookie holds only a random session id: it is no token, so it opens no API
call, and it opens a console page only while its row exists. Signing out deletes the row,
so a copied cookie is dead on every replica at once; a row past its absolute lifetime
(FILINGS_CONSOLE__SESSION_LIFETIME, never after the token's own expiry) or unused for
longer than FILINGS_CONSOLE__SESSION_IDLE is refused and deleted.

The table keeps the SHA-256 of the id (a read of the table gives nobody a cookie) and the
person's token sealed with the payload keyring, bound to that digest (a sealed token
copied to another row does not open). Blocking SQL runs off the event loop, as the
Idempotency-Key store's does.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from engine.sealing import Sealer
from registry.database import WRITES, RegistryUnavailable, unavailable
from registry.tables import console_sessions as sessions

#: Bytes of randomness in a session id (256 bits: not guessable, so a plain digest suffices).
ID_BYTES = 32


def _utc_now() -> datetime:
    return datetime.now(UTC)


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Started:
    """A new session: the id for the cookie and how long the cookie may live."""

    session_id: str
    expires_at: datetime
    max_age: int


class SessionStore:
    """Start, look up (which keeps an active session alive) and end console sessions."""

    def __init__(self, engine: Engine, url: str, sealer: Sealer, *, lifetime: timedelta, idle: timedelta,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._engine = engine
        self._url = url
        self._sealer = sealer
        self.lifetime = lifetime
        self.idle = idle
        self._clock = clock

    async def start(self, token: str, token_expires: datetime | None = None) -> Started:
        """A new session holding `token`; ends at the lifetime or the token's expiry, whichever is first."""
        return await self._run(self._start, token, token_expires)

    async def token(self, session_id: str) -> str | None:
        """The session's token, or None when it was ended, has expired or sat idle too long."""
        return await self._run(self._token, session_id)

    async def end(self, session_id: str) -> None:
        await self._run(self._end, session_id)

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args)
        except DBAPIError as err:
            raise unavailable(self._url, err) from None

    def _start(self, token: str, token_expires: datetime | None) -> Started:
        now = self._clock()
        expires = now + self.lifetime
        if token_expires is not None:
            expires = min(expires, token_expires)
        session_id = secrets.token_urlsafe(ID_BYTES)
        key = digest(session_id)
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            # Sign-ins sweep what has ended unseen (closed browsers), so the table stays small.
            connection.execute(delete(sessions).where(
                or_(sessions.c.expires_at <= now, sessions.c.last_seen_at <= now - self.idle)))
            connection.execute(insert(sessions).values(
                id_digest=key, sealed_token=self._sealer.seal(token.encode(), _context(key)),
                created_at=now, last_seen_at=now, expires_at=expires))
        return Started(session_id, expires, max(0, int((expires - now).total_seconds())))

    def _token(self, session_id: str) -> str | None:
        if not session_id or len(session_id) > 256:
            return None
        now = self._clock()
        key = digest(session_id)
        alive = (sessions.c.id_digest == key) & (sessions.c.expires_at > now) & (sessions.c.last_seen_at > now - self.idle)
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            touched = connection.execute(update(sessions).where(alive).values(last_seen_at=now))
            if touched.rowcount != 1:
                connection.execute(delete(sessions).where(sessions.c.id_digest == key))
                return None
            sealed = connection.execute(select(sessions.c.sealed_token).where(sessions.c.id_digest == key)).scalar_one()
        try:
            return self._sealer.open(sealed, _context(key)).decode()
        except (ValueError, LookupError):  # sealed under a key no longer in the ring: sign in again
            self._end(session_id)
            return None

    def _end(self, session_id: str) -> None:
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            connection.execute(delete(sessions).where(sessions.c.id_digest == digest(session_id)))


def _context(key: str) -> str:
    return f"console-session:{key}"


__all__ = ["RegistryUnavailable", "SessionStore", "Started", "digest"]
