"""The console's session store on SQLite and PostgreSQL, with the test's clock: a session
ends at sign-out, after its idle time, at its lifetime and never after its token; the
table holds neither the cookie's id nor the token in clear."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.keys import Keyring
from engine.sealing import Sealer
from registry.database import create_registry_engine
from registry.tables import console_sessions
from service.console.sessions import SessionStore, digest
from tests.registry.conftest import Clock

TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJyLTAxIn0.c2lnbmF0dXJl"


@pytest.fixture
def store(database_url: str, sealer: Sealer, clock: Clock) -> Iterator[SessionStore]:
    engine = create_registry_engine(database_url)
    try:
        yield SessionStore(engine, database_url, sealer, lifetime=timedelta(hours=8), idle=timedelta(minutes=30),
                           clock=clock)
    finally:
        engine.dispose()


async def test_a_session_holds_its_token_until_the_logout(store: SessionStore):
    started = await store.start(TOKEN)
    assert started.max_age == 8 * 3600 and started.session_id not in TOKEN
    assert await store.token(started.session_id) == TOKEN
    assert await store.token(started.session_id + "x") is None  # an id nobody was given
    await store.end(started.session_id)
    assert await store.token(started.session_id) is None


async def test_the_table_keeps_a_digest_of_the_id_and_the_token_sealed(store: SessionStore):
    started = await store.start(TOKEN)
    with store._engine.connect() as connection:  # noqa: SLF001  (what a reader of the database would see)
        (row,) = connection.execute(select(console_sessions)).all()
    assert row.id_digest == digest(started.session_id) != started.session_id
    assert TOKEN.encode() not in row.sealed_token and started.session_id.encode() not in row.sealed_token


async def test_an_idle_session_is_refused_and_a_used_one_kept(store: SessionStore, clock: Clock):
    used = await store.start(TOKEN)
    left = await store.start(TOKEN)
    for _ in range(3):  # used every 20 minutes: one hour, never idle for 30
        clock.advance(minutes=20)
        assert await store.token(used.session_id) == TOKEN
    assert await store.token(left.session_id) is None
    clock.advance(minutes=30, seconds=1)
    assert await store.token(used.session_id) is None


async def test_a_session_ends_at_its_lifetime_and_never_after_its_token(store: SessionStore, clock: Clock):
    busy = await store.start(TOKEN)
    short = await store.start(TOKEN, token_expires=clock.now + timedelta(hours=1))
    assert short.max_age == 3600
    for _ in range(3 * 8 - 1):  # a page every 20 minutes for 7 h 40 min
        clock.advance(minutes=20)
        assert await store.token(busy.session_id) == TOKEN
    assert await store.token(short.session_id) is None
    clock.advance(minutes=20)  # 8 h after the sign-in
    assert await store.token(busy.session_id) is None


async def test_a_token_sealed_under_a_key_no_longer_held_opens_no_session(database_url: str, clock: Clock):
    engine = create_registry_engine(database_url)
    try:
        old = SessionStore(engine, database_url, Sealer(Keyring.generate("old")), lifetime=timedelta(hours=8),
                           idle=timedelta(minutes=30), clock=clock)
        started = await old.start(TOKEN)
        new = SessionStore(engine, database_url, Sealer(Keyring.generate("new")), lifetime=timedelta(hours=8),
                           idle=timedelta(minutes=30), clock=clock)
        assert await new.token(started.session_id) is None
    finally:
        engine.dispose()
