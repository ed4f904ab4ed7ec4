"""The watchdog stops a process that stays unhealthy, and only that: a passing check, a short
outage, or a stop asked by someone else leaves it alone. Checks are scripted; the interval is
a millisecond, and every wait is on the watchdog's own task, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from engine.health import HealthServer
from engine.watchdog import Watchdog, liveness_of

TICK = timedelta(milliseconds=1)
BOUND = 5.0  # seconds any scripted run may take; far above what it needs


class Script:
    """A health check answering from a script, then with `then` for ever; counts its calls."""

    def __init__(self, answers: Iterable[bool | BaseException], then: bool | BaseException = True) -> None:
        self.answers = list(answers)
        self.then = then
        self.calls = 0
        self.reached = asyncio.Event()
        self.wanted = 0

    async def __call__(self) -> tuple[bool, str]:
        self.calls += 1
        if self.wanted and self.calls >= self.wanted:
            self.reached.set()
        answer = self.answers.pop(0) if self.answers else self.then
        if isinstance(answer, BaseException):
            raise answer
        return answer, "pollers running" if answer else "temporal: 127.0.0.1:7233 not serving"

    async def until_calls(self, n: int) -> None:
        self.wanted = n
        if self.calls >= n:
            return
        await asyncio.wait_for(self.reached.wait(), BOUND)


async def run_to_end(watchdog: Watchdog) -> None:
    await asyncio.wait_for(watchdog.run(), BOUND)


async def test_consecutive_failures_stop_the_process_and_say_why():
    stop = asyncio.Event()
    script = Script([True, False, False, False], then=True)
    watchdog = Watchdog(script, stop, interval=TICK, failures=3)
    with capture_logs() as logs:
        await run_to_end(watchdog)
    assert stop.is_set() and watchdog.tripped
    assert script.calls == 4  # one success, then exactly three failures: no fourth
    assert watchdog.reason == "temporal: 127.0.0.1:7233 not serving"
    stopping = [line for line in logs if line["event"] == "unhealthy_stopping"]
    assert len(stopping) == 1 and stopping[0]["log_level"] == "error"
    assert stopping[0]["consecutive"] == 3 and stopping[0]["reason"] == watchdog.reason
    assert [line["consecutive"] for line in logs if line["event"] == "health_check_failed"] == [1, 2, 3]


async def test_a_success_between_failures_resets_the_count():
    stop = asyncio.Event()
    # Two failures, a recovery, two failures, a recovery...: never three in a row until the end.
    script = Script([False, False, True] * 5 + [False, False, False], then=True)
    watchdog = Watchdog(script, stop, interval=TICK, failures=3)
    with capture_logs() as logs:
        await run_to_end(watchdog)
    assert watchdog.tripped and script.calls == 18
    assert sum(line["event"] == "health_recovered" for line in logs) == 5


async def test_a_healthy_process_is_never_stopped():
    stop = asyncio.Event()
    script = Script([], then=True)
    watchdog = Watchdog(script, stop, interval=TICK, failures=1)
    task = asyncio.create_task(watchdog.run())
    try:
        await script.until_calls(50)
        assert not stop.is_set() and not watchdog.tripped
    finally:
        stop.set()
        await asyncio.wait_for(task, BOUND)
    assert not watchdog.tripped


async def test_a_check_that_raises_or_hangs_has_failed():
    # The outside part fails for good: the server is gone (the check raises) or the check
    # itself never answers; either way the process stops instead of waiting for ever.
    stop = asyncio.Event()
    watchdog = Watchdog(Script([], then=ConnectionRefusedError("127.0.0.1:7233")), stop, interval=TICK, failures=2)
    await run_to_end(watchdog)
    assert watchdog.tripped and watchdog.reason == "ConnectionRefusedError: 127.0.0.1:7233"

    async def hangs() -> tuple[bool, str]:
        await asyncio.Event().wait()
        return True, ""

    stop = asyncio.Event()
    watchdog = Watchdog(hangs, stop, interval=TICK, failures=2, timeout=timedelta(milliseconds=20))
    await run_to_end(watchdog)
    assert watchdog.tripped and "did not answer within 0.02 s" in watchdog.reason


async def test_a_stop_asked_elsewhere_ends_the_watch_without_tripping():
    stop = asyncio.Event()
    script = Script([False], then=False)
    watchdog = Watchdog(script, stop, interval=TICK, failures=1000)
    task = asyncio.create_task(watchdog.run())
    await script.until_calls(3)  # failing, but far from the limit
    stop.set()  # SIGTERM
    await asyncio.wait_for(task, BOUND)
    assert not watchdog.tripped

    # While it waits for its next check (an hour away), a stop ends it at once.
    stop = asyncio.Event()
    script = Script([], then=True)
    watchdog = Watchdog(script, stop, interval=timedelta(hours=1), failures=2)
    task = asyncio.create_task(watchdog.run())
    await asyncio.sleep(0)  # let it start waiting
    stop.set()
    await asyncio.wait_for(task, BOUND)  # returns at once, not in an hour
    assert not watchdog.tripped and script.calls == 0


async def test_the_first_check_waits_one_interval_for_the_worker_to_start():
    stop = asyncio.Event()
    script = Script([], then=False)
    watchdog = Watchdog(script, stop, interval=timedelta(milliseconds=200), failures=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await run_to_end(watchdog)
    assert watchdog.tripped and script.calls == 1
    assert loop.time() - started >= 0.19


async def test_it_follows_liveness_so_a_temporal_outage_restarts_nothing():
    """Readiness failing (Temporal down) never trips it: a restart would not bring Temporal back.
    Liveness failing (the poll loops gone) does."""
    polling = iter([True, True, True, False, False])

    async def temporal() -> tuple[bool, str]:
        return False, "temporal:7233 not serving"

    async def pollers() -> tuple[bool, str]:
        alive = next(polling)
        return alive, "poll loops running" if alive else "poll loops not running"

    health = HealthServer("127.0.0.1", 0, checks={"temporal": temporal}, liveness={"pollers": pollers})
    stop = asyncio.Event()
    watchdog = Watchdog(liveness_of(health), stop, interval=TICK, failures=2)
    await run_to_end(watchdog)
    assert watchdog.tripped and watchdog.reason == "pollers: poll loops not running"
    assert not (await health.report())[0]  # readiness failed throughout, and did not count


@pytest.mark.parametrize(
    ("options", "named"),
    [({"interval": timedelta(0)}, "interval"), ({"failures": 0}, "failures"),
     ({"timeout": timedelta(seconds=-1)}, "timeout")],
)
def test_nonsense_settings_are_refused_naming_the_field(options, named):
    with pytest.raises(ValueError, match=f"watchdog {named} must"):
        Watchdog(Script([]), asyncio.Event(), **options)
