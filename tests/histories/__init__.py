"""Recorded workflow histories, one per lifecycle path, replayed by `tests/workflow/test_replay.py`.

They are encrypted like every payload the server stores, with `keys.json` beside this
file: a fixed keyring made once for these recordings. It is TEST-ONLY and public; it
protects nothing but fictional example data. The session keys of the test suite
(`tests.conftest.TEST_KEYS`) are random per run, so they could not decrypt a history
recorded in an earlier run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from temporalio.converter import DataConverter

from engine.codec import data_converter
from engine.keys import KeysFile, load_keys_file

HISTORY_DIR = Path(__file__).resolve().parent
KEYS_PATH = HISTORY_DIR / "keys.json"
#: Histories recorded before a versioned change; `record.py` never writes here.
LEGACY_DIR = HISTORY_DIR / "legacy"


def history_keys() -> KeysFile:
    return load_keys_file(KEYS_PATH)


def history_converter() -> DataConverter:
    return data_converter(history_keys().payload)


def appid_for_path(path: str) -> str:
    """A fixed appid per path, so a history's workflow id (`filing-<appid>`) follows from its name."""
    return "wx" + hashlib.sha256(path.encode()).hexdigest()[:16]


def workflow_id_for(history_file: Path) -> str:
    """`platform_sla_breach.json` and `legacy/platform_sla_breach.before-....json` -> its filing id."""
    return f"filing-{appid_for_path(history_file.name.split('.')[0])}"
