"""Stable keys for calls that change something: the same command, run again after a timeout,
sends the same key, so the service (its Idempotency-Key) or Temporal (the update id) answers
the first call's result instead of acting twice.

A key is derived from what makes the call *this* call, and from nothing its own effect
changes (else the re-run would differ from the first run):

- the command, the appid and the request's body, byte for byte as sent;
- the filing it acts on, where the caller may read it: its submission time, the first entry
  of its timeline. A later filing of the same appid is another filing, so the same words
  sent to it are a new call, not a replay of an old answer;
- what else tells a new call from a repeat: the attempt a decision is for (a decision on
  attempt 2 is not the one on attempt 1), the attempt a resubmission corrects.

`--idempotency-key` replaces the derived key for one call.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from pydantic import BaseModel

from filing.messages import FilingStatus, Stage


def body_bytes(body: BaseModel | dict[str, Any] | list[Any]) -> bytes:
    """A request body, encoded the same way every time (the service compares bytes)."""
    data = body.model_dump(mode="json", exclude_none=True) if isinstance(body, BaseModel) else body
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def call_key(command: str, appid: str | None, body: bytes, *context: object) -> str:
    """`filings-<command>-<40 hex>`: visible ASCII, well under the service's 255 characters."""
    head = json.dumps([command, appid, *(str(c) for c in context)], ensure_ascii=False).encode()
    digest = hashlib.sha256(head + b"\n" + body).hexdigest()[:40]
    return f"filings-{command.replace(' ', '-')}-{digest}"


def fresh_key(command: str) -> str:
    """For a call that is new every time it is made (`calendar refresh`)."""
    return f"filings-{command.replace(' ', '-')}-{uuid.uuid4().hex}"


def filing_anchor(status: FilingStatus | None) -> str:
    """The filing's submission time (its first timeline entry), which no later event
    changes; '-' when there is no filing, or its first entries were dropped (L10)."""
    if status is None or status.timeline_dropped or not status.timeline:
        return "-"
    return status.timeline[0].at.isoformat()


def corrected_attempt(status: FilingStatus) -> int:
    """The attempt a resubmission corrects: the current one while RETURNED; once resubmitted
    (a re-run after a timeout) the one before it, so the re-run derives the same key."""
    return status.attempt if status.stage is Stage.RETURNED else status.attempt - 1


def start_context(current: FilingStatus | None) -> str:
    """What tells a start apart from a re-run of it: the appid's filing it follows, when that
    one has finished (then a start is a new filing); '-' while none runs or one is in flight."""
    if current is None or not current.stage.is_terminal:
        return "-"
    return filing_anchor(current)


def retry_key(key: str, n: int) -> str:
    """The n-th retry of a call the filing refused for a passing reason (its workflow task
    being retried): derived, so a re-run of the command walks the same keys and replays."""
    return key if n == 0 else f"{key}/retry-{n}"
