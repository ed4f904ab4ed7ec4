"""How a port's failure reaches the workflow: permanent ones must not be retried."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from filing.ports import PermanentFailure

PERMANENT = "PermanentFailure"


@contextmanager
def permanent_failures_are_final() -> Iterator[None]:
    """Turn a port's `PermanentFailure` into a non-retryable activity error the workflow handles."""
    try:
        yield
    except PermanentFailure as err:
        raise ApplicationError(str(err), type=PERMANENT, non_retryable=True) from err
