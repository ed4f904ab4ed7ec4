"""The SMS verification rate limit is shared by every replica of the filing service: its
windows live in the registry database, so two replicas together allow the configured rate
(not twice it), with the same 429 answers as one replica."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select

from registry.rate_windows import SharedMovingWindows
from registry.tables import rate_limit_windows
from service.metrics import ServiceMetrics
from service.problems import Problem
from service.ratelimit import SmsVerifyLimits, pseudonym_key

MOBILE = "13800138000"


class Clock:
    """Seconds since the epoch, moved by the test (every replica reads the same one)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(database_url: str, clock: Clock) -> Iterator[tuple[SmsVerifyLimits, SmsVerifyLimits]]:
    """Two service replicas' limiters, each on its own connection pool, on one database."""
    windows = [SharedMovingWindows(database_url, clock=clock) for _ in range(2)]
    key = pseudonym_key(b"k" * 32)
    try:
        yield tuple(SmsVerifyLimits("5/minute;20/hour", "8/minute", ServiceMetrics(), w, key) for w in windows)  # type: ignore[misc]
    finally:
        for w in windows:
            w.close()


async def _entry(limits: SmsVerifyLimits, mobile: str = MOBILE, client: str = "site-1") -> Problem | None:
    try:
        await limits.hit(mobile, client)
    except Problem as problem:
        return problem
    return None


async def test_two_replicas_together_allow_only_the_configured_rate(replicas, clock: Clock, database_url: str):
    one, two = replicas
    # Alternating replicas, as a load balancer would: five entries in the minute, not ten.
    for replica in (one, two, one, two, one):  # one a second
        assert await _entry(replica) is None
        clock.now += 1
    clock.now += 5
    refused = await _entry(two)
    assert refused is not None and refused.status == 429
    assert refused.detail == "too many SMS code entries for this mobile (at most 5 per 1 minute); retry in 50 s"
    assert refused.headers == {"Retry-After": "50"}
    assert await _entry(one) is not None  # the other replica refuses too; neither counted the refusal

    clock.now += 50.5  # the first entry left the window (60 s after it): room for exactly one more
    assert await _entry(two) is None
    assert (await _entry(one)).headers == {"Retry-After": "1"}  # type: ignore[union-attr]  # the second leaves

    # Both replicas at once, on another mobile: the database lets exactly five through.
    answers = await asyncio.gather(*(_entry(r, "13900139000", "site-2") for r in (one, two) * 5))
    assert answers.count(None) == 5 and all(a.status == 429 for a in answers if a is not None)

    # The per-client limit (8/minute) holds across replicas as well, on fresh mobiles.
    fresh = [await _entry(r, f"1370013{n:04d}", "site-3") for n, r in enumerate((one, two) * 5)]
    assert fresh[:8] == [None] * 8 and "for this client (at most 8 per 1 minute)" in fresh[8].detail  # type: ignore[union-attr]

    # Neither a mobile nor its plain digest is stored: buckets are keyed pseudonyms.
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            stored = " ".join(str(v) for row in c.execute(select(rate_limit_windows)).all() for v in row)
    finally:
        engine.dispose()
    assert MOBILE not in stored and hashlib.sha256(MOBILE.encode()).hexdigest()[:24] not in stored
    assert "site-1" not in stored


async def test_the_hourly_window_counts_across_replicas(replicas, clock: Clock):
    one, two = replicas
    for n in range(20):  # 5 a minute, alternating replicas, for four minutes
        assert await _entry((one, two)[n % 2]) is None, n
        clock.now += 12.5
    refused = await _entry(one)
    assert refused is not None and "(at most 20 per 1 hour)" in refused.detail
    assert refused.headers == {"Retry-After": str(3600 - 250)}
