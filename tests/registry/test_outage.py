"""The registry's database failing for good: a clear error naming it (no password), never a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from engine.sealing import Sealer
from registry import migrate
from registry.database import RegistryUnavailable
from registry.sql_registry import SqlRegistry
from tests.registry.conftest import PostgresServer, free_port
from tests.registry.filings import application, appid, new, number

PASSWORD = "s3cret-Pa55"
AT = datetime(2025, 3, 3, tzinfo=UTC)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a server hung, a firewall)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def _assert_clear(message: str, port: int) -> None:
    assert message.startswith(f"registry database postgresql+psycopg://test:***@127.0.0.1:{port}/filings")
    assert PASSWORD not in message and "\n" not in message


async def test_a_database_nobody_listens_on_is_named_without_its_password(sealer: Sealer) -> None:
    port = free_port()
    url = f"postgresql+psycopg://test:{PASSWORD}@127.0.0.1:{port}/filings"
    registry = SqlRegistry(url, sealer)
    try:
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable) as failed:
            await registry.mini_program(appid(1))
        assert time.monotonic() - started < 5
        _assert_clear(str(failed.value), port)
        assert "refused" in str(failed.value)
        with pytest.raises(RegistryUnavailable) as behind:
            migrate.require_current(url)  # what a process does at start
        _assert_clear(str(behind.value), port)
    finally:
        registry.close()


async def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    sealer: Sealer, silent_server: int
) -> None:
    url = f"postgresql+psycopg://test:{PASSWORD}@127.0.0.1:{silent_server}/filings"
    registry = SqlRegistry(url, sealer, connect_timeout=2)
    try:
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable) as failed:
            await registry.apply(new(application(appid(1)), number(), approved_at=AT))
        elapsed = time.monotonic() - started
        assert 1.5 <= elapsed < 10, elapsed  # it did wait for the server, and gave up
        _assert_clear(str(failed.value), silent_server)
        assert "timeout" in str(failed.value)
    finally:
        registry.close()


async def test_postgresql_stopped_for_good(own_postgres_server: PostgresServer, sealer: Sealer) -> None:
    server = own_postgres_server
    url = server.url(server.create_database(), password=PASSWORD)  # trust auth: the password is not checked
    migrate.upgrade(url)
    registry = SqlRegistry(url, sealer)
    try:
        assert (await registry.apply(new(application(appid(1)), number(), approved_at=AT))).applied

        server.stop()  # the database server is gone, and stays gone

        for _ in range(2):  # every call fails the same clear way: a pooled connection is not trusted
            started = time.monotonic()
            with pytest.raises(RegistryUnavailable) as failed:
                await registry.mini_program(appid(1))
            assert time.monotonic() - started < 5
            message = str(failed.value)
            assert f"127.0.0.1:{server.port}/registry_" in message and PASSWORD not in message
        with pytest.raises(RegistryUnavailable):
            await registry.apply(new(application(appid(2), subject_name="乙"), number("20250002"), approved_at=AT))
    finally:
        registry.close()


def test_missing_postgresql_binaries_fail_the_tests_naming_make_system(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract tests never skip PostgreSQL: without its binaries they fail, saying how to get them."""
    from tests.registry import conftest

    monkeypatch.setattr(conftest.glob, "glob", lambda pattern: [])
    with pytest.raises(pytest.fail.Exception, match="run `make system`"):
        conftest.PostgresServer(root=conftest.Path("/nonexistent"))
