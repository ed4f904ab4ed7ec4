"""Ending a short-lived client process (the starter, `filings`) with its own exit status.

The Temporal SDK's Rust bridge keeps threads that may call into Python while the
interpreter finalizes; a client-only process can then abort with "PyGILState_Release:
thread state must be current" (SIGABRT), turning a success into exit status -6
(temporalio/sdk-python#300, open). Such a process therefore flushes its output and
leaves without interpreter teardown once its work is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


def exit_code_of(request: SystemExit) -> int:
    """`sys.exit`'s argument as a status: None is 0, a message is printed and is 1."""
    code = request.code
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


def run_and_exit(main: Callable[[], int | None]) -> NoReturn:
    """Run `main`, then exit with its status, skipping interpreter finalization."""
    try:
        code = main() or 0
    except SystemExit as request:
        code = exit_code_of(request)
    except KeyboardInterrupt:
        code = 130
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said there
            stream.flush()
    os._exit(code)


def run_without_teardown(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` without its teardown, which cancels every task left and waits for it and
    for every `asyncio.to_thread` thread: after the worker's bounded shutdown, an activity
    that swallows its cancellation, or a call blocked in a thread, would hold the exit for
    ever. `run_and_exit` leaves at once instead; the server re-dispatches what was abandoned.
    (A Runner, for its Ctrl-C handling while a process starts up: it cancels `main`.)"""
    return asyncio.Runner().run(main)
