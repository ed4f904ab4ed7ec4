"""The applicant's commands (follow a filing, ask for a new code, resubmit, withdraw) and the
verification site's (enter the 12381 code).

Bad input is refused before anything is sent. What the filing itself must judge (its
stage, whether a code is waiting) it answers, with why; a refused message leaves no
trace. Nothing is checked here that the call's own effect would change, so running the
same command again after a timeout sends the same call and gets the first answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli import parsing, render
from cli.door import Refused
from cli.idempotency import body_bytes, call_key, corrected_attempt, filing_anchor
from cli.options import EXIT_ERROR, CliError, Options, command
from cli.privacy import shown_mobile
from filing.masking import mask_mobile
from filing.messages import (
    FilingStatus,
    Resubmission,
    ResubmitResult,
    SmsCodeEntry,
    SmsResendResult,
    SmsVerifyResult,
    WithdrawResult,
)
from service.principal import Role

app = typer.Typer()
sms = typer.Typer(
    no_args_is_help=True, help="SMS verification (工信部短信核验): enter the 12381 code, ask for a resend."
)

PANEL = "Applicant"
R = Role
#: Who may read a filing's status, in the order their saved tokens are tried.
READERS = (R.APPLICANT, R.OPERATOR, R.PLATFORM_REVIEWER, R.PROVINCE_REVIEWER)
FilingArg = Annotated[str, typer.Argument(metavar="ID", help="filing-wx… or the bare appid wx…", show_default=False)]
Mobile = Annotated[
    str, typer.Option("--mobile", metavar="MOBILE", help="The verifier's mobile, as in the application.")
]


def _masked_only(opts: Options) -> None:
    if opts.reveal and not opts.as_json:
        opts.note("note: the filing's status is masked at the source (SPEC §9); --reveal has nothing to unmask here "
                  "(`filings application` shows a reviewer or the applicant the application itself)")


def _target(filing: str) -> tuple[str, str]:
    filing_id = parsing.filing_id(filing)
    return filing_id, parsing.appid_of(filing_id)


@command(app, rich_help_panel=PANEL, roles=READERS)
async def status(opts: Options, filing: FilingArg) -> None:
    """Where a filing stands: stage, attempt, deadline, SLA, SMS per verifier, last return, filing number."""
    filing_id, appid = _target(filing)
    current = await opts.door().status(appid)
    if opts.as_json:
        opts.emit_json(current.model_dump(mode="json"))
        return
    _masked_only(opts)
    link = None
    if opts.direct:
        from engine.batch import web_ui_link

        link = web_ui_link(opts.settings, filing_id)
    opts.out.print(render.status_view(current, link, datetime.now(UTC)))


@command(app, rich_help_panel=PANEL, roles=READERS)
async def timeline(opts: Options, filing: FilingArg) -> None:
    """Everything that happened to a filing, ignored decisions included (L9)."""
    filing_id, appid = _target(filing)
    current = await opts.door().status(appid)
    if opts.as_json:
        opts.emit_json([e.model_dump(mode="json") for e in current.timeline])
        return
    _masked_only(opts)
    opts.out.print(render.timeline_table(filing_id, current.timeline))


def _require_verifier(current: FilingStatus, mobile: str, action: str, reveal: bool) -> None:
    """The mobile must look like one of the filing's verifiers (the status shows masked
    mobiles; the filing has the last word). Who the verifiers are never changes."""
    verifiers = [v.mobile for v in current.sms.verifiers] if current.sms else []
    if verifiers and mask_mobile(mobile) not in verifiers:
        raise CliError(
            f"cannot {action}: {shown_mobile(mobile, reveal)} is not a verifier of {current.filing_id} "
            f"(verifiers: {', '.join(verifiers)}); nothing was sent"
        )


def _refused(err: Refused) -> CliError:
    return CliError(f"refused: {err.why}")


#: `sms verify` without the filing: the verifier has the 12381 SMS, not the AppID.
MaybeFiling = Annotated[
    str | None,
    typer.Argument(metavar="ID", show_default=False,
                   help="filing-wx… or the bare appid wx…; leave it out to find the filing by the mobile "
                        "(the one whose code was sent to it and is still open, POST /v1/sms/verify)"),
]


@command(sms, roles=(R.VERIFICATION_SITE,), mutating=True)
async def verify(
    opts: Options,
    mobile: Mobile,
    code: Annotated[str, typer.Option("--code", metavar="CODE", help="The 6-digit code from 12381.")],
    id_last6: Annotated[
        str, typer.Option("--id-last6", metavar="XXXXXX", help="Last 6 characters of the verifier's ID document.")
    ],
    filing: MaybeFiling = None,
) -> int:
    """Enter a verifier's 12381 code (what the MIIT site sends); at most 5 wrong entries per code.
    Without ID the filing service finds the filing by the mobile, as the MIIT site does."""
    entry = parsing.sms_entry(mobile, code, id_last6)
    if filing is None:
        return await _verify_by_mobile(opts, entry)
    filing_id, appid = _target(filing)
    # The verification site may not read the filing: the key is the entry itself. A code is
    # random and used once, so the same entry again is this entry again.
    key = opts.key(call_key("sms verify", appid, body_bytes(entry)))
    try:
        answer = await opts.door().update(appid, "verify_sms_code", entry, SmsVerifyResult, key)
    except Refused as err:
        raise _refused(err) from None
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


async def _verify_by_mobile(opts: Options, entry: SmsCodeEntry) -> int:
    """The code sent to the service's `POST /v1/sms/verify`; its answer names no filing."""
    key = opts.key(call_key("sms verify", None, body_bytes(entry)))
    answer = await opts.door().verify_by_mobile(entry, key)
    who = shown_mobile(entry.mobile, opts.reveal)
    if opts.as_json:
        opts.emit_json({"mobile": who, **answer.model_dump(mode="json")})
    elif answer.result == "verified":
        opts.say(f"verified {who}; " + ("all verifiers done: the filing goes to provincial review"
                                        if answer.all_verified else "waiting for the other verifier"), style="green")
    elif answer.result == "wrong_code":
        opts.say(f"wrong code or ID digits for {who}: {answer.attempts_left} attempt(s) left on this code", "red")
    elif answer.result == "no_valid_code":
        opts.say(f"no valid code for {who}: the applicant asks for one with `filings sms resend wx… --mobile …`", "red")
    else:
        opts.say(f"no filing waits for a code sent to {who} (none was sent, or it is verified or closed)", "red")
    return 0 if answer.result == "verified" else EXIT_ERROR


