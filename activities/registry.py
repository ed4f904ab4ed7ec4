"""L8: the approved filing is written to the registry (SPEC §11), once per filing."""

from __future__ import annotations

from temporalio import activity

from activities.errors import permanent_failures_are_final
from filing.ports import Registry
from filing.registry import RegistryChange, RegistryOutcome


class RegistryActivities:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @activity.defn(name="record_approval")
    async def record_approval(self, change: RegistryChange) -> RegistryOutcome:
        """Idempotent by `change.filing_key`: a retry after a lost answer gets the first outcome."""
        with permanent_failures_are_final():
            return await self._registry.apply(change)
