"""Versioned schema changes of the registry's database (SPEC §11), applied by a command and
checked at start.

Processes never migrate on their own: a worker or the filing service calls
`require_current` when it starts and stops with one line saying what to run, so that a
schema change is always an operator's deliberate step (`filings registry migrate`, or
compose's one-shot `registry-migrate` job), never a side effect of a rolling deploy.

A database serves a window of code versions, not one, so a rollout can leave the previous
build running and a rollback can start it again (expand/contract). Code versions are named
by the schema revision they were written for (their head). Each build declares the oldest
schema revision it can run on (`REQUIRES`); each migration step declares the oldest code it
still serves (`serves_code_from` in its script), which `upgrade` records in the database
(`registry_schema_window`, one row, beside Alembic's `alembic_version`) so that an older
build, which does not have the newer scripts, can read it. An additive (expand) step keeps
the previous value; a step that removes or changes what older code uses (contract) names
the first code that no longer uses it. A process refuses to start only when the database is
behind its `REQUIRES` or its recorded window starts after the process's head.

Alembic is configured here in code, with the scripts inside the package, so migrating
works the same from a checkout and from an installed wheel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, Table, delete, inspect, insert, select
from sqlalchemy.exc import DBAPIError

from registry.database import WRITES, create_registry_engine, describe, sqlite_path, unavailable

SCRIPTS = Path(__file__).parent / "migrations"
#: The oldest schema revision this code runs on: every table and column `registry.tables`
#: describes exists from it on (tests/registry/test_schema_window.py proves it). Raise it with
#: the first code that uses what a new migration adds.
REQUIRES = "0008"
#: Where `upgrade` records the window: the oldest code revision the database still serves.
WINDOW_TABLE = "registry_schema_window"
_window = Table(WINDOW_TABLE, MetaData(), Column("serves_code_from", String(32), nullable=False))
#: What fixes a database that is behind (printed in every `SchemaBehind` message).
FIX_COMMAND = "filings registry migrate"
#: PostgreSQL advisory lock held while migrating: two migrate jobs run one after the other.
_LOCK_ID = 0x1CF1_0001
#: Alembic's `context` and `op` are module-level proxies: one migration at a time per process.
_ALEMBIC = threading.Lock()


class SchemaNotCurrent(RuntimeError):
    """The database's schema is not the one this code was written for."""


class SchemaBehind(SchemaNotCurrent):
    """The database lacks migrations this code needs (or has none at all)."""


class SchemaAhead(SchemaNotCurrent):
    """The database was migrated by a newer version past a contract step: it no longer
    serves this version."""


@dataclass(frozen=True)
class Release:
    """What one build knows of the schema: its migrations, oldest first (the last is its
    head, which names the build), and the oldest revision it runs on. `Release.of` reads
    them from a scripts directory; `require_current` checks a database against one."""

    revisions: tuple[str, ...]
    requires: str

    @property
    def head(self) -> str:
        return self.revisions[-1]

    def __post_init__(self) -> None:
        assert self.requires in self.revisions, f"REQUIRES {self.requires} is not one of {self.revisions}"

    @classmethod
    def of(cls, scripts: Path = SCRIPTS, *, head: str | None = None, requires: str | None = None) -> Release:
        """A build whose migrations are `scripts` up to `head` (default: all of them) and
        which requires `requires` (default: that head)."""
        chain = tuple(reversed([script.revision for script in _scripts(scripts).walk_revisions()]))
        if head is not None:
            chain = chain[: chain.index(head) + 1]
        return cls(chain, requires or chain[-1])


def this_release() -> Release:
    """This code: all the package's migrations, requiring `REQUIRES`."""
    return Release.of(requires=REQUIRES)


