"""What `FilingWorkflow` needs besides its decisions: options of its calls, the refusal
raised by validators, decoding messages, and turning failures into short reasons.

Kept apart so the workflow module reads as the lifecycle (SPEC §4) and little else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

from engine.codec import SEALED
from filing.messages import Reason
from filing.policy import MIN_HISTORY_BYTES_BEFORE_CONTINUE  # noqa: F401 (the workflow's floor)

M = TypeVar("M", bound=BaseModel)

#: The shape change that made outside effects regular activities, resends and decisions
#: answered without waiting on a gateway, SMS codes derived from their send, capped
#: timelines and continue-as-new. Filings started before it replay (and keep running) on
#: the earlier shape: local activities, resends sent inside the update (README,
#: "Changing the workflow").
EFFECTS_AS_ACTIVITIES = "effects-as-activities"
#: Filings of the earlier shape approved after this change still write the registry (L8).
REGISTRY_L8 = "registry-l8"
#: Filings of the earlier shape resubmitted after this change continue as new (L10).
CONTINUE_AS_NEW = "continue-as-new-on-resubmission"
#: Runs bounded whatever happens (L10): a notice on its way no longer holds continue-as-new
#: back (undelivered notices travel in the carried state and the next run sends them), and
#: a run's length is what it grew since it started, never the carried state it began with.
RUNS_BOUNDED = "runs-bounded"

#: Outside effects (hand-overs, SMS, notices, the L1 check): each attempt is short and
#: carries an idempotency key; transient failures retry with backoff; the filing
#: escalates only after `policy.outside_service_timeout`.
EFFECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
EFFECT_ATTEMPT_TIMEOUT = timedelta(seconds=10)  # a hung call fails fast and retries
#: Filings of the earlier shape: past this, a failing local activity backs off on a
#: durable timer instead of retrying inside the workflow task.
EFFECT_LOCAL_RETRY_THRESHOLD = timedelta(seconds=5)
#: The registry is the system of record and answers a reviewer's approval: a decision it
#: cannot take within this is answered as not applied (the reviewer sends it again).
REGISTRY_TIMEOUT = timedelta(seconds=30)
#: Local activities (deadline computation, code check): short, idempotent, worker-local.
LOCAL_TIMEOUT = timedelta(seconds=10)
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10)
#: A deadline that cannot be computed (a worker bug, not bad data: bad data is refused
#: and reported) is retried on durable timers, backing off to this.
DEADLINE_RETRY_MAX = timedelta(hours=1)


class Refused(ApplicationError):
    """An update that does not fit the filing; raised by validators so it leaves no trace
    in the history. `answer` is the §7 answer a client may show instead (e.g. `no_valid_code`)."""

    def __init__(self, message: str, answer: BaseModel | None = None) -> None:
        details: list[Any] = [answer.model_dump(mode="json")] if answer is not None else []
        super().__init__(message, *details, type="Refused", non_retryable=True)


_REASON_TEXT = {
    "sms_timeout": ("no SMS verification within the window: automatically rejected (自动驳回)", "请重新提交备案申请并在短信有效期内完成核验"),
    "sms_attempts_exhausted": ("a verifier used up the attempts on the code and has no resend left", "请重新提交备案申请"),
    "sms_ignored": ("the verification SMS was not answered within the window: the cancellation stops (忽略短信即终止注销)", "如需注销，请重新提交注销申请"),
    "sms_undeliverable": ("the verification SMS could not be delivered", "请核对手机号码后重新提交"),
    "handover_failed": ("the review desk could not take the filing; operators were alerted", "请稍后重新提交"),
    "check_unavailable": ("the submission could not be checked (a service it needs stayed down); operators were alerted", "请稍后重新提交"),
}


def return_reason(field: str, code: str) -> Reason:
    text, suggestion = _REASON_TEXT[code]
    return Reason(field=field, error=code, suggestion=f"{text}; {suggestion}")


def unencrypted_refusal(model_name: str, codec: str | None) -> str:
    """What a client that forgot the codec is told: the codec address the filing was started
    with (FILINGS_CODEC_URL then), or, for a filing that carries none, where to get it, never
    an address that may be wrong for this deployment."""
    endpoint = codec or "<the codec server's address from your operator (FILINGS_CODEC_URL)>"
    return (
        f"{model_name} carries personal data and arrived unencrypted; nothing was stored. Send it "
        "through the filing service, or pass the codec flags to the temporal CLI "
        f"(--codec-endpoint {endpoint} --codec-auth 'Bearer <token>')"
    )


def parse_update(model: type[M], payload: RawValue, *, personal: bool = False, codec: str | None = None) -> M:
    """Decode an update ourselves, so that a malformed or oversized one is refused by the
    validator with every field named (the SDK would only say it failed decoding).

    `personal`: the message carries personal data (a mobile, a code, an application), so
    it must have arrived encrypted: a client that forgot the codec is refused before
    anything is stored, instead of leaving the data in the history in clear. `codec`: the
    codec server's address the refusal names."""
    if personal and SEALED not in payload.payload.metadata:
        raise Refused(unencrypted_refusal(model.__name__, codec))
    try:
        decoded = workflow.payload_converter().from_payload(payload.payload, model)
    except Exception as err:  # any payload at all: refused with its reason, never a failed task
        raise Refused(f"invalid {model.__name__}: {schema_errors(err)}") from None
    if decoded is None:  # a null payload decodes to None without complaint
        raise Refused(f"invalid {model.__name__}: an object is required, not null")
    return decoded


def cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)[:300]


def cause_type(err: BaseException) -> str | None:
    """The `type` of the innermost application error (e.g. `UnknownSmsKey`)."""
    found = None
    while err is not None:
        if isinstance(err, ApplicationError):
            found = err.type
        err = err.__cause__  # type: ignore[assignment]
    return found


def schema_errors(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in err.errors())[:500]
    return str(err)[:500]