@command(sms, roles=(R.APPLICANT,), mutating=True)
async def resend(opts: Options, filing: FilingArg, mobile: Mobile) -> int:
    """Ask for a new code (one resend per verifier; the 24 h window is not extended)."""
    request = parsing.resend_request(mobile)
    filing_id, appid = _target(filing)
    door = opts.door()
    current = await door.status(appid)
    _require_verifier(current, mobile, "resend a code", opts.reveal)
    key = opts.key(call_key("sms resend", appid, body_bytes(request), filing_anchor(current), current.attempt))
    who = shown_mobile(mobile, opts.reveal)
    try:
        answer = await door.update(appid, "request_sms_resend", request, SmsResendResult, key)
    except Refused as err:
        raise CliError(f"not sent to {who}: {err.why}") from None
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, "mobile": who, **answer.model_dump(mode="json")})
    elif answer.sent:
        opts.say(f"a new code was sent to {who}; {answer.resends_left} resend(s) left", style="green")
    else:
        opts.say(f"not sent to {who}: {answer.reason}", style="red")
    return 0 if answer.sent else EXIT_ERROR


@command(app, rich_help_panel=PANEL, roles=(R.APPLICANT,), mutating=True)
async def resubmit(
    opts: Options,
    filing: FilingArg,
    file: Annotated[Path, typer.Argument(metavar="FILE.json", help="The corrected application.")],
) -> None:
    """Send a corrected application for a RETURNED filing (checked by R1–R8 first)."""
    from engine.batch import read_application  # the checks (R1–R10): loaded by the commands that run them

    filing_id, appid = _target(filing)
    checked = read_application(file)
    if checked.outcome == "unreadable":
        raise CliError(f"{file}: {checked.error}")
    if checked.cancellation is not None:
        raise CliError(f"{file} is a cancellation request: a cancellation cannot be resubmitted; nothing was sent")
    if checked.outcome == "rejected":
        if opts.as_json:
            opts.emit_json({
                "filing_id": filing_id,
                "resubmitted": False,
                "violations": [render.violation_json(v, checked.document, opts.reveal) for v in checked.violations],
            })
        else:
            opts.err.print(render.violations_table(checked, opts.reveal))
        raise CliError(f"{file} breaks {len(checked.violations)} rule(s); nothing was sent")
    assert checked.application is not None
    if checked.application.appid != appid:
        raise CliError(
            f"{file} is for {checked.application.appid}, not {filing_id}: a new appid is a new filing "
            "(filings start); nothing was sent"
        )
    door = opts.door()
    current = await door.status(appid)
    resubmission = Resubmission(application=checked.application)
    key = opts.key(call_key("resubmit", appid, body_bytes(resubmission), filing_anchor(current),
                            corrected_attempt(current)))
    try:
        answer = await door.update(appid, "resubmit", resubmission, ResubmitResult, key)
    except Refused as err:
        raise _refused(err) from None
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, "resubmitted": True, **answer.model_dump(mode="json")})
    else:
        opts.say(f"resubmitted {filing_id}: attempt {answer.attempt} goes to platform review", style="green")


@command(app, rich_help_panel=PANEL, roles=(R.APPLICANT,), mutating=True)
async def withdraw(
    opts: Options,
    filing: FilingArg,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why the applicant withdraws.")],
) -> None:
    """Withdraw a filing (SUBMITTED, PLATFORM_REVIEW before approval, RETURNED)."""
    request = parsing.withdraw_request(reason)
    filing_id, appid = _target(filing)
    door = opts.door()
    current = await door.status(appid)
    key = opts.key(call_key("withdraw", appid, body_bytes(request), filing_anchor(current)))
    try:
        answer = await door.update(appid, "withdraw", request, WithdrawResult, key)
    except Refused as err:
        raise _refused(err) from None
    if opts.as_json:
        opts.emit_json({"filing_id": filing_id, **answer.model_dump(mode="json")})
    else:
        opts.say(f"{filing_id} is {answer.stage.value}", style="green")
