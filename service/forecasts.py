"""The provincial-review forecast as the service serves it: figures per province and kind,
computed from the registry's finished reviews on the business calendar in force, and
mirrored in a Prometheus gauge.

Why the samples are kept between questions: the console shows the figure on every applicant
page and on the provincial desk, and `/metrics` is scraped every few seconds; they are read
again only when the registry recorded a change (one small read tells). The calendar is the
registry database's (imported overrides over the official data), as the workers count
deadlines on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from filing.calendar import BusinessCalendar
from filing.forecast import (
    MIN_SAMPLES,
    PROVINCIAL_KINDS,
    WINDOW_DAYS,
    ExpectedDecision,
    ProvincialForecast,
    ReviewSample,
    expected_decision,
    forecast,
)
from filing.models import FilingKind
from registry.calendar_overrides import CalendarOverrideStore
from registry.database import unavailable
from registry.forecasts import changes_fingerprint, review_samples
from service.metrics import ServiceMetrics

def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ForecastBoard:
    """Keeps the window's samples (read again when the registry changed) and answers figures."""

    engine: Engine
    url: str
    metrics: ServiceMetrics
    clock: Callable[[], datetime] = _now
    window_days: int = WINDOW_DAYS
    min_samples: int = MIN_SAMPLES
    _calendar: BusinessCalendar | None = None
    _samples: list[ReviewSample] = field(default_factory=list)
    _fingerprint: tuple[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calendar(self) -> BusinessCalendar:
        if self._calendar is None:
            self._calendar = BusinessCalendar(CalendarOverrideStore(self.url, engine=self.engine), strict=False)
        self._calendar.refresh()
        return self._calendar

    def _fresh_samples(self, now: datetime) -> list[ReviewSample]:
        """The samples of the window, read again only when the registry recorded a change
        since (`changes_fingerprint`); `forecast` filters them by the window at each use, so
        samples kept from an earlier read slide out of it on time."""
        with self._lock:
            try:
                fingerprint = changes_fingerprint(self.engine)
                if fingerprint != self._fingerprint:
                    self._samples = review_samples(self.engine, now - timedelta(days=self.window_days))
                    self._fingerprint = fingerprint
            except DBAPIError as err:  # an outage: the route answers 503 naming the registry
                raise unavailable(self.url, err) from None
            return self._samples

    def figures(self, provinces: list[str] | None, kinds: list[FilingKind] | None = None) -> list[ProvincialForecast]:
        """Per province (canonical prefixes; None: every province with a finished review in the
        window) and kind (None: every kind the provinces review), and the gauge updated."""
        now = self.clock()
        samples = self._fresh_samples(now)
        calendar = self.calendar()
        chosen = provinces if provinces is not None else sorted({s.province for s in samples})
        found = [
            forecast(samples, calendar, now, province, kind, window_days=self.window_days, min_samples=self.min_samples)
            for province in chosen for kind in (kinds or PROVINCIAL_KINDS)
        ]
        for figures in found:
            self._gauge(figures)
        return found

    def expected(self, started_at: datetime, figures: ProvincialForecast) -> ExpectedDecision | None:
        return expected_decision(self.calendar(), started_at, figures)

    async def refresh_gauges(self) -> None:
        """Before a scrape: every province with finished reviews, off the event loop."""
        await asyncio.to_thread(self.figures, None)

    def _gauge(self, figures: ProvincialForecast) -> None:
        labels = (figures.province, figures.kind.value)
        self.metrics.forecast_finished.labels(*labels).set(figures.count)
        for quantile, value in (("0.5", figures.p50), ("0.9", figures.p90)):
            gauge = self.metrics.forecast_days.labels(*labels, quantile)
            gauge.set(value if value is not None else float("nan"))
