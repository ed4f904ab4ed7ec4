"""The registry's database as it is at the migrations' head (SPEC §11), in SQLAlchemy Core.

The migrations (`registry/migrations/versions/`) create exactly these tables; the
contract tests compare the two. Numbers are kept twice: as issued (SPEC §6: "store the
issued string as given") and as a key with the canonical province prefix, so that
`川ICP备…` and `蜀ICP备…` (the same province) can never be issued twice.

Timestamps are instants in UTC (SPEC §5) on both backends: `UtcDateTime` turns what
SQLite hands back (naive text) into aware datetimes, as PostgreSQL's `timestamptz` does.

The filing service (§12) keeps its `idempotency_keys`, `audit_reads` and the console's
`console_sessions` here too, in the same database, so that one migration command sets up
everything the service needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

from filing.registry import RecordState


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC instant in, an aware UTC instant out; naive input is taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite keeps text and drops the offset; every value there is UTC by construction.
        return instant.replace(tzinfo=None) if dialect.name == "sqlite" else instant

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

#: The states a record can be in, checked by the database as well as by the code.
STATES = tuple(state.value for state in RecordState)
_STATE_CHECK = "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")"

subjects = Table(
    "subjects",
    metadata,
    #: The subject number with the canonical province prefix (`蜀…` for `川…`).
    Column("subject_key", String(40), primary_key=True),
    #: As issued (SPEC §6).
    Column("subject_number", String(40), nullable=False),
    Column("name", String(100), nullable=False),
    Column("type", String(40), nullable=False),
    #: Canonical filing-number prefix of the subject's province, e.g. 冀.
    Column("province", String(4), nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint(_STATE_CHECK, name="ck_subjects_state"),
    UniqueConstraint("subject_number", name="uq_subjects_subject_number"),
)
Index("ix_subjects_name", subjects.c.name)

mini_programs = Table(
    "mini_programs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: A number is issued once, for ever: unique over every row, cancelled ones included.
    Column("service_key", String(40), nullable=False),
    Column("service_number", String(40), nullable=False),
    #: The `N` of `…号-NX`; the next number under a subject is the largest ever issued + 1.
    Column("sequence", Integer, nullable=False),
    Column("appid", String(32), nullable=False),
    Column("name", String(100), nullable=False),
    Column("subject_key", String(40), ForeignKey("subjects.subject_key", name="fk_mini_programs_subject"),
           nullable=False),
    Column("state", String(20), nullable=False),
    Column("approved_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    #: The workflow id of the filing that made the last change (None: imported).
    Column("last_filing_id", String(200), nullable=True),
    CheckConstraint(_STATE_CHECK, name="ck_mini_programs_state"),
    CheckConstraint("sequence > 0", name="ck_mini_programs_sequence"),
    UniqueConstraint("service_key", name="uq_mini_programs_service_key"),
    UniqueConstraint("service_number", name="uq_mini_programs_service_number"),
)
Index("ix_mini_programs_appid", mini_programs.c.appid)
Index("ix_mini_programs_subject", mini_programs.c.subject_key, mini_programs.c.sequence)
#: At most one ACTIVE filing per appid, enforced by the database (a partial unique index
#: works on SQLite and PostgreSQL alike), so two approvals racing cannot both win.
Index(
    "uq_mini_programs_active_appid",
    mini_programs.c.appid,
    unique=True,
    sqlite_where=text("state = 'ACTIVE'"),
    postgresql_where=text("state = 'ACTIVE'"),
)

people_on_record = Table(
    "people_on_record",
    metadata,
    Column("service_key", String(40), ForeignKey("mini_programs.service_key", name="fk_people_mini_program"),
           primary_key=True),
    #: `PeopleOnRecord` as JSON, sealed (AES-GCM, payload keyring) with a context naming
    #: the service number: a blob copied to another row does not open.
    Column("sealed", LargeBinary, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

registry_changes = Table(
    "registry_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: The L8 write's idempotency key: one row per applied filing, for ever.
    Column("filing_key", String(200), nullable=False),
    Column("filing_id", String(200), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("appid", String(32), nullable=False),
    Column("number", String(40), nullable=False),
    Column("approved_at", UtcDateTime(), nullable=False),
    #: The `RegistryOutcome` answered, as JSON: a repeated key answers it again.
    Column("outcome", Text, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("filing_key", name="uq_registry_changes_filing_key"),
)
Index("ix_registry_changes_appid", registry_changes.c.appid)

# --- the filing service's tables (migration 0002) ------------------------------------

#: The service's durable `Idempotency-Key` store (SPEC §12): the same key and body answer
#: the stored response, never a second effect.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("principal", "key", name="pk_idempotency_keys"),
)

#: Every read of clear application data (SPEC §9): who, when, which filing, which fields.
audit_reads = Table(
    "audit_reads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("filing_id", Text, nullable=True),
    Column("appid", Text, nullable=True),
    #: JSON list of the field paths read.
    Column("fields", Text, nullable=False),
    Column("action", Text, nullable=False),
    #: A material read: the SHA-256 of the file served (migration 0004).
    Column("material_sha256", String(64), nullable=True),
)
Index("ix_audit_reads_appid_at", audit_reads.c.appid, audit_reads.c.at)


# --- the console's sessions (migration 0003) ------------------------------------------

#: Console sessions (SPEC §13), shared by every replica of the service: the browser's
#: cookie holds a random session id, this table only its SHA-256 (a copy of the table
#: signs nobody in) and the person's token sealed with the payload keyring. Signing out
#: deletes the row; a row past `expires_at` or idle since `last_seen_at` is refused.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_digest", String(64), primary_key=True),
    Column("sealed_token", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    #: The absolute end: sign-in + FILINGS_CONSOLE__SESSION_LIFETIME, never after the token's expiry.
    Column("expires_at", UtcDateTime(), nullable=False),
)
Index("ix_console_sessions_expires_at", console_sessions.c.expires_at)


# --- shared by every replica (migration 0005) -----------------------------------------

#: The business calendar's yearly overrides (SPEC §5), written by `filings calendar import`
#: (validated, all files or none) and read by every worker's deadline activity: one source
#: for every replica instead of files on a shared volume. A row replaces its whole year.
calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    #: JSON lists of ISO dates: weekdays off, weekend make-up working days.
    Column("holidays", Text, nullable=False),
    Column("workdays", Text, nullable=False),
    #: The notice the schedule comes from (`CalendarOverride.source`).
    Column("source", Text, nullable=False),
    #: SHA-256 of the dates (`filing.calendar.override_checksum`): workers compare these.
    Column("checksum", String(64), nullable=False),
    #: 1 on the first import of the year, +1 on each import that changed its dates.
    Column("version", Integer, nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
    CheckConstraint("version > 0", name="ck_calendar_overrides_version"),
)

#: The filing service's rate limits on SMS code entries, shared by every replica: one row
#: per limited key (a pseudonym of the mobile or of the client, never either in clear) with
#: the instants of its entries inside the longest window, as a JSON list. A replica takes
#: the row's lock (an upsert) before it counts, so N replicas allow the configured rate,
#: not N times it. Rows past `expires_at` hold nothing that counts and are deleted.
rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("bucket", String(100), primary_key=True),
    #: JSON list of entry instants (seconds since the epoch), oldest first.
    Column("hits", Text, nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
Index("ix_rate_limit_windows_expires_at", rate_limit_windows.c.expires_at)
