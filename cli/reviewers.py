"""The reviewers' commands: a queue, the application under review, approve, reject (SPEC L2,
L4), and the provincial reviewer's next free filing number.

A decision is answered at once by the filing (the `decide_platform` / `decide_province`
update, through the service or directly): applied (exit 0), or not applied with why (exit
3: out of turn, a stale attempt, a number the registry refuses; L8, L9). It names the
attempt the reviewer saw, so a decision overtaken by a resubmission is not applied to an
attempt nobody reviewed. Through the service the reviewer recorded is the token's `sub`.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer

from cli import parsing, render
from cli.door import Desk, Filters
from cli.idempotency import body_bytes, call_key, filing_anchor
from cli.options import EXIT_NOT_APPLIED, CliError, Options, command
from engine.visibility import oldest_deadline_first
from filing.messages import (
    Decision,
    FilingStatus,
    PlatformDecision,
    ProvinceDecision,
    Stage,
)
from filing.models import FilingKind
from filing.provinces import province_by_prefix
from service.principal import Role

platform = typer.Typer(no_args_is_help=True, help="Platform reviewer (平台初审): queue, approve, reject with reasons.")
province = typer.Typer(
    no_args_is_help=True, help="Provincial reviewer (通管局审核): queue, next number, approve with it, reject."
)

R = Role
FilingArg = Annotated[str, typer.Argument(metavar="ID", help="filing-wx… or the bare appid wx…", show_default=False)]
Reviewer = Annotated[
    str | None,
    typer.Option(
        "--reviewer", envvar="FILINGS_REVIEWER", metavar="ID",
        help="Direct mode: your reviewer id (default: your login name). Through the service it is your token's sub.",
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
    found = await opts.door().rows(Filters(stages=[stage], provinces=provinces, running=True), limit)
    rows = oldest_deadline_first(found.rows)
    if opts.as_json:
        opts.emit_json([r.as_json(now) for r in rows])
        return
    overdue = sum(r.overdue(now) for r in rows)
    opts.out.print(render.rows_table(rows, now, f"{title}: {found.total} waiting, {overdue} overdue"))


def _reviewer(opts: Options, given: str | None) -> str:
    """Who the decision records: in direct mode `--reviewer` (or the login name); through the
    service the token's `sub`, whatever is given here."""
    if opts.direct:
        return given or getpass.getuser()
    sub = opts.token().sub or "?"
    if given and given != sub:
        opts.note(f"note: the service records your token's sub ({sub}) as the reviewer; --reviewer is for --direct")
    return sub


async def _decide(opts: Options, filing: str, desk: Desk, decision: PlatformDecision | ProvinceDecision,
                  check: FilingStatus | None = None) -> int:
    filing_id = parsing.filing_id(filing)
    appid = parsing.appid_of(filing_id)
    door = opts.door()
    before = check or await door.status(appid)
    decision = decision.model_copy(update={"attempt": before.attempt})
    logical = body_bytes(decision.model_dump(mode="json", exclude={"reviewer"}, exclude_none=True))
    key = opts.key(call_key(f"{desk} {decision.decision.value}", appid, logical, filing_anchor(before),
                            before.attempt, decision.reviewer if opts.direct else ""))
    result = await door.decide(appid, desk, decision, key, before)
    issued = desk == "province" and decision.decision is Decision.APPROVE and result.filing_number
    number = f" {result.filing_number}" if issued else ""
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, "desk": desk, "decision": decision.decision.value,
                        "reviewer": decision.reviewer, **result.model_dump(mode="json")})
    elif result.applied:
        moved = _consequence(desk, decision.decision, result.stage)
        opts.say(f"applied: {decision.decision.value}{number} by {decision.reviewer} on {filing_id} "
                 f"(attempt {result.attempt}){moved}", style="green")
    else:
        opts.err.print(f"not applied: {result.why}", style="yellow", soft_wrap=True, markup=False)
    return 0 if result.applied else EXIT_NOT_APPLIED


def _consequence(desk: Desk, decision: Decision, stage: Stage) -> str:
    """What an applied decision does next (the answer comes as the filing takes it: a province
    approval once the registry recorded the number, before the stage moves)."""
    if stage.is_terminal:
        return f"; now {stage.value}"
    if decision is Decision.REJECT:
        return "; returned to the applicant"
    return "; now APPROVED" if desk == "province" else ""


