"""The applicant's commands: follow a filing, enter the SMS code, resubmit, withdraw.

Each one reads `status` first and refuses, naming the stage, when the act cannot apply;
bad input is refused before anything is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli import parsing, render
from cli.options import EXIT_ERROR, CliError, Options, command
from cli.privacy import shown_mobile
from cli.remote import fetch_status, require_stage, update
from engine.batch import read_application, web_ui_link
from filing.masking import mask_mobile
from filing.messages import (
    WITHDRAWABLE,
    FilingStatus,
    Resubmission,
    ResubmitResult,
    SmsResendResult,
    SmsVerifyResult,
    Stage,
    WithdrawResult,
)

app = typer.Typer()
sms = typer.Typer(
    no_args_is_help=True, help="SMS verification (工信部短信核验): enter the 12381 code, ask for a resend."
)

PANEL = "Applicant"
FilingArg = Annotated[str, typer.Argument(metavar="ID", help="filing-wx… or the bare appid wx…", show_default=False)]
Mobile = Annotated[
    str, typer.Option("--mobile", metavar="MOBILE", help="The verifier's mobile, as in the application.")
]


def _masked_only(opts: Options) -> None:
    if opts.reveal and not opts.as_json:
        opts.note("note: the workflow publishes masked data only (SPEC §9); --reveal has nothing to unmask here")


@command(app, rich_help_panel=PANEL)
async def status(opts: Options, filing: FilingArg) -> None:
    """Where a filing stands: stage, attempt, deadline, SLA, SMS per verifier, last return, filing number."""
    filing_id = parsing.filing_id(filing)
    current = await fetch_status(await opts.client(), filing_id)
    if opts.as_json:
        opts.emit_json(current.model_dump(mode="json"))
        return
    _masked_only(opts)
    opts.out.print(render.status_view(current, web_ui_link(opts.settings, filing_id), datetime.now(UTC)))


@command(app, rich_help_panel=PANEL)
async def timeline(opts: Options, filing: FilingArg) -> None:
    """Everything that happened to a filing, ignored decisions included (L9)."""
    filing_id = parsing.filing_id(filing)
    current = await fetch_status(await opts.client(), filing_id)
    if opts.as_json:
        opts.emit_json([e.model_dump(mode="json") for e in current.timeline])
        return
    _masked_only(opts)
    opts.out.print(render.timeline_table(filing_id, current.timeline))


async def _sms_status(opts: Options, filing_id: str, mobile: str, action: str) -> FilingStatus:
    """Refuse before sending unless a code is awaited and `mobile` looks like one of the
    verifiers (the status shows masked mobiles; the workflow's validator has the last word)."""
    current = await fetch_status(await opts.client(), filing_id)
    require_stage(current, Stage.SMS_VERIFICATION, action)
    verifiers = [v.mobile for v in current.sms.verifiers] if current.sms else []
    if mask_mobile(mobile) not in verifiers:
        raise CliError(
            f"cannot {action}: {shown_mobile(mobile, opts.reveal)} is not a verifier of {filing_id} "
            f"(verifiers: {', '.join(verifiers) or 'none'}); nothing was sent"
        )
    return current


@command(sms)
async def verify(
    opts: Options,
    filing: FilingArg,
    mobile: Mobile,
    code: Annotated[str, typer.Option("--code", metavar="CODE", help="The 6-digit code from 12381.")],
    id_last6: Annotated[
        str, typer.Option("--id-last6", metavar="XXXXXX", help="Last 6 characters of the verifier's ID document.")
    ],
) -> int:
    """Enter a verifier's 12381 code (as on the MIIT site); at most 5 wrong entries per code."""
    entry = parsing.sms_entry(mobile, code, id_last6)
    filing_id = parsing.filing_id(filing)
    await _sms_status(opts, filing_id, mobile, "verify a code")
    answer = await update(await opts.client(), filing_id, "verify_sms_code", entry, SmsVerifyResult)
    who = shown_mobile(mobile, opts.reveal)
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, "mobile": who, **answer.model_dump(mode="json")})
    elif answer.result == "verified":
        more = (
            "all verifiers done: the filing goes to provincial review"
            if answer.all_verified
            else "waiting for the other verifier"
        )
        opts.say(f"verified {who}; {more}", style="green")
    elif answer.result == "wrong_code":
        opts.say(f"wrong code or ID digits for {who}: {answer.attempts_left} attempt(s) left on this code", "red")
    else:
        opts.say(f"no valid code for {who}: ask for one with `filings sms resend {filing} --mobile …`", "red")
    return 0 if answer.result == "verified" else EXIT_ERROR


