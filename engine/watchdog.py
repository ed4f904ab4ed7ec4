"""A process that stays not alive stops itself, so that its supervisor starts a fresh one.

Only for where no orchestrator probes: Docker (and compose) restart a container when its
process exits (`restart: unless-stopped`), never because its healthcheck fails, so under
compose a worker whose poll loops died would otherwise sit there forever while its filings
wait. Under Kubernetes the kubelet's liveness probe on `/livez` does this job: set
`FILINGS_WATCHDOG_FAILURES=0` there (deploy/k8s/), one mechanism is enough.

The watchdog asks the health endpoint's *liveness* verdict (`HealthServer.live`: the loop's
heartbeat and the poll loops; never Temporal or the database, since restarting brings
neither back) every `interval`; after `failures` consecutive failures it logs why and sets
the process's stop event, the same one SIGTERM sets, so the worker shuts down gracefully
(running activities finish) and exits. One success resets the count.

    watchdog = Watchdog(liveness_of(health), stop)
    task = asyncio.create_task(watchdog.run())
    ...
    if watchdog.tripped: exit status 1
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from engine.health import Check

if TYPE_CHECKING:
    from engine.health import HealthServer

log = structlog.get_logger("watchdog")


def liveness_of(health: HealthServer) -> Check:
    """The health endpoint's liveness verdict (what `/livez` answers), with the failing checks named."""

    async def check() -> tuple[bool, str]:
        healthy, body = await health.live()
        checks = body.get("checks", {})
        failing = [f"{name}: {result.get('detail', '')}" for name, result in checks.items()  # type: ignore[union-attr]
                   if isinstance(result, dict) and not result.get("ok")]
        return healthy, "; ".join(failing) or str(body.get("status", ""))

    return check


@dataclass
class Watchdog:
    """Sets `stop` after `failures` consecutive failed checks, one every `interval`.

    A check that raises, or takes longer than `timeout` (default: the interval), has failed.
    The defaults stop a worker that has not been alive for a minute (4 × 15 s), like a
    liveness probe with `failureThreshold: 4`."""

    check: Check
    stop: asyncio.Event
    interval: timedelta = timedelta(seconds=15)
    failures: int = 4
    timeout: timedelta | None = None
    #: Set when the watchdog stopped the process (not when something else set `stop`).
    tripped: bool = field(default=False, init=False)
    #: The last failing check's detail, once tripped: why the process stopped.
    reason: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError(f"watchdog interval must be positive, not {self.interval}")
        if self.failures < 1:
            raise ValueError(f"watchdog failures must be at least 1 (consecutive failed checks), not {self.failures}")
        if self.timeout is not None and self.timeout <= timedelta(0):
            raise ValueError(f"watchdog timeout must be positive, not {self.timeout}")

    async def run(self) -> None:
        """Check every interval, the first one interval after the start (a worker is not polling
        yet when it starts), until `stop` is set, by this watchdog or by anything else."""
        consecutive = 0
        timeout = (self.timeout or self.interval).total_seconds()
        while not await self._stopped_within(self.interval):
            ok, detail = await self._ask(timeout)
            if self.stop.is_set():
                return  # stopping anyway: an answer given while shutting down means nothing
            if ok:
                if consecutive:
                    log.info("health_recovered", after_failures=consecutive)
                consecutive = 0
            else:
                consecutive += 1
                log.warning("health_check_failed", consecutive=consecutive, of=self.failures, detail=detail)
                if consecutive >= self.failures:
                    self.tripped, self.reason = True, detail
                    log.error("unhealthy_stopping", consecutive=consecutive,
                              unhealthy_for_seconds=consecutive * self.interval.total_seconds(), reason=detail,
                              detail="stopping so that the container is restarted (restart: unless-stopped)")
                    self.stop.set()
                    return

    async def _stopped_within(self, delay: timedelta) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay.total_seconds())
        return self.stop.is_set()

    async def _ask(self, timeout: float) -> tuple[bool, str]:
        try:
            ok, detail = await asyncio.wait_for(self.check(), timeout)
        except TimeoutError:
            return False, f"health check did not answer within {timeout:g} s"
        except Exception as err:  # noqa: BLE001 - a failing check is an answer, not a crash
            return False, f"{type(err).__name__}: {err}"
        return bool(ok), detail
