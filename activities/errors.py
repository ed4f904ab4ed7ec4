"""How a port's failure reaches the workflow: permanent ones must not be retried."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from filing.ports import PermanentFailure, RetryLater

PERMANENT = "PermanentFailure"
RETRY_LATER = "RetryLater"


@contextmanager
def permanent_failures_are_final() -> Iterator[None]:
    """Turn a port's `PermanentFailure` into a non-retryable activity error the workflow handles,
    and a `RetryLater` into a retryable one that waits as long as the service asked (never
    longer than the activity's own backoff would: the port caps it)."""
    try:
        yield
    except PermanentFailure as err:
        raise ApplicationError(str(err), type=PERMANENT, non_retryable=True) from err
    except RetryLater as err:
        raise ApplicationError(str(err), type=RETRY_LATER, next_retry_delay=err.retry_after) from err
