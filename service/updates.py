"""A §7 update sent to a filing on behalf of the caller, once per Idempotency-Key.

Every route that acts on a running filing (decisions, code entries, resends,
resubmissions, withdrawals) is the same three steps: the Idempotency-Key decides whether
this is a repeat (answer the stored result), the update goes to the workflow with an
update id derived from the caller and the key (Temporal itself refuses to run it twice),
and the workflow's answer (or its refusal, 409) is stored under the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from service.access import FilingAccess
from service.context import Services
from service.idempotency import Answer, once
from service.temporal import update_id

R = TypeVar("R", bound=BaseModel)


async def send_once(
    svc: Services,
    request: Request,
    access: FilingAccess,
    key: str,
    name: str,
    payload: BaseModel,
    result_type: type[R],
    *,
    before: Callable[[], Awaitable[None]] | None = None,
    answer: Callable[[R], Answer] = lambda result: (200, result),
) -> Response:
    """`before` runs first inside the once-only effect (a rule check, a rate limit);
    `answer` turns the workflow's result into the response (e.g. 409 when not applied)."""

    async def effect() -> Answer:
        if before is not None:
            await before()
        result = await svc.temporal.update(access.appid, name, payload, result_type,
                                           update_id(access.principal.key, key, name))
        return answer(result)

    return await once(svc.idempotency, request, access.principal, key, effect)