@dataclass(frozen=True)
class Migrated:
    """What `upgrade` did: from which revision (None: an empty database) to which."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config(scripts: Path = SCRIPTS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    return config


def _scripts(scripts: Path = SCRIPTS) -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(scripts))


def head(scripts: Path = SCRIPTS) -> str:
    revision = _scripts(scripts).get_current_head()
    assert revision is not None, "the registry's migrations have no head"
    return revision


def serves_code_from(revision: str, scripts: Path = SCRIPTS) -> str:
    """The oldest code revision a database at `revision` serves, as its script declares
    (a script that declares nothing serves only its own revision: the safe reading)."""
    script = _scripts(scripts).get_revision(revision)
    assert script is not None, f"no migration {revision}"
    return str(getattr(script.module, "serves_code_from", revision))


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def not_bookkeeping(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's `include_name`: the window table is bookkeeping, like `alembic_version`,
    not a table of the registry (autogenerate and schema comparisons skip it)."""
    return not (type_ == "table" and name == WINDOW_TABLE)


def _recorded_window(connection: Connection) -> str | None:
    """The window `upgrade` recorded; None before the first window-aware migration."""
    if not inspect(connection).has_table(WINDOW_TABLE):
        return None
    return connection.execute(select(_window.c.serves_code_from)).scalar()


def _record_window(connection: Connection, serves: str) -> None:
    _window.create(connection, checkfirst=True)
    connection.execute(delete(_window))
    connection.execute(insert(_window).values(serves_code_from=serves))


def current_revision(url: str) -> str | None:
    """The database's revision; None when no migration was ever applied (or, for SQLite,
    when the file does not exist yet: looking must not create it)."""
    return schema_state(url)[0]


def schema_state(url: str) -> tuple[str | None, str | None]:
    """The database's revision and the oldest code revision it serves (None, None for a
    database never migrated; a window of None: migrated before windows were recorded)."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None, None
    engine = create_registry_engine(url)
    try:
        with engine.connect() as connection:
            return _revision(connection), _recorded_window(connection)
    except DBAPIError as err:
        raise unavailable(url, err) from None
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head", *, scripts: Path = SCRIPTS) -> Migrated:
    """Apply the migrations up to `revision` in one transaction, and record the window of
    the revision reached; at that revision already, nothing happens but the record. A
    database a newer build migrated is left alone when it still serves this build (the
    previous build's migrate job in a rollback), else refused (`SchemaAhead`). Creates the
    directory of a SQLite file (the local data dir)."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_registry_engine(url)
    try:
        with _ALEMBIC, engine.connect() as connection:
            connection.execution_options(**{WRITES: True})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
                before = _revision(connection)
                release = Release.of(scripts)
                if before is not None and before not in release.revisions:
                    # Migrated by a newer build (a rollback's migrate job): nothing to apply, as
                    # long as the database still serves this build; else SchemaAhead.
                    _check(f"registry database {describe(url)}", before, _recorded_window(connection), release)
                    return Migrated(before, before)
                config = _config(scripts)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                after = _revision(connection)
                if after is not None:
                    _record_window(connection, serves_code_from(after, scripts))
    except DBAPIError as err:
        raise unavailable(url, err) from None
    finally:
        engine.dispose()
    assert after is not None
    return Migrated(before, after)


def require_current(url: str, release: Release | None = None) -> str:
    """The database's revision, when this build (`release`, default: this code) can run on
    it: not behind what the build requires, and not contracted past the build's head.
    Else `SchemaBehind` or `SchemaAhead`, in one line naming the database, both revisions
    and what to do."""
    at, serves = schema_state(url)
    return _check(f"registry database {describe(url)}", at, serves, release or this_release())


def _check(where: str, at: str | None, serves: str | None, release: Release) -> str:
    """`require_current`'s decision on a database at `at` that serves code from `serves`."""
    if at is None:
        raise SchemaBehind(f"{where} has no schema yet (revision none, head {release.head}): run `{FIX_COMMAND}`")
    if at in release.revisions:
        if release.revisions.index(at) < release.revisions.index(release.requires):
            raise SchemaBehind(
                f"{where} is at revision {at}, behind revision {release.requires} which this version needs "
                f"(head {release.head}): run `{FIX_COMMAND}`"
            )
        return at
    if serves is not None and serves in release.revisions:
        return at  # newer, but every step since this build's head was additive (expand)
    raise SchemaAhead(
        f"{where} is at revision {at}, migrated by a newer version, and serves code of revision "
        f"{serves or at} or later; this version's head is {release.head}: run a build of revision "
        f"{serves or at} or later (going back past a contract step needs the database restored from "
        "a backup taken before it)"
    )
