"""Rate limits on SMS code entries (`/sms/verify`), per mobile and per client.

L3 already bounds guessing per code (5 wrong entries, one resend); this keeps a client
from hammering a filing's workflow at all. The limits are the `limits` package's notation
and moving window (`5/minute;20/hour`: at most 5 entries in any 60 s, 20 in any hour);
their counters live in the registry database (`registry/rate_windows.py`), so every
replica of the service counts against the same windows: N replicas allow the configured
rate, not N times it. Neither a mobile nor a client id is stored: a bucket is named by an
HMAC of it under a key derived from the payload keyring's current key (a mobile's plain
digest would be reversed by trying the 10¹¹ numbers).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math

from limits import RateLimitItem, parse_many

from registry.rate_windows import SharedMovingWindows, Window
from service.metrics import ServiceMetrics
from service.outside import outside
from service.problems import Problem

_PSEUDONYM_CONTEXT = b"icp-filings sms-verify rate-limit buckets v1"


def pseudonym_key(payload_key: bytes) -> bytes:
    """The key naming the buckets, derived (not the payload key itself, which seals data)."""
    return hmac.new(payload_key, _PSEUDONYM_CONTEXT, hashlib.sha256).digest()


class SmsVerifyLimits:
    def __init__(self, per_mobile: str, per_client: str, metrics: ServiceMetrics, windows: SharedMovingWindows,
                 key: bytes) -> None:
        self._items: dict[str, list[RateLimitItem]] = {"mobile": parse_many(per_mobile),
                                                       "client": parse_many(per_client)}
        self._windows = windows
        self._key = key
        self._metrics = metrics

    def _bucket(self, name: str, value: str) -> str:
        return f"sms-verify:{name}:{hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:40]}"

    async def hit(self, mobile: str, client: str) -> None:
        """Count one entry, or refuse it (429) when any limit is reached, counting nothing.
        A registry that cannot answer is a 503: nothing is counted, nothing sent on."""
        names = {self._bucket("mobile", mobile): "mobile", self._bucket("client", client): "client"}
        items = {bucket: {Window(i.amount, i.get_expiry()): i for i in self._items[name]}
                 for bucket, name in names.items()}
        refused = await outside(asyncio.to_thread(
            self._windows.acquire, {bucket: list(by_window) for bucket, by_window in items.items()}), "registry")
        if refused is None:
            return
        name, item = names[refused.bucket], items[refused.bucket][refused.window]
        wait = max(1, math.ceil(refused.retry_after))
        self._metrics.rate_limited.labels(name).inc()
        raise Problem(429, f"too many SMS code entries for this {name} (at most {item}); "
                      f"retry in {wait} s", kind="rate-limited", headers={"Retry-After": str(wait)})
