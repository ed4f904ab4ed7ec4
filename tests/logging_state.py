"""Logging is process-wide state: structlog's configuration, the loggers it cached, the root
logger's handlers and level, and the Temporal SDK's logger flags. A test that changes it must
not leave it to the next module (in one process, or on a pytest-xdist worker, whichever module
ran before decides what the next one sees): `tests/conftest.py` snapshots it around every test
and puts it back, and a test that asserts on log lines gets the engine's own pipeline from
`EngineLogs`, into a buffer of its own, whatever ran before it.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any

import structlog
from _pytest.logging import LogCaptureHandler
from structlog._config import BoundLoggerLazyProxy
from temporalio import activity, workflow

from engine.logs import configure_logging

#: The project's packages: their module-level `log = structlog.get_logger(...)` proxies are
#: the loggers that outlive a test (a proxy made inside a function dies with the call).
_PROJECT = ("activities", "adapters", "engine", "filing", "registry", "service", "workflows", "cli", "worker",
            "starter", "tests")


@dataclass
class LoggingState:
    """What a test may change, as it was."""

    structlog_config: dict[str, Any]
    handlers: list[logging.Handler]
    level: int
    httpx_level: int
    workflow_info: bool
    activity_info: bool

    @classmethod
    def now(cls) -> LoggingState:
        root = logging.getLogger()
        return cls(
            structlog_config=structlog.get_config(),
            handlers=root.handlers[:],
            level=root.level,
            httpx_level=logging.getLogger("httpx").level,
            workflow_info=workflow.logger.workflow_info_on_message,
            activity_info=activity.logger.activity_info_on_message,
        )

    def changed(self) -> bool:
        return self != LoggingState.now()

    def restore(self) -> None:
        """Put everything back, and forget the loggers structlog cached meanwhile (a cached
        logger keeps the chain it was first used with, whatever is configured later)."""
        structlog.configure(**self.structlog_config)
        root = logging.getLogger()
        root.handlers[:] = self.handlers
        root.setLevel(self.level)
        logging.getLogger("httpx").setLevel(self.httpx_level)
        workflow.logger.workflow_info_on_message = self.workflow_info
        activity.logger.activity_info_on_message = self.activity_info
        forget_cached_loggers()


def forget_cached_loggers() -> int:
    """Drop what `cache_logger_on_first_use` stored on the project's module-level loggers, so
    each builds its logger from the configuration in force at its next use. Answers how many."""
    forgotten = 0
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in _PROJECT:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, BoundLoggerLazyProxy) and "bind" in vars(value):
                del value.bind  # the instance's cached `bind`: the class's builds afresh
                forgotten += 1
    return forgotten


class EngineLogs:
    """The engine's log pipeline (`engine.logs.configure_logging`, JSON or console) for one test,
    written into a buffer instead of stderr; nothing is cached meanwhile. The state before is put
    back by the fixture that made it (`engine_logs` in tests/conftest.py)."""

    def __init__(self, fmt: str = "json", level: str = "INFO") -> None:
        forget_cached_loggers()  # a logger cached before follows this chain from its next use
        root = logging.getLogger()
        pytests = [h for h in root.handlers if isinstance(h, LogCaptureHandler)]  # caplog's, the report's
        configure_logging(level, fmt)
        structlog.configure(cache_logger_on_first_use=False)
        self._stream = io.StringIO()
        root.handlers[0].setStream(self._stream)  # type: ignore[attr-defined]
        root.handlers += pytests

    def text(self) -> str:
        """Everything written since the last `text()`/`lines()`, and forget it."""
        text = self._stream.getvalue()
        self._stream.seek(0)
        self._stream.truncate()
        return text

    def lines(self) -> list[dict[str, Any]]:
        """The JSON lines written since the last read."""
        return [json.loads(line) for line in self.text().splitlines() if line.startswith("{")]
