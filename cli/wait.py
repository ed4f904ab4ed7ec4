"""`filings wait ID STAGE`: block until a filing reaches a stage (or has ended elsewhere).

Why: a filing moves on by itself between people's acts (the L1 check before 平台初审, the
12381 codes going out before 短信核验, the deadline before 通管局审核), so a script or a pasted
walk that acts right after the previous command would find the filing one stage behind
(`not applied: … in stage SUBMITTED`). Waiting on the stage the next act needs is what a
person does by looking; the README's walks use it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cli.applicant import READERS, FilingArg
from cli.options import CliError, Options, command
from cli import parsing
from filing.messages import Stage

app = typer.Typer()
#: Between two looks at the filing's status.
POLL_SECONDS = 0.5


@command(app, rich_help_panel="Applicant", roles=READERS)
async def wait(
    opts: Options,
    filing: FilingArg,
    stage: Annotated[Stage, typer.Argument(metavar="STAGE", help="PLATFORM_REVIEW, SMS_VERIFICATION, "
                                           "PROVINCIAL_REVIEW, APPROVED, RETURNED, …", case_sensitive=False)],
    timeout: Annotated[float, typer.Option("--timeout", min=0, metavar="SECONDS",
                                           help="Give up after this long (exit 1).")] = 60.0,
) -> None:
    """Wait until the filing is in STAGE; an ended filing in another stage is an error at once."""
    filing_id = parsing.filing_id(filing)
    appid = parsing.appid_of(filing_id)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while True:
        current = await opts.door().status(appid)
        if current.stage is stage:
            if opts.as_json:
                opts.emit_json(current.model_dump(mode="json"))
            else:
                opts.say(f"{filing_id} is in {stage.value} (attempt {current.attempt})")
            return
        if current.stage.is_terminal:
            raise CliError(f"{filing_id} ended in {current.stage.value}; it will not reach {stage.value}")
        if loop.time() >= give_up:
            raise CliError(f"{filing_id} is still in {current.stage.value} after {timeout:g} s, not {stage.value}")
        await asyncio.sleep(POLL_SECONDS)
