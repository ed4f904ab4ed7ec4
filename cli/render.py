"""Rich output for people. (`--json` output is built by the commands from the models.)

Times are shown in China time, where business days are counted (SPEC §5); a deadline
is shown as the console and the API docs show it (`2026-12-09 24:00（北京时间）`: at midnight,
24:00 of the day it closes, as the SPEC words it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cli.privacy import is_personal_subject, shown, value_at, who
from engine.visibility import FilingRow
from filing.calendar import CHINA_TZ, CalendarDay
from filing.dates import deadline_text as shared_deadline_text
from filing.messages import FilingStatus, Stage, TimelineEntry, Violation

if TYPE_CHECKING:  # the start's checks (R1–R10) load only for the commands that start filings
    from engine.batch import LaunchResult

PROVISIONAL = " (provisional)"
_DEADLINE_LABEL = {
    Stage.PLATFORM_REVIEW: "platform review due",
    Stage.PROVINCIAL_REVIEW: "provincial review due",
    Stage.SMS_VERIFICATION: "SMS window closes",
    Stage.RETURNED: "resubmit before",
}


def china_time(at: datetime, seconds: bool = False) -> str:
    local = at.astimezone(CHINA_TZ)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def deadline_text(due_at: datetime | None, provisional: bool) -> str:
    """The one deadline format (`filing.dates.deadline_text`): `2026-12-09 24:00（北京时间）`."""
    if due_at is None:
        return "-"
    return shared_deadline_text(due_at) + (PROVISIONAL if provisional else "")


def _left(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h left" if hours >= 24 else f"{hours} h {span.seconds // 60 % 60} min left"


def sla_text(status: FilingStatus, now: datetime) -> Text:
    """The review SLA's state (L5); for the SMS window and the resubmission window, the time left."""
    d = status.deadline
    if d is None:
        return Text("-")
    if d.sla_breached:
        return Text("OVERDUE (SLA breached, operators alerted)", style="bold red")
    if d.due_at < now:
        return Text("past due", style="red")
    review = status.stage in (Stage.PLATFORM_REVIEW, Stage.PROVINCIAL_REVIEW)
    return Text(f"on time ({_left(d.due_at - now)})" if review else _left(d.due_at - now), style="green")


def status_view(status: FilingStatus, link: str | None, now: datetime) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("filing", status.filing_id)
    facts.add_row("kind", status.kind.value)
    facts.add_row("stage", Text(status.stage.value, style="bold"))
    facts.add_row("attempt", str(status.attempt))
    if status.deadline:
        label = _DEADLINE_LABEL.get(status.stage, "deadline")
        facts.add_row(label, deadline_text(status.deadline.due_at, status.deadline.provisional))
        review = status.stage in (Stage.PLATFORM_REVIEW, Stage.PROVINCIAL_REVIEW)
        facts.add_row("SLA" if review else "time", sla_text(status, now))
    if status.filing_number:
        facts.add_row("filing number", Text(status.filing_number, style="bold green"))
    if link:
        facts.add_row("web UI", link)
    parts: list[RenderableType] = [facts]
    if status.sms and status.sms.verifiers:
        sms = Table(title="SMS verification (12381)", title_justify="left")
        for column in ("verifier", "verified", "attempts left", "resends left"):
            sms.add_column(column)
        for v in status.sms.verifiers:
            sms.add_row(v.mobile, "yes" if v.verified else "no", str(v.attempts_left), str(v.resends_left))
        if status.sms.expires_at:
            sms.caption = f"window closes {shared_deadline_text(status.sms.expires_at)}"
        parts.append(sms)
    if status.returned:
        parts.append(reasons_table(f"last return (by {status.returned.by.value})", status.returned.reasons))
    return Group(*parts)


