"""Child processes of the harness: started so that none outlives it, and measured via /proc.

Every child gets PR_SET_PDEATHSIG(SIGTERM): if the harness dies (Ctrl-C, SIGKILL, a
crash), the kernel terminates the child too. `Processes.stop_all` is the orderly path:
SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK")


_SETPRIV = shutil.which("setpriv")  # util-linux: sets the death signal, then execs the command
_prctl = None if _SETPRIV else ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:  # only without setpriv: runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _with_death_signal(args: Sequence[str]) -> list[str]:
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *args] if _SETPRIV else list(args)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]!r} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) in KiB, from /proc/<pid>/status."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (its threads included)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class Processes:
    """The children of one run; `stop_all` ends each one it started, by pid."""

    children: list[Child] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
        try:
            proc = subprocess.Popen(
                _with_death_signal(args), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, preexec_fn=None if _SETPRIV else _die_with_parent,
                start_new_session=True,  # Ctrl-C reaches the harness only; it stops the children in order
            )
        finally:
            out.close()
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 15.0) -> None:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                child.proc.wait(timeout=5)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):  # workers before the server they talk to
            self.stop(child)
