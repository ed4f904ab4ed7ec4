"""Graceful shutdown and health of a real worker process (`python worker.py`), with an
activity in flight: a review desk plugged in by configuration that holds its hand-over
until the test releases it (`tests/integration/slow_desk.py`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from bench.procs import prepare_data_dir
from engine.health import probe
from engine.launch import start_filing
from filing.examples import example_application
from tests.conftest import appid_for, unique, write_test_keys
from tests.integration import slow_desk
from tests.processes import die_with_parent, free_ports, kill_group, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spawn(dev_env, tmp_path: Path) -> Iterator[object]:
    """Start `python worker.py` with the slow desk on its own task queue, data dir and health port."""
    started: list[subprocess.Popen[bytes]] = []

    def start(grace: str, never_ends: str | None = None) -> tuple[subprocess.Popen[bytes], dict[str, str], Path]:
        data = tmp_path / unique("data")
        write_test_keys(data)
        prepare_data_dir(data)  # the registry migrated, the example's scans stored, as operators do first
        if never_ends:
            (data / never_ends).touch()
        (health,) = free_ports(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))} | {
            "PYTHONPATH": str(ROOT), "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "FILINGS_TASK_QUEUE": unique("tq"), "FILINGS_DATA_DIR": str(data), "FILINGS_METRICS_PORT": "0",
            "FILINGS_HEALTH_PORT": str(health), "FILINGS_SHUTDOWN_GRACE": grace,
            "FILINGS_ADAPTERS__REVIEW_DESK": "tests.integration.slow_desk:build",
        }
        with (data / "worker.log").open("wb") as log:
            process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
        started.append(process)
        return process, env, data

    try:
        yield start
    finally:
        for process in started:
            kill_group(process)


def health_command(env: dict[str, str]) -> int:
    return subprocess.run([sys.executable, "-m", "engine.health"], cwd=ROOT, env=env, capture_output=True,
                          timeout=30).returncode


async def hand_over_in_flight(dev_env, process: subprocess.Popen[bytes], env: dict[str, str], data: Path, n: int) -> str:
    url = f"http://127.0.0.1:{env['FILINGS_HEALTH_PORT']}/healthz"

    async def healthy() -> bool:
        assert process.poll() is None, (data / "worker.log").read_text(errors="replace")  # no use waiting on
        return (await asyncio.to_thread(probe, url, 2.0))[0]

    await wait_until(healthy, 30, "the worker healthy")
    application = example_application(datetime.now(UTC), appid=appid_for(n))
    started = await start_filing(dev_env.client, application, task_queue=env["FILINGS_TASK_QUEUE"])
    await wait_until(lambda: (data / slow_desk.STARTED).exists(), 30, "the hand-over activity running")
    return started.filing_id


async def test_sigterm_lets_the_running_activity_finish_then_exits(dev_env, spawn):
    process, env, data = spawn("PT20S")
    filing_id = await hand_over_in_flight(dev_env, process, env, data, 951)
    assert await asyncio.to_thread(health_command, env) == 0

    process.send_signal(signal.SIGTERM)
    url = f"http://127.0.0.1:{env['FILINGS_HEALTH_PORT']}/healthz"
    await wait_until(lambda: asyncio.to_thread(lambda: '"stopping"' in probe(url, 2.0)[1]), 10, "health says stopping")
    assert process.poll() is None  # still waiting for the activity
    (data / slow_desk.RELEASE).touch()
    assert await asyncio.to_thread(process.wait, 20) == 0
    assert (data / slow_desk.FINISHED).exists()
    # The activity's result reached the server before the exit: its completion is in the history.
    history = await dev_env.client.get_workflow_handle(filing_id).fetch_history()
    scheduled = {e.event_id for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "enqueue_platform_review"}
    completed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                 and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled]
    assert completed, "the hand-over's completion is recorded"
    assert await asyncio.to_thread(health_command, env) == 1
    assert "worker_stopped" in (data / "worker.log").read_text()


@pytest.mark.parametrize(("never_ends", "n"), [
    pytest.param(None, 952, id="ends-when-cancelled"),
    # asyncio.run's teardown would wait for these for ever (it joins every task and thread):
    # the worker leaves without it (`engine.process.run_without_teardown`).
    pytest.param(slow_desk.IGNORES_CANCEL, 953, id="swallows-its-cancellation"),
    pytest.param(slow_desk.BLOCKED, 954, id="blocked-in-a-thread"),
])
async def test_an_activity_that_never_ends_does_not_hold_the_exit(dev_env, spawn, never_ends: str | None, n: int):
    """The desk never answers; SIGTERM with a grace of 1 s: the worker exits within its bound."""
    process, env, data = spawn("PT1S", never_ends)
    await hand_over_in_flight(dev_env, process, env, data, n)
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(process.wait, 1 + 5 + 3)  # grace + the worker's margin + slack
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker still runs {time.monotonic() - began:.0f} s after SIGTERM:\n"
                             + (data / "worker.log").read_text(errors="replace")[-1500:]) from None
    assert code == 0
    assert time.monotonic() - began >= 1  # the activity was given its grace
    log = (data / "worker.log").read_text()
    assert "worker_stopped" in log
    assert not (data / slow_desk.FINISHED).exists()  # it really never ended
    if never_ends == slow_desk.IGNORES_CANCEL:  # the SDK waited for it until the worker's bound
        assert "worker_shutdown_overran" in log
