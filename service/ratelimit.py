"""Rate limits on SMS code entries (`/sms/verify`), per mobile and per client.

L3 already bounds guessing per code (5 wrong entries, one resend); this keeps a client
from hammering a filing's workflow at all. Counters live in memory (the `limits`
package's moving window), so they are per service replica: N replicas allow N times
the rate. Mobiles are kept only as a digest.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from service.metrics import ServiceMetrics
from service.problems import Problem


class SmsVerifyLimits:
    def __init__(self, per_mobile: str, per_client: str, metrics: ServiceMetrics) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits: list[tuple[str, RateLimitItem]] = [
            *(("mobile", item) for item in parse_many(per_mobile)),
            *(("client", item) for item in parse_many(per_client)),
        ]
        self._metrics = metrics

    async def hit(self, mobile: str, client: str) -> None:
        """Count one entry, or refuse it (429) when any limit is reached, counting nothing."""
        keys = {"mobile": hashlib.sha256(mobile.encode()).hexdigest()[:24], "client": client}
        for name, item in self._limits:
            if not await self._limiter.test(item, name, keys[name]):
                stats = await self._limiter.get_window_stats(item, name, keys[name])
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                self._metrics.rate_limited.labels(name).inc()
                raise Problem(429, f"too many SMS code entries for this {name} (at most {item}); "
                              f"retry in {wait} s", kind="rate-limited", headers={"Retry-After": str(wait)})
        for name, item in self._limits:
            await self._limiter.hit(item, name, keys[name])
