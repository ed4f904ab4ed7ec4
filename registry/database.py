"""Connecting to the registry's database, SQLite or PostgreSQL, and saying clearly when it
cannot be reached.

Both backends get the same guarantees from here: bounded waits (a PostgreSQL that does
not answer fails the call within `connect_timeout` instead of hanging an activity; a
SQLite file locked by another writer is waited for, then reported), real transactions
(SQLite's driver would otherwise skip BEGIN for reads and DDL), and foreign keys
enforced. Error messages name the database with its password hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from engine.datadir import ensure_private_database

#: Seconds a connection attempt to PostgreSQL may take.
CONNECT_TIMEOUT = 5.0
#: Seconds a SQLite writer waits for another writer's lock before giving up; PostgreSQL's
#: `lock_timeout` likewise, so a stuck transaction elsewhere fails a call instead of hanging it.
SQLITE_BUSY_TIMEOUT = 30.0
LOCK_TIMEOUT = "30s"
#: Execution option marking a transaction that will write (SQLite: `BEGIN IMMEDIATE`).
WRITES = "registry_writes"
#: PostgreSQL's "try again" states: deadlock detected, serialization failure.
RETRYABLE_STATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5
T = TypeVar("T")


class RegistryUnavailable(RuntimeError):
    """The registry's database cannot be reached or used right now (retrying may help)."""


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "FILINGS_REGISTRY_URL: not a database URL; use sqlite:///path/registry.db or "
            "postgresql+psycopg://user:password@host:5432/database"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"FILINGS_REGISTRY_URL: the registry runs on SQLite or PostgreSQL, not {parsed.get_backend_name()!r}; "
            "use sqlite:///path/registry.db or postgresql+psycopg://user:password@host:5432/database"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def describe(url: str | URL) -> str:
    """The database as messages name it: its URL with the password hidden."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<not a database URL>"
    return parsed.render_as_string(hide_password=True)


def create_registry_engine(url: str, *, connect_timeout: float = CONNECT_TIMEOUT) -> Engine:
    """An engine with bounded waits and real transactions on either backend."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_engine(
        parsed,
        pool_pre_ping=True,  # a restarted server: the next call reconnects instead of failing
        connect_args={
            "connect_timeout": max(1, round(connect_timeout)),
            "application_name": "icp-filings-registry",
            "options": f"-c lock_timeout={LOCK_TIMEOUT}",
        },
    )


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        ensure_private_database(Path(url.database))  # mobiles of people on record: owner-only, WAL included
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers do not wait for the writer
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A writer takes the write lock up front: two writers then queue (busy timeout)
        # instead of both reading and one failing to upgrade its lock.
        immediate = connection.get_execution_options().get(WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def unavailable(url: str | URL, err: DBAPIError) -> RegistryUnavailable:
    """One line naming the database and the driver's reason, password hidden."""
    reason = " ".join(str(err.orig).split()) if err.orig is not None else type(err).__name__
    try:
        password = (url if isinstance(url, URL) else make_url(url)).password
    except ArgumentError:
        password = None
    if password:
        reason = reason.replace(str(password), "***")
    return RegistryUnavailable(f"registry database {describe(url)} is unavailable: {reason}")


def serialize_on(connection: Connection, keys: Iterable[str]) -> None:
    """Make writes that touch the same keys (a subject, an appid) take turns, until the
    transaction ends. PostgreSQL: advisory transaction locks, taken in sorted order (no
    deadlock between two writers); SQLite's writer holds the whole database already.

    Without this, READ COMMITTED lets each check of one decision see a different moment,
    and two racing approvals of one number could be told different reasons."""
    if connection.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def in_transaction(engine: Engine, work: Callable[[Connection], T], *, writes: bool = False) -> T:
    """`work` in one transaction (a write takes SQLite's lock at BEGIN: `WRITES`), run again
    when PostgreSQL aborted it as a deadlock or serialization failure, up to `ATTEMPTS` times.
    Every other error, and an `IntegrityError` (the caller's own race to answer), is raised."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with engine.connect() as connection:
                if writes:
                    connection.execution_options(**{WRITES: True})
                with connection.begin():
                    return work(connection)
        except IntegrityError:
            raise
        except DBAPIError as err:
            if getattr(err.orig, "sqlstate", None) not in RETRYABLE_STATES or attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")
