"""The operator's and integrator's commands: list, start, example, calendar, schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from temporalio.service import RPCError, RPCStatusCode

from cli import parsing, render
from cli.options import EXIT_ERROR, CliError, Options, command
from cli.visibility import build_query, fetch_rows
from engine.batch import LaunchResult, example_document, launch_file, web_ui_link
from filing import messages as m
from filing.calendar import BusinessCalendar, CalendarDataError
from filing.models import Application, FilingKind

app = typer.Typer()
calendar = typer.Typer(no_args_is_help=True, help="The business calendar (SPEC §5): show a year, refresh deadlines.")

PANEL = "Operator and integrator"


@command(app, "list", rich_help_panel=PANEL)
async def list_filings(
    opts: Options,
    stage: Annotated[
        list[m.Stage] | None,
        typer.Option("--stage", case_sensitive=False, metavar="STAGE", help=f"{', '.join(m.Stage)}; repeatable."),
    ] = None,
    province: Annotated[
        list[str] | None, typer.Option("--province", metavar="PROVINCE", help="冀 or 河北; repeatable.")
    ] = None,
    kind: Annotated[
        list[FilingKind] | None,
        typer.Option("--kind", case_sensitive=False, metavar="KIND", help=f"{', '.join(FilingKind)}; repeatable."),
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Running, SLA breached or deadline past.")] = False,
    provisional: Annotated[bool, typer.Option("--provisional", help="Running, deadline provisional.")] = False,
    running: Annotated[bool, typer.Option("--running", help="Running filings only.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most this many.")] = 200,
) -> None:
    """Filings on this task queue (newest first), filtered on the §7 search attributes."""
    now = datetime.now(UTC)
    query = build_query(
        opts.settings.task_queue,
        stages=stage or [],
        provinces=[parsing.province_prefix(p) for p in province or []],
        kinds=kind or [],
        overdue=overdue,
        provisional=provisional,
        running=running,
        now=now,
    )
    client = await opts.client()
    rows = await fetch_rows(client, query, limit=limit)
    if opts.as_json:
        opts.emit_json([r.as_json(now) for r in rows])
        return
    total = (await client.count_workflows(query)).count
    shown = f"{len(rows)} of {total}" if total > len(rows) else str(len(rows))
    opts.out.print(render.rows_table(rows, now, f"{shown} filing(s)"))
    opts.note(f"query: {query}")


@command(app, rich_help_panel=PANEL)
async def start(
    opts: Options,
    files: Annotated[list[Path], typer.Argument(metavar="FILE.json...", help="Application files.", show_default=False)],
    submission_id: Annotated[
        str | None,
        typer.Option(
            "--submission-id",
            metavar="ID",
            help="The caller's submission id (one file only; default: derived from its content).",
        ),
    ] = None,
) -> int:
    """Check and start filings from application files (what starter.py does), with a summary."""
    if submission_id and len(files) > 1:
        raise CliError("--submission-id names one submission: give one file with it")
    client = await opts.client()
    results: list[LaunchResult] = []
    columns = (TextColumn("starting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=opts.err, transient=True, disable=opts.as_json or len(files) < 2) as progress:
        task = progress.add_task("", total=len(files))
        for path in files:
            progress.update(task, description=str(path))
            results.append(await launch_file(client, opts.settings, path, submission_id))
            progress.advance(task)
    counts = {k: sum(r.outcome == k for r in results) for k in ("started", "already_running")}
    counts["rejected"] = len(results) - counts["started"] - counts["already_running"]
    if opts.as_json:
        opts.emit_json({"results": [_result_json(opts, r) for r in results], "summary": counts})
    else:
        _print_start(opts, results, counts)
    return 0 if counts["rejected"] == 0 else EXIT_ERROR


def _result_json(opts: Options, r: LaunchResult) -> dict[str, Any]:
    return {
        "file": str(r.path),
        "outcome": r.outcome,
        "filing_id": r.filing_id,
        "web_ui": web_ui_link(opts.settings, r.filing_id) if r.filing_id else None,
        "error": r.error,
        "violations": [render.violation_json(v, r.document, opts.reveal) for v in r.violations],
    }


def _print_start(opts: Options, results: list[LaunchResult], counts: dict[str, int]) -> None:
    opts.out.print(render.start_table(results, opts.reveal))
    for r in results:
        if r.violations:
            opts.out.print(render.violations_table(r, opts.reveal))
        elif r.error:
            opts.say(f"{r.path}: {r.error}", style="red")
        elif r.filing_id:
            opts.say(f"{r.filing_id}: {web_ui_link(opts.settings, r.filing_id)}")
    opts.say(
        f"{counts['started']} started, {counts['already_running']} already running, {counts['rejected']} rejected",
        style="bold",
    )


@command(app, rich_help_panel=PANEL)
async def example(opts: Options, file: Annotated[Path, typer.Argument(metavar="FILE.json")]) -> None:
    """Write a valid example application to start from."""
    application, text = example_document()
    file.write_text(text, encoding="utf-8")
    if opts.as_json:
        opts.emit_json({"file": str(file), "appid": application.appid})
    else:
        opts.say(f"wrote a valid example application to {file} (appid {application.appid})")


def _calendar(opts: Options) -> BusinessCalendar:
    try:
        return BusinessCalendar(opts.settings.calendar_path)
    except CalendarDataError as err:
        raise CliError(f"calendar data: {err}") from None


@command(calendar, "show")
async def calendar_show(opts: Options, year: Annotated[int, typer.Argument(min=1990, max=2200)]) -> None:
    """A year's public holidays and make-up working days, and where they come from."""
    cal = _calendar(opts)
    days = cal.year_days(year)
    if opts.as_json:
        opts.emit_json(
            {
                "year": year,
                "source": cal.source_of(year),
                "calendar_version": cal.version,
                "holidays": [d.day.isoformat() for d in days if not d.is_workday and d.day.weekday() < 5],
                "workdays": [d.day.isoformat() for d in days if d.is_workday and d.day.weekday() >= 5],
            }
        )
    else:
        opts.out.print(render.calendar_view(year, days, cal.version))
        opts.note(f"override files: {opts.settings.calendar_path}/<year>.json")


