"""Processes the tests start: free ports, waiting on conditions (never a fixed sleep),
and proof that nothing is left running."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """Ports free right now on 127.0.0.1 (held together while choosing, so all differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def wait_until(check: Callable[[], Awaitable[T | None] | T | None], timeout: float, what: str) -> T:
    """Poll `check` until it answers something truthy; fail naming `what` after `timeout` s."""
    async def poll() -> T:
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            await asyncio.sleep(0.1)

    try:
        return await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:g} s: {what}") from None


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes (not zombies) that mention `text`, e.g. a test's data dir."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (proc / "stat").read_text().split(") ", 1)[1].startswith("Z"):
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """`preexec_fn` of every process a test starts: the kernel SIGKILLs it when the test
    process goes, however it goes (an interrupted or killed run leaves nothing behind)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """The last resort of a test's cleanup: SIGKILL the process and its process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
