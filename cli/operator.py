"""The operator's and integrator's commands: list, start, example, calendar, schema."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel

from cli import parsing, render
from cli.door import Filters, MaterialRefused
from cli.idempotency import body_bytes, call_key, fresh_key, start_context
from cli.options import (
    EXIT_ERROR,
    EXIT_UNCONFIRMED,
    EXIT_USAGE,
    CliError,
    Options,
    command,
)
from filing import messages as m
from filing.calendar import BusinessCalendar, CalendarDataError, load_override
from filing.models import Application, FilingKind
from service.principal import Role

if TYPE_CHECKING:
    from engine.batch import LaunchResult

# What only some commands need is imported in them (issue 21: `filings` starts many times a
# minute): the start's checks and the example (engine.batch), the progress bar.

R = Role

app = typer.Typer()
calendar = typer.Typer(no_args_is_help=True, help="The business calendar (SPEC §5): show a year, import overrides, refresh deadlines.")

PANEL = "Operator and integrator"


@command(app, "list", rich_help_panel=PANEL, roles=(R.OPERATOR, R.PLATFORM_REVIEWER, R.PROVINCE_REVIEWER))
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
    """Filings filtered on the §7 search attributes, each once, oldest deadline first."""
    now = datetime.now(UTC)
    filters = Filters(stages=stage or [], provinces=[parsing.province_prefix(p) for p in province or []],
                      kinds=kind or [], overdue=overdue, provisional=provisional, running=running)
    found = await opts.door().rows(filters, limit)
    if opts.as_json:
        opts.emit_json([r.as_json(now) for r in found.rows])
        return
    shown = f"{len(found.rows)} of {found.total}" if found.total > len(found.rows) else str(len(found.rows))
    opts.out.print(render.rows_table(found.rows, now, f"{shown} filing(s)"))
    if found.query:
        opts.note(f"query: {found.query}")


async def launch(opts: Options, checked: LaunchResult, submission_id: str | None) -> tuple[LaunchResult, bool]:
    """Start one checked file or request through the door; (result, whether the answer was lost)."""
    if not checked.ok:
        return checked, False
    request = checked.application or checked.cancellation
    assert request is not None
    door = opts.door()
    # A start re-run after a timeout must derive the same key: what it follows is the appid's
    # filing only when that one has finished (then this is a new filing, not a repeat).
    current = None if door.direct else await door.find(request.appid)
    key = opts.key(call_key("start", request.appid, body_bytes(request), start_context(current)))
    try:
        return await door.start(checked, key, submission_id), False
    except CliError as err:
        if err.code != EXIT_UNCONFIRMED:
            raise
        return dataclasses.replace(checked, outcome="refused", error=err.message), True


def summary(opts: Options, results: list[LaunchResult], lost: int) -> int:
    counts = {k: sum(r.outcome == k for r in results) for k in ("started", "already_running")}
    counts["rejected"] = len(results) - counts["started"] - counts["already_running"]
    if opts.as_json:
        opts.emit_json({"results": [_result_json(opts, r) for r in results], "summary": counts})
    else:
        _print_start(opts, results, counts)
    if counts["rejected"] == 0:
        return 0
    return EXIT_UNCONFIRMED if lost == counts["rejected"] else EXIT_ERROR


@command(app, rich_help_panel=PANEL, roles=(R.APPLICANT, R.OPERATOR), mutating=True)
async def start(
    opts: Options,
    files: Annotated[list[Path], typer.Argument(metavar="FILE.json...", help="Application files.", show_default=False)],
    submission_id: Annotated[
        str | None,
        typer.Option(
            "--submission-id",
            metavar="ID",
            help="Direct mode: the caller's submission id (one file only; default: derived from its content).",
        ),
    ] = None,
) -> int:
    """Check and start filings from application (or cancellation request) files, with a summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from engine.batch import read_application

    if submission_id and len(files) > 1:
        raise CliError("--submission-id names one submission: give one file with it", EXIT_USAGE)
    if opts.idempotency_key and len(files) > 1:
        raise CliError("--idempotency-key names one call: give one file with it", EXIT_USAGE)
    results: list[LaunchResult] = []
    lost = 0
    columns = (TextColumn("starting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=opts.err, transient=True, disable=opts.as_json or len(files) < 2) as progress:
        task = progress.add_task("", total=len(files))
        for path in files:
            progress.update(task, description=str(path))
            result, unanswered = await launch(opts, read_application(path), submission_id)
            results.append(result)
            lost += unanswered
            progress.advance(task)
    return summary(opts, results, lost)


def _result_json(opts: Options, r: LaunchResult) -> dict[str, Any]:
    from engine.batch import web_ui_link

    return {
        "file": str(r.path),
        "outcome": r.outcome,
        "filing_id": r.filing_id,
        "web_ui": web_ui_link(opts.settings, r.filing_id) if r.filing_id and opts.direct else None,
        "error": r.error,
        "violations": [render.violation_json(v, r.document, opts.reveal) for v in r.violations],
    }


def _print_start(opts: Options, results: list[LaunchResult], counts: dict[str, int]) -> None:
    from engine.batch import web_ui_link

    opts.out.print(render.start_table(results, opts.reveal))
    for r in results:
        if r.violations:
            opts.out.print(render.violations_table(r, opts.reveal))
        elif r.error:
            opts.say(f"{r.path}: {r.error}", style="red")
        elif r.filing_id and opts.direct:
            opts.say(f"{r.filing_id}: {web_ui_link(opts.settings, r.filing_id)}")
    opts.say(
        f"{counts['started']} started, {counts['already_running']} already running, {counts['rejected']} rejected",
        style="bold",
    )


async def store_example(opts: Options, appid: str | None = None) -> tuple[Application, str, set[str]]:
    """The example application and its text, its scans stored first through the door (the
    service, or the store): a file is written only once everything it names is there."""
    from engine.batch import example_document
    from filing.examples import example_materials

    application, text = example_document(appid=appid)
    named = {sha256 for _, sha256 in application.materials()}
    door = opts.door()
    for sha256, content in example_materials().items():
        if sha256 in named:
            try:
                await door.upload(content, call_key("materials add", None, sha256.encode()))
            except MaterialRefused as err:  # the example's own scans: a broken build, not user input
                raise CliError(f"the example's material {sha256} was refused: {err.message_en}") from None
    return application, text, named


@command(app, rich_help_panel=PANEL, roles=(R.APPLICANT, R.OPERATOR))
async def example(
    opts: Options,
    file: Annotated[Path, typer.Argument(metavar="FILE.json")],
    appid: Annotated[
        str | None,
        typer.Option("--appid", metavar="APPID",
                     help="Another mini-program of the same company (default wx1234567890abcdef)."),
    ] = None,
) -> None:
    """Write a valid example application, its scans stored first, so that `filings start` takes it as it is."""
    chosen = None if appid is None else parsing.appid_of(parsing.filing_id(appid))
    application, text, named = await store_example(opts, chosen)
    file.write_text(text, encoding="utf-8")
    where = "the material store" if opts.direct else "the filing service"
    if opts.as_json:
        opts.emit_json({"file": str(file), "appid": application.appid, "materials": sorted(named)})
    else:
        opts.say(f"wrote a valid example application to {file} (appid {application.appid}); "
                 f"its {len(named)} materials are in {where}")


def _calendar(opts: Options) -> BusinessCalendar:
    """The calendar as every worker reads it: official data plus the registry's overrides."""
    from registry.calendar_overrides import CalendarOverrideStore

    store = CalendarOverrideStore(opts.settings.registry_database_url)
    try:
        return BusinessCalendar(store)
    except (CalendarDataError, RuntimeError) as err:  # RegistryUnavailable, SchemaNotCurrent
        raise CliError(f"calendar data: {err}") from None
    finally:
        store.close()


@command(calendar, "show")
async def calendar_show(opts: Options, year: Annotated[int, typer.Argument(min=1990, max=2200)]) -> None:
    """A year's public holidays and make-up working days, and where they come from (the registry database)."""
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
        opts.note("overrides: imported into the registry database with `filings calendar import FILE`")


@command(calendar, "import")
async def calendar_import(
    opts: Options,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", exists=True, dir_okay=False, readable=True,
                                                help="<year>.json files (README, The business calendar).")],
) -> None:
    """Validate yearly override files and write them to the registry database, all or none; every worker reads them."""
    from registry.calendar_overrides import CalendarOverrideStore

    overrides, problems = [], []
    for file in files:
        try:
            overrides.append(load_override(file))
        except CalendarDataError as err:
            problems.append(str(err))
    if problems:
        raise CliError("calendar data: " + "; ".join(problems) + "; nothing was imported")
    store = CalendarOverrideStore(opts.settings.registry_database_url)
    try:
        done = store.import_overrides(overrides)
        version = BusinessCalendar(store).version
    except (CalendarDataError, RuntimeError) as err:  # RegistryUnavailable, SchemaNotCurrent
        raise CliError(f"calendar data: {err}; nothing was imported") from None
    finally:
        store.close()
    if opts.as_json:
        opts.emit_json({"imported": [dataclasses.asdict(d) for d in done], "calendar_version": version})
        return
    for d in done:
        opts.say(f"{d.year}: {d.outcome} (version {d.version})")
    opts.say(f"calendar {version}; every worker computes new deadlines on it now")
    opts.note("run `filings calendar refresh` so running filings with a provisional deadline recompute it")


@command(calendar, "refresh", roles=(R.OPERATOR,), mutating=True)
async def calendar_refresh(opts: Options) -> None:
    """Load the imported overrides, then tell every running filing with a provisional deadline to recompute it."""
    # Each refresh is a new call (repeating one is harmless): a fresh key unless one is given.
    refreshed = await opts.door().refresh_calendar(opts.key(fresh_key("calendar refresh")))
    if opts.as_json:
        opts.emit_json({**refreshed.model_dump(mode="json"), "count": refreshed.signalled})
    else:
        opts.say(
            f"signalled calendar_updated to {refreshed.signalled} filing(s) with a provisional deadline"
            + (f" ({len(refreshed.finished_meanwhile)} finished meanwhile)" if refreshed.finished_meanwhile else "")
            + f"; calendar {refreshed.calendar_version}"
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
    "decide_platform": ("update", m.PlatformDecision, m.DecisionResult),
    "decide_province": ("update", m.ProvinceDecision, m.DecisionResult),
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
