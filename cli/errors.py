"""How a `filings` command fails: one line on stderr and an exit status scripts can tell apart."""

from __future__ import annotations

#: Exit statuses (docs/cli.md): 2 is also click's own usage error.
EXIT_OK = 0
EXIT_ERROR = 1  # refused, bad input, unknown filing, unreachable part
EXIT_USAGE = 2
EXIT_NOT_APPLIED = 3  # a decision the filing did not apply (L9), with why
EXIT_UNCONFIRMED = 4  # sent, but no answer came back in time: run the same command again

#: The earlier name of EXIT_NOT_APPLIED (the decision was a signal the workflow ignored).
EXIT_IGNORED = EXIT_NOT_APPLIED


class CliError(Exception):
    """A failure the user can act on: printed as `error: <message>`, no traceback."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # always one line
        self.code = code


def unconfirmed(what: str, retry: str) -> CliError:
    """A call sent whose answer was lost: re-running the command is the safe way to learn it."""
    return CliError(f"{what}; {retry}", EXIT_UNCONFIRMED)


#: The refusal Temporal gives while a filing's workflow task is failing and being retried (a
#: worker restarting, a key being deployed): it passes, so such a call is retried, not reported.
TASK_RETRYING = "Workflow Task in failed state"


def task_retrying(message: object) -> bool:
    return bool(message) and TASK_RETRYING.lower() in str(message).lower()
