"""Calls to the registry and the material store, their outages answered as 503 problems.

Both ports raise `RuntimeError` subclasses (`RegistryUnavailable`,
`MaterialStoreUnavailable`) or `OSError` when they cannot answer; a caller gets a
problem naming the part, and nothing was done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from engine import checks
from filing.messages import Violation
from filing.models import Application, CancellationRequest
from filing.ports import MaterialOwner, MaterialStore, Registry
from filing.province_materials import ProvinceMaterials
from service.principal import Principal, Role
from service.problems import Problem

T = TypeVar("T")


async def outside(call: Awaitable[T], part: str) -> T:
    try:
        return await call
    except (OSError, RuntimeError) as err:
        raise Problem(503, f"the {part} is unavailable: {err}; nothing was done", kind=f"{part.replace(' ', '-')}-unavailable",
                      headers={"Retry-After": "5"}) from None


async def start_violations(
    request: Application | CancellationRequest, store: MaterialStore, registry: Registry, principal: Principal,
    province_lists: Callable[[], ProvinceMaterials] | None = None,
) -> list[Violation]:
    """Every violation before a start or resubmission (`engine.checks`: the rules, R10 against
    the material store, R8 against the registry), as the starter reports them; an outside part
    that cannot answer is a 503 naming it. An applicant names only materials they uploaded
    (`material_owner`); an operator, who may read every material anyway, any in the store.
    `province_lists`: R10's lists in force (`Services.province_lists.lists`)."""
    owner = material_owner(principal) if principal.role is Role.APPLICANT else None
    try:
        return await checks.start_violations(request, datetime.now(UTC), store=store, registry=registry, owner=owner,
                                             province_lists=province_lists)
    except checks.CheckUnavailable as err:
        raise Problem(503, str(err), kind=f"{err.part.replace(' ', '-')}-unavailable",
                      headers={"Retry-After": "5"}) from None


def material_owner(principal: Principal) -> MaterialOwner:
    """The caller as the material store records an upload's owner: themselves and their appids."""
    return MaterialOwner(principal=principal.key, appids=sorted(principal.appids), source="api")


def rule_problem(violations: list[Violation], outcome: str = "nothing was started") -> Problem:
    return Problem(422, f"the application breaks {len(violations)} rule(s); each is listed in errors; {outcome}",
                   kind="rule-violations", title="Rule violations", errors=violations)
