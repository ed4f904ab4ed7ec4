"""`SqlRegistry`: the registry of filings (SPEC §11) on SQLite or PostgreSQL.

The activities and the filing service are async; SQLAlchemy's engine is sync (psycopg and
sqlite3 alike), so each call runs in a worker thread (`asyncio.to_thread`) on its own
pooled connection and its own transaction. Nothing here creates or alters the schema:
that is `registry.migrate`'s job, and a database without it answers `SchemaBehind`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine.sealing import Sealer
from filing.filing_number import InvalidFilingNumber, parse_filing_number
from filing.registry import (
    ImportEntry,
    MiniProgramRecord,
    PeopleOnRecord,
    PublicEntry,
    RegistryChange,
    RegistryOutcome,
    SubjectCertificate,
    SubjectRecord,
)
from filing.models import IdentityDocument
from registry import identity, importer, migrate, subject_admin
from registry.subject_admin import IdentifyReport, Merged
from registry import queries as q
from registry.changes import Writer, people_context
from registry.database import CONNECT_TIMEOUT, create_registry_engine, describe, in_transaction, sqlite_path, unavailable
from registry.numbers import key_of, service_number, subject_part
from registry.tables import people_on_record

T = TypeVar("T")
log = structlog.get_logger("registry")


class LookupRefused(ValueError):
    """A public lookup that names nothing, or too much, or a malformed number: `str()` in
    English, `message_zh` in Chinese, `field` the query parameter at fault (None: which one)."""

    def __init__(self, message_en: str, message_zh: str, field: str | None = None) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.field = field


#: The most entries one public lookup answers, and the shortest name fragment it searches by.
PUBLIC_LOOKUP_LIMIT = 100
MIN_NAME_FRAGMENT = 2


def _now() -> datetime:
    return datetime.now(UTC)


class SqlRegistry:
    """The `filing.ports.Registry` on a SQLAlchemy URL (`sqlite:///…`, `postgresql+psycopg://…`)."""

    def __init__(
        self,
        url: str,
        sealer: Sealer,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.url = url
        self.database = describe(url)
        self._engine = create_registry_engine(url, connect_timeout=connect_timeout)
        self._sealer = sealer
        self._clock = clock

    def close(self) -> None:
        self._engine.dispose()

    # --- transactions ---------------------------------------------------------------------

    def _failure(self, err: DBAPIError) -> Exception:
        """What a caller can act on: a schema that is behind, or a database out of reach."""
        sqlstate = getattr(err.orig, "sqlstate", None)
        path = sqlite_path(self.url)
        missing_file = path is not None and not path.exists()
        if missing_file or sqlstate == "42P01" or "no such table" in str(err.orig):
            try:
                migrate.require_current(self.url)
            except RuntimeError as problem:  # SchemaBehind / SchemaAhead, or out of reach
                return problem
        return unavailable(self.url, err)

    def _run(self, work: Callable[[Connection], T], *, writes: bool) -> T:
        try:
            return in_transaction(self._engine, work, writes=writes)
        except IntegrityError:
            raise  # a caller's own business (the writer answers its races itself)
        except DBAPIError as err:
            raise self._failure(err) from None

    async def _read(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work, writes=False)

    async def _write(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work, writes=True)

    # --- reads ------------------------------------------------------------------------------

    async def mini_program(self, appid: str) -> MiniProgramRecord | None:
        row = await self._read(lambda c: q.latest_program(c, appid))
        return None if row is None else q.program_record(row)

    async def mini_program_by_number(self, service_number: str) -> MiniProgramRecord | None:
        try:
            number = parse_filing_number(service_number, mini_program=True)
        except InvalidFilingNumber:
            return None
        row = await self._read(lambda c: q.program_by_key(c, key_of(number)))
        return None if row is None else q.program_record(row)

    async def subject(self, subject_number: str) -> SubjectRecord | None:
        try:
            number = subject_part(parse_filing_number(subject_number))
        except InvalidFilingNumber:
            return None
        row = await self._read(lambda c: q.subject_by_key(c, key_of(number)))
        return None if row is None else q.subject_record(row)

    async def subject_of(self, certificate: SubjectCertificate) -> SubjectRecord | None:
        row = await self._read(lambda c: identity.active_subject_of(c, self._sealer, certificate))
        return None if row is None else q.subject_record(row)

    async def mobile_held_by_another(self, mobile: str, document: IdentityDocument) -> bool:
        return await self._read(lambda c: identity.mobile_held_by_another(c, self._sealer, mobile, document))

    async def subject_mini_programs(self, subject_number: str) -> list[MiniProgramRecord]:
        try:
            number = subject_part(parse_filing_number(subject_number))
        except InvalidFilingNumber:
            return []
        rows = await self._read(lambda c: q.programs_of_subject(c, key_of(number)))
        return [q.program_record(row) for row in rows]

    async def people_on_record(self, service_number: str) -> PeopleOnRecord | None:
        try:
            number = parse_filing_number(service_number, mini_program=True)
        except InvalidFilingNumber:
            return None

        def read(connection: Connection) -> tuple[str, bytes] | None:
            row = q.program_by_key(connection, key_of(number))
            if row is None:
                return None
            sealed = connection.execute(
                select(people_on_record.c.sealed).where(people_on_record.c.service_key == row.service_key)
            ).scalar_one_or_none()
            return None if sealed is None else (row.service_number, sealed)

        found = await self._read(read)
        if found is None:
            return None
        issued, sealed = found
        return PeopleOnRecord.model_validate_json(self._sealer.open(sealed, people_context(issued)))

    async def next_number(self, subject_number: str) -> str:
        """`S-(largest sequence ever issued under S + 1)X`; also given a service number of S."""
        try:
            subject = subject_part(parse_filing_number(subject_number))
        except InvalidFilingNumber as err:
            raise ValueError(f"subject_number: {err}") from None

        def read(connection: Connection) -> str:
            row = q.subject_by_key(connection, key_of(subject))
            issued = parse_filing_number(row.subject_number) if row is not None else subject
            return service_number(issued, q.max_sequence(connection, key_of(subject)) + 1)

        return await self._read(read)

    async def lookup(
        self,
        *,
        number: str | None = None,
        appid: str | None = None,
        subject: str | None = None,
        certificate: str | None = None,
        include_cancelled: bool = False,
    ) -> list[PublicEntry]:
        """备案查询 by exactly one of: a service or subject number (ICP备, ICP证 or B2), an appid,
        a subject's name (a unit's also in part, at least 2 characters; a person's in full) or
        a unit's certificate number. Cancelled filings only with `include_cancelled`; at most
        `PUBLIC_LOOKUP_LIMIT` entries (a public endpoint must not hand out the registry)."""
        given = {name: value.strip() for name, value in (("number", number), ("appid", appid),
                 ("subject", subject), ("certificate", certificate)) if value is not None and value.strip()}
        if len(given) != 1:
            raise LookupRefused("name exactly one of number (a filing number such as 冀ICP备18021892号-2X or "
                                "粤B2-20090059-1626X), appid (wx followed by 16 hex digits), subject (the subject's "
                                "name, a unit's also in part) or certificate (a unit's certificate number)",
                                "请只提供 number（备案号）、appid、subject（主办单位名称）、certificate（单位证件号码）之一")
        ((kind, value),) = given.items()
        key: dict[str, str] = {}
        if kind == "number":
            try:
                parsed = parse_filing_number(value)
            except InvalidFilingNumber as err:
                raise LookupRefused(f"number: {err}", err.message_zh, "number") from None
            key = {"subject_key" if parsed.is_subject_number else "service_key": key_of(parsed)}
        elif kind == "subject":
            if len(value) < MIN_NAME_FRAGMENT:
                raise LookupRefused(f"subject: give at least {MIN_NAME_FRAGMENT} characters of the subject's name",
                                    f"主办单位名称至少输入{MIN_NAME_FRAGMENT}个字", "subject")
            key = {"name": value}
        elif kind == "certificate":
            key = {"certificate_number": value.upper()}
        else:
            key = {"appid": value}
        rows = await self._read(lambda c: q.public_programs(
            c, **key, include_cancelled=include_cancelled, limit=PUBLIC_LOOKUP_LIMIT))
        return [q.public_entry(row) for row in rows]

    # --- writes -----------------------------------------------------------------------------

    async def apply(self, change: RegistryChange) -> RegistryOutcome:
        """L8 in one transaction, once per `filing_key` (see `registry.changes`)."""
        outcome = await self._write(lambda c: Writer(c, self._sealer, self._clock()).apply(change))
        log.info("registry_change", filing_id=change.filing_id, kind=change.kind.value, appid=change.appid,
                 number=change.number, applied=outcome.applied, why_key=outcome.why_key, cancelled=outcome.cancelled)
        return outcome

    async def identify_subjects(self, unit_certificates: dict[str, str] | None = None) -> IdentifyReport:
        """`filings registry identify-subjects`: fill in subjects' certificates, report the rest
        and every conflict (`registry.subject_admin`), in one transaction."""
        return await self._write(lambda c: subject_admin.identify(c, self._sealer, unit_certificates))

    async def merge_subjects(self, keep: str, other: str) -> Merged:
        """`filings registry merge-subject KEEP OTHER`, in one transaction (`subject_admin.merge`)."""
        merged = await self._write(lambda c: subject_admin.merge(c, self._sealer, keep, other))
        log.info("subjects_merged", kept=merged.kept, merged=merged.merged, moved=len(merged.moved))
        return merged

    async def import_entries(self, entries: list[ImportEntry]) -> int:
        """All or none; `importer.ImportRefused` (entries numbered from 1) when any is bad."""
        return await self.import_numbered(list(enumerate(entries, start=1)))

    async def import_numbered(self, entries: Iterable[importer.Numbered], *, dry_run: bool = False) -> int:
        """As `import_entries`, each entry with its own line number; `dry_run` checks only."""
        numbered = list(entries)

        def load(connection: Connection) -> int:
            return importer.load(connection, numbered, self._sealer, self._clock(), dry_run=dry_run)

        try:
            return await self._write(load)
        except IntegrityError:  # a writer that skipped the registry's turn-taking took a number: now it shows
            return await self._write(load)

