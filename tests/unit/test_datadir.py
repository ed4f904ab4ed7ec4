"""The data dir holds mobiles, live SMS codes and the development keys: it is made
owner-only (0700) whatever the umask, and one found open to the group or the world is
tightened at start, saying so in the log."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.datadir import DataDirError, ensure_private_database, ensure_private_dir
from tests.logging_state import EngineLogs
from tests.conftest import TEST_KEYS
from tests.processes import free_ports

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common 022, under which a plain mkdir gives 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_data_dir_is_owner_only(tmp_path, usual_umask):
    data = tmp_path / "project" / ".data"
    assert ensure_private_dir(data) == data
    assert mode(data) == 0o700


def test_an_open_data_dir_is_tightened_and_the_log_says_so(tmp_path, engine_logs: Callable[..., EngineLogs]):
    logs = engine_logs("json")
    data = tmp_path / ".data"
    data.mkdir()
    data.chmod(0o755)
    (data / "sms-outbox.jsonl").write_text("{}\n")
    ensure_private_dir(data)
    assert mode(data) == 0o700
    assert (data / "sms-outbox.jsonl").read_text() == "{}\n"  # the contents are untouched
    tightened = [line for line in logs.lines() if line["event"] == "data_dir_tightened"]
    assert tightened and tightened[0]["path"] == str(data)
    assert (tightened[0]["was"], tightened[0]["now"]) == ("0755", "0700")


def test_a_private_data_dir_is_left_as_it_is_without_a_word(tmp_path, engine_logs: Callable[..., EngineLogs]):
    logs = engine_logs("json")
    data = tmp_path / ".data"
    data.mkdir(mode=0o700)
    ensure_private_dir(data)
    assert mode(data) == 0o700
    assert "data_dir_tightened" not in logs.text()


def test_a_file_in_the_way_is_a_clear_error_and_is_left_alone(tmp_path):
    data = tmp_path / ".data"
    data.write_text("not a directory")
    data.chmod(0o644)
    with pytest.raises(DataDirError, match=r"FILINGS_DATA_DIR: .*\.data is not a directory"):
        ensure_private_dir(data)
    assert mode(data) == 0o644


def test_a_shared_directory_is_never_tightened(tmp_path):
    """FILINGS_DATA_DIR=/tmp by mistake must not lock everyone else out of /tmp."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(DataDirError, match="FILINGS_DATA_DIR: .* is shared .*sticky.* a directory of its own"):
        ensure_private_dir(shared)
    assert mode(shared) == 0o1777


def test_a_group_shared_mount_is_kept_for_its_group_and_closed_to_others(tmp_path,
                                                                        engine_logs: Callable[..., EngineLogs]):
    """A Kubernetes volume for the pod's `fsGroup` (set-group-id, 2775): the engine starts on it,
    the group keeps its access, others lose theirs."""
    logs = engine_logs("json")
    data = tmp_path / "volume"
    data.mkdir()
    data.chmod(0o2775)
    (data / "sms-outbox.jsonl").write_text("{}\n")
    assert ensure_private_dir(data) == data
    assert mode(data) == 0o2770
    assert (data / "sms-outbox.jsonl").read_text() == "{}\n"
    ensure_private_dir(data)  # the next start: nothing to do
    assert mode(data) == 0o2770
    private = ensure_private_dir(data / "materials")  # what the engine makes inside stays its own
    assert mode(private) == 0o700
    assert '"now": "2770"' in logs.text()


def test_a_group_mount_the_engine_does_not_own_is_used_unless_anyone_may_write(tmp_path, monkeypatch):
    """Owned by root, shared through the pod's group: chmod is refused (simulated here, where the
    tests may run as root), and the mount is used as it is, unless it is writable by anyone."""
    data = tmp_path / "volume"
    data.mkdir()

    def not_the_owner(self: Path, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted", str(self))

    data.chmod(0o2775)
    monkeypatch.setattr(Path, "chmod", not_the_owner)
    assert ensure_private_dir(data) == data and mode(data) == 0o2775
    monkeypatch.undo()
    data.chmod(0o2777)
    monkeypatch.setattr(Path, "chmod", not_the_owner)
    with pytest.raises(DataDirError, match="FILINGS_DATA_DIR: .* writable by anyone.*fsGroup"):
        ensure_private_dir(data)


def test_the_worker_makes_its_data_dir_owner_only_before_anything_else(tmp_path):
    """`python worker.py` on a fresh machine: the data dir exists, owner-only, even when
    the worker cannot go further (here: no server at TEMPORAL_ADDRESS)."""
    (closed,) = free_ports(1)
    data = tmp_path / "fresh" / ".data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))} | {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{closed}", "FILINGS_DATA_DIR": str(data),
        "FILINGS_PAYLOAD_KEYS": json.dumps(TEST_KEYS.payload.dump()),
        "FILINGS_SMS_HMAC_KEYS": json.dumps(TEST_KEYS.sms_hmac.dump()),
        "FILINGS_METRICS_PORT": "0", "FILINGS_HEALTH_PORT": "0",
    }
    done = subprocess.run([sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, timeout=60,
                          preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 1, done.stderr.decode()
    assert mode(data) == 0o700


def test_the_registry_database_and_its_wal_are_owner_only(tmp_path, usual_umask):
    """Under the usual umask SQLite makes 0644 files; the embedded registry (people on record)
    is 0600, and so are the -wal and -shm files SQLite adds next to it."""
    from registry.database import create_registry_engine, sqlite_path
    from registry.migrate import upgrade

    data = ensure_private_dir(tmp_path / "data")
    url = f"sqlite:///{data / 'registry.db'}"
    upgrade(url)
    engine = create_registry_engine(url)
    try:
        with engine.connect() as connection:  # an open connection keeps the WAL and its index
            connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
            files = sorted(p.name for p in data.iterdir())
            assert {"registry.db", "registry.db-wal", "registry.db-shm"} <= set(files), files
            assert {name: mode(data / name) for name in files} == {name: 0o600 for name in files}
    finally:
        engine.dispose()
    assert sqlite_path(url) == data / "registry.db"


def test_a_registry_database_left_open_by_an_older_run_is_tightened(tmp_path):
    from registry.database import create_registry_engine

    data = ensure_private_dir(tmp_path / "data")
    for name in ("registry.db", "registry.db-wal"):
        (data / name).touch()
        (data / name).chmod(0o644)
    create_registry_engine(f"sqlite:///{data / 'registry.db'}").dispose()
    assert mode(data / "registry.db") == mode(data / "registry.db-wal") == 0o600


def test_checking_a_database_this_process_uses_keeps_its_locks(tmp_path):
    """SQLite's locks are POSIX locks, which a process loses on *any* close of the file: the
    check must never open an existing database, or another process writes under a running
    transaction (the registry was corrupted that way while the service tests ran)."""
    path = tmp_path / "registry.db"
    ensure_private_database(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    ensure_private_database(path)  # e.g. a second engine made in the same process
    other = subprocess.run(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0.2);"
         " c.execute('INSERT INTO t VALUES (2)'); c.commit()", str(path)],
        capture_output=True, text=True, timeout=30)
    assert other.returncode != 0 and "locked" in other.stderr, other.stderr
    holder.execute("COMMIT")
