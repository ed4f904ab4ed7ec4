"""Ports a process will listen on are checked together, before anything starts: every
busy port is one line naming the variable that moves it, so a new user learns all
clashes at once instead of finding the last one after half the stack started."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from engine.ports import Listen, PortsBusy, check_ports, port_problems
from tests.processes import free_ports


@contextmanager
def listening(host: str = "127.0.0.1") -> Iterator[int]:
    """Another program holding a port for as long as the block runs."""
    with socket.socket() as held:
        held.bind((host, 0))
        held.listen()
        yield held.getsockname()[1]


def test_free_ports_pass():
    codec, metrics = free_ports(2)
    assert port_problems([Listen("FILINGS_CODEC_PORT", "127.0.0.1", codec),
                          Listen("FILINGS_METRICS_PORT", "127.0.0.1", metrics)]) == []


def test_a_busy_port_is_one_line_naming_the_variable_and_the_port():
    with listening() as port:
        problems = port_problems([Listen("FILINGS_CODEC_PORT", "127.0.0.1", port)])
    assert len(problems) == 1 and "\n" not in problems[0]
    assert problems[0].startswith(f"FILINGS_CODEC_PORT: port {port} on 127.0.0.1 is already in use")
    assert problems[0].count("FILINGS_CODEC_PORT") == 2  # what it is, and how to move it


def test_every_busy_port_is_reported_in_order_not_only_the_first():
    (free,) = free_ports(1)
    with listening() as metrics, listening() as health:
        problems = port_problems([
            Listen("FILINGS_METRICS_PORT", "127.0.0.1", metrics),
            Listen("FILINGS_CODEC_PORT", "127.0.0.1", free),
            Listen("FILINGS_HEALTH_PORT", "127.0.0.1", health),
        ])
    assert [line.split(":")[0] for line in problems] == ["FILINGS_METRICS_PORT", "FILINGS_HEALTH_PORT"]


@pytest.mark.parametrize(("held_on", "wanted_on"), [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0")])
def test_a_listener_on_another_interface_of_the_same_port_counts(held_on, wanted_on):
    with listening(held_on) as port:
        assert port_problems([Listen("FILINGS_HEALTH_PORT", wanted_on, port)])


def test_a_port_turned_off_is_not_checked():
    assert port_problems([Listen("FILINGS_METRICS_PORT", "127.0.0.1", 0)]) == []


def test_two_settings_on_one_port_clash_even_when_it_is_free():
    (port,) = free_ports(1)
    problems = port_problems([Listen("FILINGS_CODEC_PORT", "127.0.0.1", port),
                              Listen("FILINGS_API__PORT", "127.0.0.1", port)])
    assert problems == [f"FILINGS_API__PORT: port {port} is also FILINGS_CODEC_PORT's: give each its own port"]


def test_check_ports_refuses_with_every_line():
    with listening() as port:
        with pytest.raises(PortsBusy) as refused:
            check_ports([Listen("FILINGS_WEB_UI", "127.0.0.1", port)])
    assert refused.value.problems == [str(refused.value)]
    assert "FILINGS_WEB_UI" in str(refused.value)