@command(calendar, "refresh")
async def calendar_refresh(opts: Options) -> None:
    """Tell every running filing with a provisional deadline to recompute it (`calendar_updated`)."""
    _calendar(opts)  # a broken override file here would break the worker's recomputation too
    client = await opts.client()
    query = build_query(opts.settings.task_queue, provisional=True)
    signalled, finished = [], []
    for row in await fetch_rows(client, query):
        try:
            await client.get_workflow_handle(row.filing_id, run_id=row.run_id).signal(
                "calendar_updated", m.CalendarUpdated()
            )
            signalled.append(row.filing_id)
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            finished.append(row.filing_id)  # it finished since the list was read
    if opts.as_json:
        opts.emit_json({"signalled": signalled, "finished_meanwhile": finished, "count": len(signalled)})
    else:
        opts.say(
            f"signalled calendar_updated to {len(signalled)} filing(s) with a provisional deadline"
            + (f" ({len(finished)} finished meanwhile)" if finished else "")
        )


#: §7 messages: name -> (kind, payload model, answer model).
MESSAGES: dict[str, tuple[str, type[BaseModel] | None, type[BaseModel] | None]] = {
    "platform_decision": ("signal", m.PlatformDecision, None),
    "province_decision": ("signal", m.ProvinceDecision, None),
    "calendar_updated": ("signal", m.CalendarUpdated, None),
    "verify_sms_code": ("update", m.SmsCodeEntry, m.SmsVerifyResult),
    "request_sms_resend": ("update", m.SmsResendRequest, m.SmsResendResult),
    "resubmit": ("update", m.Resubmission, m.ResubmitResult),
    "withdraw": ("update", m.WithdrawRequest, m.WithdrawResult),
    "status": ("query", None, m.FilingStatus),
}


def schemas() -> dict[str, Any]:
    """The application's and every §7 message's JSON Schema, keyed by message name."""

    def pair(kind: str, payload: type[BaseModel] | None, answer: type[BaseModel] | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": kind}
        if payload is not None:
            entry["payload"] = payload.model_json_schema(mode="validation")
        if answer is not None:
            entry["answer"] = answer.model_json_schema(mode="serialization")
        return entry

    return {
        "workflow": {
            "type": "FilingWorkflow",
            "id": "filing-<appid>",
            "result": m.FilingOutcome.model_json_schema(mode="serialization"),
        },
        "application": Application.model_json_schema(mode="validation"),
        "messages": {name: pair(*spec) for name, spec in MESSAGES.items()},
    }


@command(app, rich_help_panel=PANEL)
async def schema(opts: Options) -> None:
    """JSON Schemas of the application and of every §7 message, for integrators (always JSON)."""
    typer.echo(json.dumps(schemas(), ensure_ascii=False, indent=2))
