"""What `FilingWorkflow` needs besides its decisions: options of its calls, the refusal
raised by validators, verifier state, and turning failures into short reasons.

Kept apart so the workflow module reads as the lifecycle (SPEC §4) and little else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

from filing.messages import Reason

M = TypeVar("M", bound=BaseModel)

#: Outside effects (hand-over tickets, SMS, notifications) are short, idempotent calls
#: (every one carries an idempotency key), so they run as local activities: one marker
#: in the history instead of a schedule/start/complete triple and a workflow task each.
#: Transient failures retry with backoff; the filing escalates only after
#: `policy.outside_service_timeout`.
EFFECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
EFFECT_ATTEMPT_TIMEOUT = timedelta(seconds=10)  # a hung call fails fast and retries
#: Past this, a failing effect backs off on a durable timer instead of retrying inside
#: the workflow task, so queries (reviewer tools) keep answering during an outage.
EFFECT_LOCAL_RETRY_THRESHOLD = timedelta(seconds=5)
#: Local activities (deadline computation, rule re-check, code check): short and idempotent.
LOCAL_TIMEOUT = timedelta(seconds=10)
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10)


class Refused(ApplicationError):
    """An applicant's update that does not fit the filing; raised by validators so it leaves
    no trace in the history."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="Refused", non_retryable=True)


@dataclass
class Verifier:
    """One SMS verifier (L3). The digest is a keyed HMAC: the code itself never gets here."""

    mobile: str
    id_last6: str
    attempts_left: int = 0
    resends_left: int = 0
    resend: int = 0
    digest: str | None = None
    verified: bool = False


_REASON_TEXT = {
    "sms_timeout": ("no SMS verification within the window: automatically rejected (自动驳回)", "请重新提交备案申请并在24小时内完成短信核验"),
    "sms_attempts_exhausted": ("a verifier used up the attempts on the code and has no resend left", "请重新提交备案申请"),
    "sms_undeliverable": ("the verification SMS could not be delivered", "请核对手机号码后重新提交"),
    "handover_failed": ("the review desk could not take the filing; operators were alerted", "请稍后重新提交"),
}


def return_reason(field: str, code: str) -> Reason:
    text, suggestion = _REASON_TEXT[code]
    return Reason(field=field, error=code, suggestion=f"{text}; {suggestion}")


def parse_update(model: type[M], payload: RawValue) -> M:
    """Decode an applicant's update ourselves, so that a malformed or oversized one is refused
    by the validator with every field named (the SDK would only say it failed decoding)."""
    try:
        return workflow.payload_converter().from_payload(payload.payload, model)
    except Exception as err:  # any payload at all: refused with its reason, never a failed task
        raise Refused(f"invalid {model.__name__}: {schema_errors(err)}") from None


def cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)[:300]


def schema_errors(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in err.errors())[:500]
    return str(err)[:500]
