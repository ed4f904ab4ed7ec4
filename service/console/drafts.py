"""An applicant's drafts of the form (`/apply`), kept server-side until submitted or discarded.

A draft is what the person typed and the materials they uploaded (the form's values by
field path, each upload's sha256, type and size). That may be personal data (names, identity
numbers, mobiles), so the content is sealed with the payload keyring like the console's
sessions, bound to its owner and id: a row copied to another owner does not open. The owner
is the SHA-256 of the token's principal (`applicant:<sub>`); every read names the owner, so
another applicant's draft answers exactly like one that does not exist. Nothing here logs.
Blocking SQL runs off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from engine.sealing import Sealer
from registry.database import WRITES, unavailable
from registry.tables import console_drafts as drafts

#: Drafts one applicant may keep at once: a bound on the table, not a working limit.
MAX_DRAFTS = 20


class TooManyDrafts(Exception):
    """The applicant already keeps `MAX_DRAFTS` drafts: submit or discard one first."""


@dataclass
class Draft:
    """One draft: the form's values by field name and the uploads by material slot."""

    draft_id: str
    kind: str
    appid: str
    values: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated_at: datetime | None = None


def owner_digest(principal_key: str) -> str:
    return hashlib.sha256(f"console-draft-owner:{principal_key}".encode()).hexdigest()


def _context(owner: str, draft_id: str) -> str:
    return f"console-draft:{owner}:{draft_id}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DraftStore:
    def __init__(self, engine: Engine, url: str, sealer: Sealer, clock: Callable[[], datetime] = _utc_now) -> None:
        self._engine = engine
        self._url = url
        self._sealer = sealer
        self._clock = clock

    async def save(self, principal_key: str, draft: Draft) -> str:
        """Writes the draft (a new id when it has none or is not the owner's); answers its id."""
        return await self._run(self._save, owner_digest(principal_key), draft)

    async def load(self, principal_key: str, draft_id: str) -> Draft | None:
        return await self._run(self._load, owner_digest(principal_key), draft_id)

    async def listed(self, principal_key: str) -> list[Draft]:
        """The owner's drafts, newest first, without their content."""
        return await self._run(self._listed, owner_digest(principal_key))

    async def discard(self, principal_key: str, draft_id: str) -> bool:
        return await self._run(self._discard, owner_digest(principal_key), draft_id)

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args)
        except DBAPIError as err:
            raise unavailable(self._url, err) from None

    def _save(self, owner: str, draft: Draft) -> str:
        now = self._clock()
        content = json.dumps({"values": draft.values, "files": draft.files}, ensure_ascii=False).encode()
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            if draft.draft_id:
                sealed = self._sealer.seal(content, _context(owner, draft.draft_id))
                done = connection.execute(update(drafts).where(
                    (drafts.c.draft_id == draft.draft_id) & (drafts.c.owner_digest == owner)).values(
                    kind=draft.kind, appid=draft.appid, sealed_content=sealed, updated_at=now))
                if done.rowcount == 1:
                    return draft.draft_id
            count = connection.execute(select(func.count()).select_from(drafts).where(drafts.c.owner_digest == owner)).scalar_one()
            if count >= MAX_DRAFTS:
                raise TooManyDrafts
            draft_id = str(uuid.uuid4())
            connection.execute(insert(drafts).values(
                draft_id=draft_id, owner_digest=owner, kind=draft.kind, appid=draft.appid,
                sealed_content=self._sealer.seal(content, _context(owner, draft_id)), created_at=now, updated_at=now))
        return draft_id

    def _load(self, owner: str, draft_id: str) -> Draft | None:
        if not draft_id or len(draft_id) > 36:
            return None
        with self._engine.connect() as connection:
            row = connection.execute(select(drafts).where(
                (drafts.c.draft_id == draft_id) & (drafts.c.owner_digest == owner))).first()
        if row is None:
            return None
        try:
            content = json.loads(self._sealer.open(row.sealed_content, _context(owner, draft_id)))
        except (ValueError, LookupError):  # sealed under a key no longer in the ring, or moved: not readable
            return None
        return Draft(draft_id, row.kind, row.appid, content.get("values", {}), content.get("files", {}), row.updated_at)

    def _listed(self, owner: str) -> list[Draft]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(drafts.c.draft_id, drafts.c.kind, drafts.c.appid, drafts.c.updated_at)
                                      .where(drafts.c.owner_digest == owner).order_by(drafts.c.updated_at.desc())).all()
        return [Draft(r.draft_id, r.kind, r.appid, updated_at=r.updated_at) for r in rows]

    def _discard(self, owner: str, draft_id: str) -> bool:
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            done = connection.execute(delete(drafts).where(
                (drafts.c.draft_id == draft_id) & (drafts.c.owner_digest == owner)))
        return done.rowcount == 1
