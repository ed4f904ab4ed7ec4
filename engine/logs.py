"""structlog set-up: a readable console in development, JSON lines in production.

Standard-library loggers (the Temporal SDK's, `workflow.logger`, the SDK core's forwarded
logs) go through the same renderer, so one stream carries everything, and every line
of a filing names it the same way: `filing_id`, `stage`, `attempt` (the filing's
attempt, i.e. its resubmission count). Activities get them from the context the
activity interceptor binds (`engine.log_context`); workflow lines from the `extra`
the workflow passes to `workflow.logger` and the SDK's own workflow details.

Personal data is masked where it is produced; as a safety net, every rendered line
is scanned for mainland mobiles and resident identity numbers, which are masked with
`filing.masking` (names and addresses cannot be recognised reliably: they are never
logged by the engine).

Tracebacks never show local variables: a frame's locals hold requests, applications and
tokens. The console shows a plain traceback; JSON lines carry it structured
(`exception`: frames and the exception, no locals), so one error is one line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from temporalio import activity, workflow

from filing.masking import mask_id_number, mask_mobile

# An 18-character resident identity number, and a mainland mobile (optionally +86).
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d{9})(?!\d)")

#: Record attributes the SDK (and the workflow) add through `extra`.
_EXTRAS = ("temporal_workflow", "temporal_activity", "stage", "attempt")


def mask_personal_data(text: str) -> str:
    """Mask every identity number and mobile in `text` (the last step before output)."""
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _MOBILE.sub(lambda m: m.group(0).replace(m.group(1), mask_mobile(m.group(1))), text)


def _mask_rendered(_: Any, __: str, rendered: Any) -> Any:
    return mask_personal_data(rendered) if isinstance(rendered, str) else rendered


def _filing_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Name the filing the same way on SDK lines as on the engine's: the workflow id is the
    filing id; the SDK's run attempt and bookkeeping are dropped (the filing's attempt is
    what matters, and namespace/task queue are on the worker's start line)."""
    wf = event.pop("temporal_workflow", None)
    if isinstance(wf, dict):
        event.setdefault("filing_id", wf.get("workflow_id"))
        event.setdefault("run_id", wf.get("run_id"))
        if "update_name" in wf:
            event.setdefault("update", wf["update_name"])
            event.setdefault("update_id", wf.get("update_id"))
    act = event.pop("temporal_activity", None)
    if isinstance(act, dict):
        event.setdefault("filing_id", act.get("workflow_id"))
        event.setdefault("activity", act.get("activity_type"))
        event.setdefault("activity_attempt", act.get("attempt"))
    return event


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    foreign: list[structlog.types.Processor] = [*shared, structlog.stdlib.ExtraAdder(_EXTRAS), _filing_context]
    renderers: list[structlog.types.Processor] = (
        [structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
         structlog.processors.JSONRenderer(ensure_ascii=False)]
        if fmt == "json"
        else [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(),
                                            exception_formatter=structlog.dev.plain_traceback)]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=foreign,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers, _mask_rendered],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request's URL at INFO, query string included (the console calls the API
    # in-process): a URL may carry what a person typed, so only its warnings are kept.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # The SDK's details are fields of the line (above), not a dict appended to the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
