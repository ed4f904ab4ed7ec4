"""After an applied action, the filing as the engine now reports it, waited for briefly.

An applied decision (or resubmission) is an answer from the filing's workflow, but the
stage it leads to can follow a moment later: after 通过初审 the engine first sends every
12381 code, then enters 短信核验. Redirecting at once showed the desk the filing had left,
with its decision form (issue 19). So the console reads the status until it shows the
move, for a bounded time; after that the page says "已通过，正在流转…" itself
(`FilingView.moving_on`) rather than offer the decision again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from filing.messages import FilingStatus
from service.console.api import Api

#: The longest a person waits for the engine after an applied action (seconds).
SETTLE_SECONDS = 3.0
#: Between two reads of the status (seconds).
SETTLE_STEP = 0.15


async def settled(api: Api, appid: str, moved: Callable[[FilingStatus], bool], *,
                  within: float = SETTLE_SECONDS) -> FilingStatus | None:
    """The filing's status once `moved` holds for it, or the last one read when `within`
    seconds pass first (None when the status could not be read at all)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: FilingStatus | None = None
    while True:
        answer = await api.get(f"/v1/filings/{appid}")
        if answer.ok:
            last = FilingStatus.model_validate(answer.body)
            if moved(last):
                return last
        if loop.time() + SETTLE_STEP > deadline:
            return last
        await asyncio.sleep(SETTLE_STEP)
