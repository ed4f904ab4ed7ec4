"""Schema changes are versioned migrations, applied by a command and checked at start (SPEC §11)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select, text

from engine.keys import Keyring
from engine.sealing import Sealer
from engine.settings import Settings
from engine.wiring import resolve_adapter
from filing.registry import RecordState
from registry import migrate
from registry.migrate import SchemaAhead, SchemaBehind
from registry.changes import seal_people
from registry.sql_registry import SqlRegistry
from registry.tables import audit_reads, idempotency_keys, metadata
from tests.registry.conftest import PostgresServer
from tests.registry.filings import application, appid, new, number, subject_number

AT = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return set(inspect(c).get_table_names())
    finally:
        engine.dispose()


def test_an_empty_database_is_migrated_to_the_head_once(empty_database_url: str) -> None:
    assert migrate.current_revision(empty_database_url) is None
    done = migrate.upgrade(empty_database_url)
    assert (done.before, done.after, done.changed) == (None, migrate.head(), True)
    head = migrate.head()
    again = migrate.upgrade(empty_database_url)
    assert (again.before, again.after, again.changed) == (head, head, False)
    assert migrate.require_current(empty_database_url) == head

    # What the migrations built is exactly what the code describes (registry.tables).
    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as c:
            context = MigrationContext.configure(c, opts={"include_name": migrate.not_bookkeeping})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


async def test_a_database_at_0001_with_filings_keeps_them_through_0002(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0001")
    assert "idempotency_keys" not in _tables(url) and "mini_programs" in _tables(url)
    sealer = Sealer(Keyring.generate("k1"))
    registry = SqlRegistry(url, sealer)
    try:
        # Rows as the code of 0001 wrote them (today's code writes columns 0001 does not have).
        app = application(appid(1), own_principal=True)
        S, N = subject_number(), number(sequence=1)
        engine = create_engine(url)
        try:
            with engine.begin() as c:
                c.execute(text("INSERT INTO subjects (subject_key, subject_number, name, type, province, state, "
                               "created_at, updated_at) VALUES (:n, :n, :name, 'ENTERPRISE', '冀', 'ACTIVE', :at, :at)"),
                          {"n": S, "name": app.subject.name, "at": AT})
                c.execute(text("INSERT INTO mini_programs (service_key, service_number, sequence, appid, name, "
                               "subject_key, state, approved_at, updated_at) VALUES (:n, :n, 1, :appid, :name, :s, "
                               "'ACCESS_CANCELLED', :at, :at)"),
                          {"n": N, "appid": appid(1), "name": app.mini_program.name, "s": S, "at": AT})
                c.execute(text("INSERT INTO people_on_record (service_key, sealed, updated_at) VALUES (:n, :b, :at)"),
                          {"n": N, "b": seal_people(sealer, N, app), "at": AT})
        finally:
            engine.dispose()

        done = migrate.upgrade(url)
        assert (done.before, done.after) == ("0001", migrate.head())

        found = await registry.lookup(appid=appid(1))
        assert [(e.service_number, e.state) for e in found] == [(N, RecordState.ACCESS_CANCELLED)]
        people = await registry.people_on_record(number(sequence=1))
        assert people is not None and people.mini_program_principal == app.mini_program_principal.person
        assert await registry.next_number(number(sequence=1)) == number(sequence=2)
    finally:
        registry.close()

    # The service's tables are there and usable on this backend.
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            c.execute(insert(idempotency_keys).values(principal="alice", key="k-1", route="POST /v1/filings",
                                                      request_hash="h", status_code=201, response_body="{}",
                                                      created_at=AT))
            c.execute(insert(audit_reads).values(at=AT, actor="alice", role="platform_reviewer", filing_id="f",
                                                 appid=appid(1), fields=json.dumps(["subject"]), action="read"))
        with engine.connect() as c:
            assert c.execute(select(idempotency_keys.c.created_at)).scalar_one() == AT
            assert c.execute(select(audit_reads.c.id)).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_database_behind_is_refused_at_start_naming_the_fix(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0001")
    with pytest.raises(SchemaBehind) as behind:
        migrate.require_current(empty_database_url)
    message = str(behind.value)
    assert "\n" not in message
    assert "revision 0001" in message and f"head {migrate.head()}" in message and "`filings registry migrate`" in message
    assert ("registry.db" if empty_database_url.startswith("sqlite") else "/registry_") in message


def test_a_database_migrated_by_a_newer_version_before_windows_were_recorded_is_refused(empty_database_url: str) -> None:
    """A newer revision with no recorded window: serving only its own revision is the safe reading."""
    migrate.upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        with engine.begin() as c:
            c.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
            c.exec_driver_sql(f"DROP TABLE {migrate.WINDOW_TABLE}")
    finally:
        engine.dispose()
    with pytest.raises(SchemaAhead, match="revision 0999, migrated by a newer version, and serves code of revision 0999"):
        migrate.require_current(empty_database_url)


async def test_processes_never_migrate_silently(empty_database_url: str, tmp_path: Path) -> None:
    """A registry on an empty database answers what to run, and leaves it empty."""
    settings = Settings(data_dir=tmp_path, registry_url=empty_database_url, payload_keys=Keyring.generate("k1"))
    registry = resolve_adapter("registry", settings.adapters.registry)(settings)  # as the worker wires it
    assert isinstance(registry, SqlRegistry) and registry.url == empty_database_url
    try:
        with pytest.raises(SchemaBehind, match="has no schema yet .*`filings registry migrate`"):
            await registry.mini_program(appid(1))
        with pytest.raises(SchemaBehind):
            await registry.apply(new(application(appid(1)), number(), approved_at=AT))
    finally:
        registry.close()
    with pytest.raises(SchemaBehind, match=f"revision none, head {migrate.head()}"):
        migrate.require_current(empty_database_url)
    assert _tables(empty_database_url) <= {"alembic_version"}  # nothing created, nothing migrated


def test_the_default_registry_is_sqlite_in_the_data_dir_and_looking_creates_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.registry_database_url == f"sqlite:///{tmp_path / 'data' / 'registry.db'}"
    with pytest.raises(SchemaBehind, match="has no schema yet"):
        migrate.require_current(settings.registry_database_url)
    assert not (tmp_path / "data").exists()
    assert migrate.upgrade(settings.registry_database_url).after == migrate.head()  # the command creates the data dir


def test_two_migrate_jobs_at_once_apply_the_migrations_once(postgres_server: PostgresServer) -> None:
    """Compose may run the one-shot migrate job again while one is still running: they take turns."""
    url = postgres_server.url(postgres_server.create_database())
    script = "import sys; from registry.migrate import upgrade; r = upgrade(sys.argv[1]); print(r.before, r.after)"
    root = Path(__file__).resolve().parents[2]
    jobs = [subprocess.Popen([sys.executable, "-c", script, url], cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        outputs = [job.communicate(timeout=60) for job in jobs]
    finally:
        for job in jobs:
            if job.poll() is None:
                job.kill()
                job.wait()
    head = migrate.head()
    assert sorted(out.strip() for out, _ in outputs) == [f"{head} {head}", f"{head} {head}", f"None {head}"], outputs
