"""Versioned schema changes of the registry's database (SPEC §11), applied by a command and
checked at start.

Processes never migrate on their own: a worker or the filing service calls
`require_current` when it starts and stops with one line saying what to run, so that a
schema change is always an operator's deliberate step (`filings registry migrate`, or
compose's one-shot `registry-migrate` job), never a side effect of a rolling deploy.

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
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from registry.database import WRITES, create_registry_engine, describe, sqlite_path, unavailable

SCRIPTS = Path(__file__).parent / "migrations"
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
    """The database was migrated by a newer version of this code."""


@dataclass(frozen=True)
class Migrated:
    """What `upgrade` did: from which revision (None: an empty database) to which."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "the registry's migrations have no head"
    return revision


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(url: str) -> str | None:
    """The database's revision; None when no migration was ever applied (or, for SQLite,
    when the file does not exist yet: looking must not create it)."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    engine = create_registry_engine(url)
    try:
        with engine.connect() as connection:
            return _revision(connection)
    except DBAPIError as err:
        raise unavailable(url, err) from None
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> Migrated:
    """Apply the migrations up to `revision` in one transaction; at that revision already,
    nothing happens. Creates the directory of a SQLite file (the local data dir)."""
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
                config = _config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                after = _revision(connection)
    except DBAPIError as err:
        raise unavailable(url, err) from None
    finally:
        engine.dispose()
    assert after is not None
    return Migrated(before, after)


def require_current(url: str) -> str:
    """The revision, when it is the head; else `SchemaBehind` (or `SchemaAhead`) in one line
    naming the database, its revision, the head, and what to do."""
    at, expected = current_revision(url), head()
    if at == expected:
        return at
    where = f"registry database {describe(url)}"
    if at is None:
        raise SchemaBehind(f"{where} has no schema yet (revision none, head {expected}): run `{FIX_COMMAND}`")
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if at not in known:
        raise SchemaAhead(
            f"{where} is at revision {at}, which this version does not know (its head is {expected}): "
            "it was migrated by a newer version; run that version"
        )
    raise SchemaBehind(f"{where} is at revision {at}, behind the head {expected}: run `{FIX_COMMAND}`")
