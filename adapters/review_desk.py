"""The local review desk: hand-overs recorded in `<data dir>/handovers.jsonl` with a ticket id.

A line records the hand-over as given (where to read the application, the materials'
hashes, a cancellation's number and reason) with the desk and its ticket: it is what a
reviewer's desk would receive. The ticket derives from the idempotency key, so the same
hand-over answers the same ticket on any worker.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from adapters.jsonl import JsonLines
from filing.ports import HandOver


def ticket_for(prefix: str, idempotency_key: str) -> str:
    """A hand-over's ticket: the desk's prefix (`PR`, or the province's) and a digest of its key."""
    return f"{prefix}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:10].upper()}"


class FileReviewDesk:
    def __init__(self, data_dir: Path) -> None:
        self._file = JsonLines(data_dir / "handovers.jsonl")

    async def enqueue_platform_review(self, handover: HandOver) -> str:
        return await self._record("PR", "platform", handover)

    async def hand_over_to_province(self, handover: HandOver) -> str:
        return await self._record(handover.province, "province", handover)

    async def _record(self, prefix: str, desk: str, handover: HandOver) -> str:
        ticket = ticket_for(prefix, handover.idempotency_key)
        stored = await self._file.append_once({"desk": desk, "ticket": ticket, **handover.model_dump(mode="json")})
        return str(stored["ticket"])
