"""The registry's contract runs on both backends: SQLite in a temporary directory, and a real
PostgreSQL started here from Debian's package (never a mock, never a skip).

The PostgreSQL server lives for the session (one `initdb`, about a second); each test gets a
database of its own (`CREATE DATABASE`), so tests never see each other's rows.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from engine.sealing import Sealer
from registry import migrate
from registry.sql_registry import SqlRegistry
from tests.conftest import TEST_KEYS

MISSING_BINARIES = (
    "PostgreSQL's server binaries are not installed (looked for /usr/lib/postgresql/*/bin/initdb): "
    "run `make system`, which installs Debian's postgresql package"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail(MISSING_BINARIES, pytrace=False)
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    """A private PostgreSQL on 127.0.0.1:<free port>, run as `postgres` when we are root
    (the server refuses to run as root)."""

    root: Path
    port: int = 0
    bin_dir: Path = field(default_factory=_bin_dir)
    _databases: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _as_owner(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        done = self._as_owner(str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "test",
                              "--no-sync")
        if done.returncode != 0:
            pytest.fail(f"initdb failed: {done.stderr.strip()}", pytrace=False)
        for _ in range(3):  # a free port may be taken between asking and binding
            self.port = free_port()
            options = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
            started = self._as_owner(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
                                     "-l", str(self.root / "log"), "-w", "-t", "30", "start")
            if started.returncode == 0:
                return
        log = (self.root / "log").read_text(errors="replace")[-2000:] if (self.root / "log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {started.stderr.strip()}\n{log}", pytrace=False)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_owner(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        user = "test" if password is None else f"test:{password}"
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"registry_{os.getpid()}_{next(self._databases)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=test dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="registry-pg-", dir="/tmp")))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A server of the test's own, which it may stop."""
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="registry-pg-", dir="/tmp")))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database with nothing in it, on the test's backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A database migrated to the head, as `filings registry migrate` leaves it."""
    migrate.upgrade(empty_database_url)
    return empty_database_url


class Clock:
    """The registry's clock, moved by the test: sequences happen over days."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(TEST_KEYS.payload)


@pytest.fixture
def registry(database_url: str, sealer: Sealer, clock: Clock) -> Iterator[SqlRegistry]:
    store = SqlRegistry(database_url, sealer, clock=clock)
    try:
        yield store
    finally:
        store.close()