@command(platform, "queue", roles=(R.PLATFORM_REVIEWER, R.OPERATOR))
async def platform_queue(opts: Options, limit: Limit = 100) -> None:
    """Filings waiting for platform review, oldest deadline first, overdue marked."""
    await _queue(opts, Stage.PLATFORM_REVIEW, [], limit, "platform review queue")


@command(platform, "approve", roles=(R.PLATFORM_REVIEWER,), mutating=True)
async def platform_approve(opts: Options, filing: FilingArg, reviewer: Reviewer = None) -> int:
    """Approve a filing at platform review: it goes to SMS verification."""
    parsing.filing_id(filing)  # a malformed id is refused before anything else
    decision = PlatformDecision(decision=Decision.APPROVE, reviewer=_reviewer(opts, reviewer))
    return await _decide(opts, filing, "platform", decision)


@command(platform, "reject", roles=(R.PLATFORM_REVIEWER,), mutating=True)
async def platform_reject(opts: Options, filing: FilingArg, reason: Reasons = None, reviewer: Reviewer = None) -> int:
    """Return a filing to the applicant with per-field reasons."""
    parsing.filing_id(filing)
    reasons = parsing.reasons(reason)
    decision = PlatformDecision(decision=Decision.REJECT, reviewer=_reviewer(opts, reviewer), reasons=reasons)
    return await _decide(opts, filing, "platform", decision)


@command(province, "queue", roles=(R.PROVINCE_REVIEWER, R.OPERATOR))
async def province_queue(
    opts: Options,
    province_: Annotated[
        str | None, typer.Option("--province", metavar="PROVINCE",
                                 help="冀, 河北 or 河北省 (default: every province, or your token's).")
    ] = None,
    limit: Limit = 100,
) -> None:
    """Filings waiting for provincial review, oldest deadline first, overdue marked."""
    provinces = [parsing.province_prefix(province_)] if province_ else []
    await _queue(opts, Stage.PROVINCIAL_REVIEW, provinces, limit, f"provincial review queue {''.join(provinces)}")


@command(province, "next-number", roles=(R.PROVINCE_REVIEWER,))
async def province_next_number(opts: Options, filing: FilingArg) -> None:
    """The next free service number under the filing's subject number (to approve with)."""
    filing_id = parsing.filing_id(filing)
    proposed = await opts.door().next_number(parsing.appid_of(filing_id))
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, **proposed.model_dump(mode="json")})
    elif proposed.number:
        opts.say(f"{proposed.number}  (next under {proposed.subject_number})")
    else:
        opts.say(f"no number to propose for {filing_id}: a new subject, so the province issues a subject number "
                 "and its first service number (…号-1X)")


@command(province, "approve", roles=(R.PROVINCE_REVIEWER,), mutating=True)
async def province_approve(
    opts: Options,
    filing: FilingArg,
    number: Annotated[
        str | None,
        typer.Option(
            "--number",
            metavar="NUMBER",
            help="The issued filing number, e.g. 冀ICP备18021892号-1X (a CHANGE or cancellation may omit it; "
                 "`filings province next-number` proposes it).",
        ),
    ] = None,
    reviewer: Reviewer = None,
) -> int:
    """Approve a filing (备案成功), issuing its filing number."""
    parsed = parsing.filing_number(number) if number is not None else None
    filing_id = parsing.filing_id(filing)
    who = _reviewer(opts, reviewer)
    before = await opts.door().status(parsing.appid_of(filing_id))
    if parsed is None and before.kind is FilingKind.NEW:
        raise CliError("approving a NEW filing issues its number: give --number 冀ICP备…号-1X "
                       "(`filings province next-number` proposes one); nothing was sent")
    if parsed is not None and before.province and parsed.province.prefix != before.province:
        where = province_by_prefix(before.province)
        raise CliError(
            f"filing number {parsed.text} is of {parsed.province.name}, the subject is in "
            f"{where.name if where else before.province}; nothing was sent"
        )
    decision = ProvinceDecision(decision=Decision.APPROVE, reviewer=who, filing_number=parsed.text if parsed else None)
    return await _decide(opts, filing, "province", decision, before)


@command(province, "reject", roles=(R.PROVINCE_REVIEWER,), mutating=True)
async def province_reject(opts: Options, filing: FilingArg, reason: Reasons = None, reviewer: Reviewer = None) -> int:
    """Return a filing to the applicant with reasons."""
    parsing.filing_id(filing)
    reasons = parsing.reasons(reason)
    decision = ProvinceDecision(decision=Decision.REJECT, reviewer=_reviewer(opts, reviewer), reasons=reasons)
    return await _decide(opts, filing, "province", decision)
