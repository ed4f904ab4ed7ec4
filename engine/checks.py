"""What a filing must pass before it starts (SPEC §3): the rules, the material store (R10)
and the registry (R8), every violation at once. The one implementation behind the starter,
`filings start` and the filing service; the worker checks the same again at L1.

An outside part that cannot answer raises `CheckUnavailable` naming it: an outage is not a
violation, and nothing is started on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from filing.materials import material_violations
from filing.messages import Violation
from filing.models import Application, CancellationRequest
from filing.ports import MaterialOwner, MaterialStore, Registry
from filing.province_materials import ProvinceMaterials
from filing.references import reference_violations
from filing.regions import region_violations
from filing.rules import ALL_RULES, check_application


class CheckUnavailable(RuntimeError):
    """The registry or the material store could not answer; nothing was started."""

    def __init__(self, part: str, err: BaseException) -> None:
        super().__init__(f"the {part} is unavailable: {err}; nothing was started")
        self.part = part


async def start_violations(
    request: Application | CancellationRequest, now: datetime, *, store: MaterialStore, registry: Registry,
    owner: MaterialOwner | None = None, province_lists: Callable[[], ProvinceMaterials] | None = None,
) -> list[Violation]:
    """Every violation of an application (R1–R8, R10, and R5's regions: the address's city and
    district in GB/T 2260, `filing.regions`, checked here and not in the workflow, whose replays
    must not depend on the regions file's edition) or a cancellation request (R8). With
    `owner` (an applicant's start or resubmission), a material it did not upload is not there.
    `province_lists` reads R10's supplementary-material lists in force (the registry
    database's, `registry.province_materials`); none: the shipped list."""
    async def materials() -> list[Violation]:
        if not isinstance(request, Application):
            return []
        try:
            lists = await asyncio.to_thread(province_lists) if province_lists is not None else None
        except (OSError, RuntimeError) as err:
            raise CheckUnavailable("registry", err) from err
        try:
            return await material_violations(request, store, owner=owner, province_lists=lists)
        except (OSError, RuntimeError, LookupError) as err:
            raise CheckUnavailable("material store", err) from err

    async def references() -> list[Violation]:
        try:
            return await reference_violations(request, registry)
        except (OSError, RuntimeError, LookupError) as err:
            raise CheckUnavailable("registry", err) from err

    found = [*check_application(request, now, rules=ALL_RULES - {"R10"}), *region_violations(request)] \
        if isinstance(request, Application) else []
    # The two outside parts are asked at once: a start waits for the slower, not for both in turn.
    in_store, in_registry = await asyncio.gather(materials(), references())
    return [*found, *in_store, *in_registry]