@command(sms)
async def resend(opts: Options, filing: FilingArg, mobile: Mobile) -> int:
    """Ask for a new code (one resend per verifier; the 24 h window is not extended)."""
    request = parsing.resend_request(mobile)
    filing_id = parsing.filing_id(filing)
    await _sms_status(opts, filing_id, mobile, "resend a code")
    answer = await update(await opts.client(), filing_id, "request_sms_resend", request, SmsResendResult)
    who = shown_mobile(mobile, opts.reveal)
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, "mobile": who, **answer.model_dump(mode="json")})
    elif answer.sent:
        opts.say(f"a new code was sent to {who}; {answer.resends_left} resend(s) left", style="green")
    else:
        opts.say(f"not sent to {who}: {answer.reason}", style="red")
    return 0 if answer.sent else EXIT_ERROR


@command(app, rich_help_panel=PANEL)
async def resubmit(
    opts: Options,
    filing: FilingArg,
    file: Annotated[Path, typer.Argument(metavar="FILE.json", help="The corrected application.")],
) -> None:
    """Send a corrected application for a RETURNED filing (checked by R1–R8 first)."""
    filing_id = parsing.filing_id(filing)
    checked = read_application(file)
    if checked.outcome == "unreadable":
        raise CliError(f"{file}: {checked.error}")
    if checked.outcome == "rejected":
        if opts.as_json:
            opts.emit_json(
                {
                    "filing_id": filing_id,
                    "resubmitted": False,
                    "violations": [render.violation_json(v, checked.document, opts.reveal) for v in checked.violations],
                }
            )
        else:
            opts.err.print(render.violations_table(checked, opts.reveal))
        raise CliError(f"{file} breaks {len(checked.violations)} rule(s); nothing was sent")
    assert checked.application is not None
    if checked.application.appid != parsing.appid_of(filing_id):
        raise CliError(
            f"{file} is for {checked.application.appid}, not {filing_id}: a new appid is a new filing "
            "(filings start); nothing was sent"
        )
    current = await fetch_status(await opts.client(), filing_id)
    require_stage(current, Stage.RETURNED, "resubmit")
    answer = await update(
        await opts.client(), filing_id, "resubmit", Resubmission(application=checked.application), ResubmitResult
    )
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, "resubmitted": True, **answer.model_dump(mode="json")})
    else:
        opts.say(f"resubmitted {filing_id}: attempt {answer.attempt} goes to platform review", style="green")


@command(app, rich_help_panel=PANEL)
async def withdraw(
    opts: Options,
    filing: FilingArg,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why the applicant withdraws.")],
) -> None:
    """Withdraw a filing (SUBMITTED, PLATFORM_REVIEW before approval, RETURNED)."""
    request = parsing.withdraw_request(reason)
    filing_id = parsing.filing_id(filing)
    current = await fetch_status(await opts.client(), filing_id)
    require_stage(current, WITHDRAWABLE, "withdraw")
    answer = await update(await opts.client(), filing_id, "withdraw", request, WithdrawResult)
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, **answer.model_dump(mode="json")})
    else:
        opts.say(f"{filing_id} is {answer.stage.value}", style="green")
