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
    # --- who the subject is (migration 0006; NULL on rows not identified yet) -----------
    #: The certificate's type: a `UnitCertificateType` or, personal, an `IdentityDocumentType`.
    Column("certificate_type", String(40), nullable=True),
    #: A unit certificate's number (the 统一社会信用代码) in clear, upper-case; NULL for a
    #: personal subject, whose identity number is personal data (sealed below).
    Column("certificate_number", String(40), nullable=True),
    #: Keyed digest of the certificate (`registry.identity`), both kinds: what lookups use.
    Column("certificate_digest", String(100), nullable=True),
    #: A personal subject's identity document (type + number), sealed as people on record are.
    Column("certificate_sealed", LargeBinary, nullable=True),
    #: `filings registry merge-subject`: the subject key this (CANCELLED) subject was merged into.
    Column("merged_into", String(40), nullable=True),
    CheckConstraint(_STATE_CHECK, name="ck_subjects_state"),
    UniqueConstraint("subject_number", name="uq_subjects_subject_number"),
)
Index("ix_subjects_name", subjects.c.name)
Index("ix_subjects_certificate_number", subjects.c.certificate_number)
#: One ACTIVE subject per certificate (digest under the same key), enforced by the database.
Index(
    "uq_subjects_active_certificate",
    subjects.c.certificate_digest,
    unique=True,
    sqlite_where=text("state = 'ACTIVE'"),
    postgresql_where=text("state = 'ACTIVE'"),
)

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
    #: 服务前置审批项, what the public lookup shows (migration 0006): the pre-approval
    #: categories of the approved application, a JSON list; NULL for rows recorded before
    #: 0006 (their applications were not kept), shown as none.
    Column("pre_approvals", Text, nullable=True),
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

#: R4 across the registry (migration 0006): whose mobile each number on record is, as keyed
#: digests only (`registry.identity`): a mobile and the identity document of the person it is
#: on record for, per mini-program. Rewritten with the people on record (NEW, CHANGE, import).
mobiles_on_record = Table(
    "mobiles_on_record",
    metadata,
    Column("service_key", String(40), ForeignKey("mini_programs.service_key", name="fk_mobiles_mini_program"),
           nullable=False),
    Column("mobile_digest", String(100), nullable=False),
    Column("person_digest", String(100), nullable=False),
    PrimaryKeyConstraint("service_key", "mobile_digest", "person_digest", name="pk_mobiles_on_record"),
)
Index("ix_mobiles_on_record_mobile", mobiles_on_record.c.mobile_digest)

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
    #: When the provincial review the approval ended began (migration 0008; NULL before it,
    #: for imports and for the platform's own 取消接入): the forecast's samples.
    Column("review_started_at", UtcDateTime(), nullable=True),
    UniqueConstraint("filing_key", name="uq_registry_changes_filing_key"),
)
Index("ix_registry_changes_appid", registry_changes.c.appid)
Index("ix_registry_changes_approved_at", registry_changes.c.approved_at)

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


# --- open verifications (migration 0006) ------------------------------------------------

#: The 12381 verifications open per mobile (issue 17): written by the SMS activity when a
#: code is sent, read by `POST /v1/sms/verify`, which finds the filing from the mobile alone.
#: The mobile is never stored: `mobile_digest` is an HMAC of it under a key derived from the
#: payload keyring (a plain digest of a mobile is reversed by trying the 10¹¹ numbers).
#: Rows past `expires_at` are ignored and deleted; a verified verifier's row is deleted.
open_verifications = Table(
    "open_verifications",
    metadata,
    Column("mobile_digest", String(64), nullable=False),
    #: The filing's workflow id (`filing-<appid>`).
    Column("filing_id", String(200), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("mobile_digest", "filing_id", name="pk_open_verifications"),
)
Index("ix_open_verifications_expires_at", open_verifications.c.expires_at)


# --- province supplementary materials (migration 0006) ------------------------------------

#: The provinces' supplementary-material lists in force (R10, issue 17), written by
#: `filings materials provinces import FILE` (checked, the whole list or nothing) and read by
#: every worker's L1 check and every service replica's start check: one row, the whole list
#: with each province's provenance. No row: the list shipped with the engine applies.
province_material_lists = Table(
    "province_material_lists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    #: The listing as checked (`ProvinceListing.canonical_json`): provinces by prefix, each
    #: with `source`, `checked` and its items.
    Column("content", Text, nullable=False),
    #: SHA-256 of `content`: readers re-parse only when it changed.
    Column("checksum", String(64), nullable=False),
    #: 1 on the first import, +1 on each import that changed the list.
    Column("version", Integer, nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
    #: The file the operator imported (its name as given), for `... provinces show`.
    Column("imported_from", Text, nullable=False),
    CheckConstraint("id = 1", name="ck_province_material_lists_one_row"),
    CheckConstraint("version > 0", name="ck_province_material_lists_version"),
)


# --- the console's drafts (migration 0007) -------------------------------------------------

#: An applicant's draft of the console's form (issue 19), kept until submitted or discarded.
#: The content (what was typed, the materials uploaded) may hold personal data: it is sealed
#: with the payload keyring, bound to its owner and id (`service.console.drafts`). The owner
#: is a SHA-256 of the token's principal (`applicant:<sub>`); the appid and kind are in clear
#: (the list of drafts shows them; neither is personal).
console_drafts = Table(
    "console_drafts",
    metadata,
    Column("draft_id", String(36), primary_key=True),
    Column("owner_digest", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("appid", String(20), nullable=False),
    Column("sealed_content", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_console_drafts_owner_digest", console_drafts.c.owner_digest)
