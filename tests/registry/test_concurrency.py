"""Uniqueness under concurrency: approvals racing for one number, one appid, one filing.

The registry's answers must not depend on timing: exactly one of the racing approvals is
applied, every other one is answered `number_taken` / `already_filed` (never an exception),
and the same filing applied by two workers at once is one change.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Connection, create_engine, func, insert, select

from engine.sealing import Sealer

from filing.registry import RegistryChange, RegistryOutcome
from registry import migrate
from registry.changes import seal_people
from registry.sql_registry import SqlRegistry
from registry.tables import mini_programs, people_on_record, registry_changes, subjects
from tests.registry.conftest import Clock, PostgresServer
from tests.registry.filings import application, appid, new, number, subject_number

ROUNDS = 12
RACERS = 4


async def test_one_number_approved_for_several_filings_at_once_is_issued_once(
    registry: SqlRegistry, clock: Clock
) -> None:
    for round_ in range(ROUNDS):
        serial = f"{30000000 + round_}"
        racers = [
            new(application(appid(round_ * 10 + i), subject_name=f"公司{round_}-{i}"), number(serial),
                approved_at=clock())
            for i in range(RACERS)
        ]
        outcomes = await asyncio.gather(*(registry.apply(change) for change in racers))
        assert sum(o.applied for o in outcomes) == 1, outcomes
        assert Counter(o.why_key for o in outcomes if not o.applied) == {"number_taken": RACERS - 1}
        winner = racers[[o.applied for o in outcomes].index(True)]
        holder = await registry.mini_program_by_number(number(serial))
        assert holder is not None and holder.appid == winner.appid
        assert [p.appid for p in await registry.subject_mini_programs(subject_number(serial))] == [winner.appid]


async def test_one_appid_approved_twice_at_once_keeps_one_active_filing(registry: SqlRegistry, clock: Clock) -> None:
    for round_ in range(ROUNDS):
        wx = appid(1000 + round_)
        racers = [new(application(wx, subject_name=f"公司{round_}-{i}"), number(f"{40000000 + round_ * 10 + i}"),
                      approved_at=clock()) for i in range(RACERS)]
        outcomes = await asyncio.gather(*(registry.apply(change) for change in racers))
        assert sum(o.applied for o in outcomes) == 1, outcomes
        assert Counter(o.why_key for o in outcomes if not o.applied) == {"already_filed": RACERS - 1}
        # The losers' subjects were not left behind.
        for change, outcome in zip(racers, outcomes, strict=True):
            found = await registry.subject(change.number)
            assert (found is not None) == outcome.applied


async def test_the_same_filing_applied_by_workers_at_once_is_one_change(
    registry: SqlRegistry, clock: Clock, database_url: str
) -> None:
    for round_ in range(ROUNDS):
        change = new(application(appid(2000 + round_), subject_name=f"并发公司{round_}"), number(f"{50000000 + round_}"),
                     approved_at=clock())
        outcomes = await asyncio.gather(*(registry.apply(change) for _ in range(RACERS)))
        assert outcomes == [outcomes[0]] * RACERS and outcomes[0].applied
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            assert c.execute(select(func.count()).select_from(registry_changes)).scalar_one() == ROUNDS
            assert c.execute(select(func.count()).select_from(mini_programs)).scalar_one() == ROUNDS
    finally:
        engine.dispose()


@pytest.mark.parametrize("competitor", ["another filing", "the same filing"])
async def test_a_race_lost_at_the_unique_index_is_answered_not_raised(
    postgres_server: PostgresServer, sealer: Sealer, competitor: str
) -> None:
    """PostgreSQL, made deterministic: a competing transaction holds the number uncommitted,
    the registry's checks cannot see it, its insert waits on the unique index, and when the
    competitor commits the database refuses the insert: the registry answers (never raises)."""
    database = postgres_server.create_database()
    url = postgres_server.url(database)
    migrate.upgrade(url)
    registry = SqlRegistry(url, sealer)
    at = datetime(2025, 3, 3, tzinfo=UTC)
    change = new(application(appid(1)), number(), approved_at=at, key="filing-race/run-1")
    stored = RegistryOutcome(applied=True, service_number=number(), subject_number=subject_number())
    engine = create_engine(url)
    try:
        with engine.connect() as holder:
            transaction = holder.begin()
            _insert_filing(holder, sealer, competitor, change, stored)
            answer = asyncio.create_task(registry.apply(change))
            await _until_waiting_on_a_lock(postgres_server, database)
            transaction.commit()
            outcome = await asyncio.wait_for(answer, timeout=10)
        if competitor == "the same filing":
            assert outcome == stored
        else:
            assert not outcome.applied and outcome.why_key == "number_taken" and appid(99) in (outcome.why or "")
    finally:
        engine.dispose()
        registry.close()


def _insert_filing(c: Connection, sealer: Sealer, competitor: str, change: RegistryChange,
                   stored: RegistryOutcome) -> None:
    """What another worker's transaction has written, uncommitted, when the registry checks."""
    at, app = change.approved_at, change.application
    assert app is not None
    wx = change.appid if competitor == "the same filing" else appid(99)
    c.execute(insert(subjects).values(subject_key=subject_number(), subject_number=subject_number(), name="先到的公司",
                                      type="ENTERPRISE", province="冀", state="ACTIVE", created_at=at, updated_at=at))
    c.execute(insert(mini_programs).values(service_key=number(), service_number=number(), sequence=1, appid=wx,
                                           name="先到的小程序", subject_key=subject_number(), state="ACTIVE",
                                           approved_at=at, updated_at=at, last_filing_id="filing-first"))
    c.execute(insert(people_on_record).values(service_key=number(), sealed=seal_people(sealer, number(), app),
                                              updated_at=at))
    if competitor == "the same filing":
        c.execute(insert(registry_changes).values(filing_key=change.filing_key, filing_id=change.filing_id,
                                                  kind="NEW", appid=wx, number=number(), approved_at=at,
                                                  outcome=stored.model_dump_json(), recorded_at=at))


async def _until_waiting_on_a_lock(server: PostgresServer, database: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=test dbname=postgres", autocommit=True) as c:
        while time.monotonic() < deadline:
            row = c.execute(query, (database,)).fetchone()
            if row is not None and row[0] > 0:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"the registry's insert never waited on the competitor's lock within {timeout} s")
