"""The ports a process will listen on, checked together before it starts anything.

A clash found halfway (the metrics port once the dev server is up) leaves a half-started
stack and a traceback, and a user who fixes it meets the next one on the next try.
Checked up front, every busy port is one line naming the variable that moves it.

The check binds each port as the servers will (SO_REUSEADDR, on the interface they
use), so a listener on another interface of the same port counts too. It is a
snapshot: a server that still loses the race reports its own error when it binds.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Listen:
    """A port a process is about to listen on, and the variable that sets it."""

    variable: str  # e.g. FILINGS_CODEC_PORT, or TEMPORAL_ADDRESS for a host:port
    host: str
    port: int  # 0: turned off, not checked


class PortsBusy(RuntimeError):
    """Ports that cannot be listened on: `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def why_not(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on now, or None when it can."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return f"cannot be listened on ({host!r} does not resolve: {err.strerror})"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as err:
                if err.errno == errno.EADDRNOTAVAIL:  # e.g. ::1 for `localhost` on a host without IPv6
                    continue
                if err.errno == errno.EADDRINUSE:
                    return "is already in use"
                return f"cannot be listened on ({err.strerror})"
    return None


def port_problems(listens: Iterable[Listen]) -> list[str]:
    """One line per port that is busy, or claimed by two settings, in the order given."""
    problems: list[str] = []
    claimed: dict[int, str] = {}
    for listen in listens:
        if not listen.port:
            continue
        if listen.port in claimed:
            problems.append(f"{listen.variable}: port {listen.port} is also {claimed[listen.port]}'s: "
                            "give each its own port")
            continue
        claimed[listen.port] = listen.variable
        reason = why_not(listen.host, listen.port)
        if reason is not None:
            problems.append(f"{listen.variable}: port {listen.port} on {listen.host} {reason}: "
                            f"stop what holds it, or choose another port with {listen.variable}")
    return problems


def check_ports(listens: Iterable[Listen]) -> None:
    """Refuse (PortsBusy) when any of the ports cannot be listened on."""
    problems = port_problems(listens)
    if problems:
        raise PortsBusy(problems)
