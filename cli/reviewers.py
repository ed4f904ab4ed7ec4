"""The reviewers' commands: a queue, approve, reject (SPEC L2, L4).

A decision is checked here first (stage, reasons, filing number), then signalled and
confirmed against the filing's timeline (`cli.decisions`).
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from temporalio.client import Client

from cli import parsing, render
from cli.decisions import Signal, signal_and_confirm
from cli.options import CliError, Options, command
from cli.remote import fetch_status, require_stage
from cli.visibility import build_query, fetch_rows, oldest_deadline_first
from filing.messages import Decision, FilingStatus, PlatformDecision, ProvinceDecision, Stage
from filing.models import FilingKind
from filing.provinces import province_by_prefix
from workflows import search_attributes as sa

platform = typer.Typer(no_args_is_help=True, help="Platform reviewer (平台初审): queue, approve, reject with reasons.")
province = typer.Typer(
    no_args_is_help=True, help="Provincial reviewer (通管局审核): queue, approve with the number, reject."
)

FilingArg = Annotated[str, typer.Argument(metavar="ID", help="filing-wx… or the bare appid wx…", show_default=False)]
Reviewer = Annotated[
    str | None,
    typer.Option(
        "--reviewer", envvar="FILINGS_REVIEWER", metavar="ID", help="Your reviewer id (default: your login name)."
    ),
]
Wait = Annotated[
    float,
    typer.Option(
        "--wait", min=0, metavar="SECONDS", help="Seconds to wait for the filing to confirm the decision took effect."
    ),
]
Reasons = Annotated[
    list[str] | None,
    typer.Option(
        "--reason",
        metavar="FIELD:ERROR[:SUGGESTION]",
        help="e.g. 'subject.address:地址不详细:请填写门牌号'; repeatable.",
    ),
]
Limit = Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most this many.")]


async def _queue(opts: Options, stage: Stage, provinces: list[str], limit: int, title: str) -> None:
    """Running filings in `stage`, oldest deadline first, overdue marked."""
    now = datetime.now(UTC)
    query = build_query(opts.settings.task_queue, stages=[stage], provinces=provinces, running=True, now=now)
    rows = oldest_deadline_first(await fetch_rows(await opts.client(), query))
    if opts.as_json:
        opts.emit_json([r.as_json(now) for r in rows[:limit]])
        return
    overdue = sum(r.overdue(now) for r in rows)
    opts.out.print(render.rows_table(rows[:limit], now, f"{title}: {len(rows)} waiting, {overdue} overdue"))


async def _decide(
    opts: Options,
    filing: str,
    signal: Signal,
    stage: Stage,
    decision: PlatformDecision | ProvinceDecision,
    wait: float,
    check: Callable[[Client, FilingStatus], Awaitable[None]] | None = None,
) -> int:
    filing_id = parsing.filing_id(filing)
    client = await opts.client()
    before = await fetch_status(client, filing_id)
    require_stage(before, stage, f"{decision.decision.value} ({signal})")
    if check is not None:
        await check(client, before)
    confirmed = await signal_and_confirm(client, before, signal, decision, wait)
    if opts.as_json:
        opts.emit_json(confirmed.as_json())
    elif confirmed.outcome == "applied":
        opts.say(
            f"applied: {confirmed.decision} {confirmed.detail} on {filing_id}; now {confirmed.stage.value}",
            style="green",
        )
    elif confirmed.outcome == "ignored":
        opts.err.print(f"ignored: {confirmed.detail}", style="yellow", soft_wrap=True, markup=False)
    else:
        opts.err.print(
            f"sent, not yet confirmed after {wait:g}s: check `filings timeline {filing_id}`",
            style="yellow",
            soft_wrap=True,
            markup=False,
        )
    return confirmed.exit_code


def _reviewer(given: str | None) -> str:
    return given or getpass.getuser()


@command(platform, "queue")
async def platform_queue(opts: Options, limit: Limit = 100) -> None:
    """Filings waiting for platform review, oldest deadline first, overdue marked."""
    await _queue(opts, Stage.PLATFORM_REVIEW, [], limit, "platform review queue")


@command(platform, "approve")
async def platform_approve(opts: Options, filing: FilingArg, reviewer: Reviewer = None, wait: Wait = 10.0) -> int:
    """Approve a filing at platform review: it goes to SMS verification."""
    decision = PlatformDecision(decision=Decision.APPROVE, reviewer=_reviewer(reviewer))
    return await _decide(opts, filing, "platform_decision", Stage.PLATFORM_REVIEW, decision, wait)


@command(platform, "reject")
async def platform_reject(
    opts: Options, filing: FilingArg, reason: Reasons = None, reviewer: Reviewer = None, wait: Wait = 10.0
) -> int:
    """Return a filing to the applicant with per-field reasons."""
    decision = PlatformDecision(decision=Decision.REJECT, reviewer=_reviewer(reviewer), reasons=parsing.reasons(reason))
    return await _decide(opts, filing, "platform_decision", Stage.PLATFORM_REVIEW, decision, wait)


@command(province, "queue")
async def province_queue(
    opts: Options,
    province_: Annotated[
        str | None, typer.Option("--province", metavar="PROVINCE", help="冀, 河北 or 河北省 (default: every province).")
    ] = None,
    limit: Limit = 100,
) -> None:
    """Filings waiting for provincial review, oldest deadline first, overdue marked."""
    provinces = [parsing.province_prefix(province_)] if province_ else []
    await _queue(opts, Stage.PROVINCIAL_REVIEW, provinces, limit, f"provincial review queue {''.join(provinces)}")


@command(province, "approve")
async def province_approve(
    opts: Options,
    filing: FilingArg,
    number: Annotated[
        str | None,
        typer.Option(
            "--number",
            metavar="NUMBER",
            help="The issued filing number, e.g. 冀ICP备18021892号-1X (a CHANGE or cancellation may omit it).",
        ),
    ] = None,
    reviewer: Reviewer = None,
    wait: Wait = 10.0,
) -> int:
    """Approve a filing (备案成功), issuing its filing number."""
    parsed = parsing.filing_number(number) if number is not None else None

    async def check(client: Client, before: FilingStatus) -> None:
        if parsed is None:
            if before.kind is FilingKind.NEW:
                raise CliError(
                    "approving a NEW filing issues its number: give --number 冀ICP备…号-1X; nothing was sent"
                )
            return
        description = await client.get_workflow_handle(before.filing_id).describe()
        prefix = description.typed_search_attributes.get(sa.PROVINCE)
        if prefix and parsed.province.prefix != prefix:
            where = province_by_prefix(prefix)
            raise CliError(
                f"filing number {parsed.text} is of {parsed.province.name}, the subject is in "
                f"{where.name if where else prefix}; nothing was sent"
            )

    decision = ProvinceDecision(
        decision=Decision.APPROVE, reviewer=_reviewer(reviewer), filing_number=parsed.text if parsed else None
    )
    return await _decide(opts, filing, "province_decision", Stage.PROVINCIAL_REVIEW, decision, wait, check)


@command(province, "reject")
async def province_reject(
    opts: Options, filing: FilingArg, reason: Reasons = None, reviewer: Reviewer = None, wait: Wait = 10.0
) -> int:
    """Return a filing to the applicant with reasons."""
    decision = ProvinceDecision(decision=Decision.REJECT, reviewer=_reviewer(reviewer), reasons=parsing.reasons(reason))
    return await _decide(opts, filing, "province_decision", Stage.PROVINCIAL_REVIEW, decision, wait)
