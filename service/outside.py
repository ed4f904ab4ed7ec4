"""Calls to the registry and the material store, their outages answered as 503 problems.

Both ports raise `RuntimeError` subclasses (`RegistryUnavailable`,
`MaterialStoreUnavailable`) or `OSError` when they cannot answer; a caller gets a
problem naming the part, and nothing was done.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

from filing.materials import material_violations
from filing.messages import Violation
from filing.models import Application
from filing.ports import MaterialStore
from filing.rules import ALL_RULES, check_application
from service.problems import Problem

T = TypeVar("T")


async def outside(call: Awaitable[T], part: str) -> T:
    try:
        return await call
    except (OSError, RuntimeError) as err:
        raise Problem(503, f"the {part} is unavailable: {err}; nothing was done", kind=f"{part.replace(' ', '-')}-unavailable",
                      headers={"Retry-After": "5"}) from None


async def application_violations(application: Application, now: datetime, store: MaterialStore) -> list[Violation]:
    """R1–R8 and R10 against the material store: every violation at once, as the starter reports them."""
    found = check_application(application, now, rules=ALL_RULES - {"R10"})
    found += await outside(material_violations(application, store), "material store")
    return found


def rule_problem(violations: list[Violation], outcome: str = "nothing was started") -> Problem:
    return Problem(422, f"the application breaks {len(violations)} rule(s); each is listed in errors; {outcome}",
                   kind="rule-violations", title="Rule violations", errors=violations)