def reasons_table(title: str, reasons: Iterable[Any]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("field", "error", "suggestion"):
        table.add_column(column, overflow="fold")
    for r in reasons:
        table.add_row(r.field, r.error, r.suggestion or "")
    return table


def timeline_table(filing_id: str, entries: list[TimelineEntry]) -> Table:
    table = Table(title=f"{filing_id} timeline (China time)", title_justify="left")
    table.add_column("at", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for e in entries:
        style = "yellow" if e.event == "decision_ignored" else None
        table.add_row(china_time(e.at, seconds=True), Text(e.event, style=style or ""), e.detail or "")
    return table


def rows_table(rows: list[FilingRow], now: datetime, title: str) -> RenderableType:
    """Filings as their search attributes show them; overdue and closed ones marked."""
    if not rows:
        return Text(title)
    table = Table(title=title, title_justify="left")
    for column in ("filing", "stage", "kind", "prov.", "att.", "stage deadline", "note"):
        table.add_column(column, no_wrap=column in ("filing", "stage"))
    for r in rows:
        mark = Text("OVERDUE", style="bold red") if r.overdue(now) else Text("" if r.running else "closed", style="dim")
        table.add_row(
            r.filing_id,
            r.stage,
            r.kind,
            r.province,
            str(r.attempt or "-"),
            deadline_text(r.deadline, r.provisional),
            mark,
        )
    return table


def violations_table(result: LaunchResult, reveal: bool) -> Table:
    personal = is_personal_subject(result.document)
    table = Table(title=f"{result.path}: {len(result.violations)} rule violation(s)", title_justify="left")
    for column in ("field", "rule", "value", "problem"):
        table.add_column(column, overflow="fold", no_wrap=column in ("field", "rule"))
    for v in result.violations:
        value = shown(v.field, value_at(result.document, v.field), reveal=reveal, personal_subject=personal)
        table.add_row(v.field, v.key, value or "", f"{v.message_en}\n{v.message_zh}")
    return table


def violation_json(v: Violation, document: Any, reveal: bool) -> dict[str, Any]:
    value = shown(v.field, value_at(document, v.field), reveal=reveal, personal_subject=is_personal_subject(document))
    return {**v.model_dump(), "value": value}


_OUTCOME_STYLE = {"started": "green", "already_running": "cyan"}


def start_table(results: list[LaunchResult], reveal: bool) -> Table:
    table = Table(title="filings start", title_justify="left")
    for column in ("file", "outcome", "filing", "mini-program", "subject / principal"):
        table.add_column(column, overflow="fold")
    for r in results:
        app, cancel = r.application, r.cancellation
        if app is not None:
            what, person = f"{app.mini_program.name} ({app.appid})", who(app, reveal)
        elif cancel is not None:  # who is texted comes from the registry, not from the request
            what, person = f"{cancel.kind.value} {cancel.filing_number} ({cancel.appid})", "on record"
        else:
            what, person = "-", "-"
        table.add_row(
            str(r.path),
            Text(r.outcome.replace("_", " "), style=_OUTCOME_STYLE.get(r.outcome, "red")),
            r.filing_id or "-",
            what,
            person,
        )
    return table


def calendar_view(year: int, days: list[CalendarDay], version: str) -> RenderableType:
    source = days[0].source if days else "weekends-only"
    off = [d.day for d in days if not d.is_workday and d.day.weekday() < 5]
    on = [d.day for d in days if d.is_workday and d.day.weekday() >= 5]
    table = Table(title=f"{year}: source {source} ({version})", title_justify="left")
    table.add_column("public holidays off (weekdays)")
    table.add_column("make-up working days 调休补班 (weekends)")
    for i in range(max(len(off), len(on), 1)):
        table.add_row(_day(off, i), _day(on, i))
    if source == "weekends-only":
        table.caption = f"no official data for {year}: deadlines reaching it are provisional (weekends only)"
    return table


def _day(days: list[date], i: int) -> str:
    return f"{days[i].isoformat()} {days[i]:%a}" if i < len(days) else ""
