"""Launching filings from application files: the one implementation behind `starter.py`
and `filings start`.

Each file is read, checked against R1–R8 (every violation, nothing started on any) and
started with R9 idempotency. The result says what happened as data, so each front end
presents it its own way (plain lines for the starter, Rich tables for `filings`) without
a second copy of the logic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from temporalio.client import Client

from engine.launch import FilingInFlight, start_filing
from engine.settings import Settings
from filing.examples import example_application
from filing.messages import Violation
from filing.models import Application
from filing.rules import parse_application

Outcome = Literal["started", "already_running", "rejected", "refused", "unreadable"]


@dataclass(frozen=True)
class LaunchResult:
    """What became of one file. `document` is the file's JSON as read (when it parses),
    kept so a front end can point at a violating value; it holds personal data."""

    path: Path
    outcome: Outcome
    filing_id: str | None = None
    application: Application | None = None
    document: Any = None
    violations: list[Violation] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("started", "already_running")


def web_ui_link(settings: Settings, filing_id: str) -> str:
    return f"{settings.web_ui}/namespaces/{quote(settings.temporal_namespace)}/workflows/{quote(filing_id)}"


def example_document(now: datetime | None = None) -> tuple[Application, str]:
    """A valid example application and its JSON text, as `--example` writes it."""
    application = example_application(now or datetime.now(UTC))
    text = json.dumps(application.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=2) + "\n"
    return application, text


def read_application(path: Path, now: datetime | None = None) -> LaunchResult:
    """Read and check one file; `outcome` is "rejected"/"unreadable" on failure, else
    provisionally "started" with the application (nothing is started here)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return LaunchResult(path, "unreadable", error=f"cannot read: {getattr(err, 'strerror', None) or err}")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    application, violations = parse_application(text, now or datetime.now(UTC))
    if application is None or violations:
        return LaunchResult(path, "rejected", application=application, document=document, violations=violations)
    return LaunchResult(path, "started", application=application, document=document)


async def launch_file(client: Client, settings: Settings, path: Path, submission_id: str | None = None) -> LaunchResult:
    """Check one file and start its filing (R9: the same submission again is not an error)."""
    checked = read_application(path)
    if checked.application is None or not checked.ok:
        return checked
    try:
        started = await start_filing(
            client,
            checked.application,
            task_queue=settings.task_queue,
            submission_id=submission_id,
            policy=settings.policy,
        )
    except FilingInFlight as err:
        return LaunchResult(
            path,
            "refused",
            filing_id=err.filing_id,
            application=checked.application,
            document=checked.document,
            error=str(err),
        )
    return LaunchResult(
        path, started.status, filing_id=started.filing_id, application=checked.application, document=checked.document
    )
