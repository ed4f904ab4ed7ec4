"""`filings cancel`: a cancellation (SPEC §2) is a short request, not an application:
`{kind, appid, filing_number, reason}`, from the command line or a request file. Who is
texted comes from the registry, never from the request; the filing must be active there
(R8, judged by the service or, direct, by the same checks as the starter).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from cli.operator import PANEL, launch, summary
from cli.options import EXIT_USAGE, CliError, Options, command
from filing.filing_number import InvalidFilingNumber, parse_filing_number
from filing.models import CancellationRequest, FilingKind
from filing.schema_errors import violations_from_validation_error
from service.principal import Role

app = typer.Typer()
KINDS = [k.value for k in FilingKind if k.is_cancellation]
COMMAND_LINE = Path("<command line>")


def _request(kind: str, appid: str | None, number: str | None, reason: str | None) -> CancellationRequest:
    """The request from the options; every problem named by its field before anything is sent."""
    missing = [flag for flag, value in (("--appid", appid), ("--number", number), ("--reason", reason)) if not value]
    if missing:
        raise CliError(f"a cancellation needs {', '.join(missing)} (or a request file); nothing was sent", EXIT_USAGE)
    if kind.upper() not in KINDS:
        raise CliError(f"{kind!r} is not a cancellation: give {', '.join(KINDS)} (or a request file)", EXIT_USAGE)
    try:
        request = CancellationRequest(kind=FilingKind(kind.upper()), appid=appid, filing_number=number, reason=reason)
    except ValidationError as err:
        problems = "; ".join(f"{v.field}: {v.message_en}" for v in violations_from_validation_error(err))
        raise CliError(f"invalid cancellation: {problems}; nothing was sent") from None
    try:
        parse_filing_number(request.filing_number,
                            mini_program=None if request.kind is FilingKind.CANCEL_SUBJECT else True)
    except InvalidFilingNumber as err:
        raise CliError(f"filing_number: {err.message_en}; nothing was sent") from None
    return request


@command(app, rich_help_panel=PANEL, roles=(Role.APPLICANT, Role.OPERATOR), mutating=True)
async def cancel(
    opts: Options,
    what: Annotated[str, typer.Argument(metavar="KIND|FILE.json",
                                        help=f"{', '.join(KINDS)}, or a file holding the request.")],
    appid: Annotated[str | None, typer.Option("--appid", metavar="APPID", help="The mini-program (wx…).")] = None,
    number: Annotated[str | None, typer.Option("--number", metavar="NUMBER",
                                               help="The filing number to cancel, e.g. 冀ICP备18021892号-1X.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT",
                                               help="Why (at most 500 characters).")] = None,
) -> int:
    """Cancel a filing (注销主体 / 注销小程序) or its hosting (取消接入): the people on record verify by SMS."""
    from engine.batch import LaunchResult, read_application  # the start's checks: only where a start is made

    if Path(what).suffix == ".json" or Path(what).is_file():
        if appid or number or reason:
            raise CliError("give either a request file or KIND with --appid/--number/--reason, not both", EXIT_USAGE)
        checked = read_application(Path(what))
        if checked.ok and checked.cancellation is None:
            raise CliError(f"{what} holds an application, not a cancellation request: use `filings start`; "
                           "nothing was sent")
    else:
        request = _request(what, appid, number, reason)
        checked = LaunchResult(COMMAND_LINE, "started", cancellation=request,
                               document=json.loads(request.model_dump_json()))
    result, lost = await launch(opts, checked, None)
    return summary(opts, [result], int(lost))
