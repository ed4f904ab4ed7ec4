"""`filings lookup`: 备案查询, the public lookup (SPEC §11) by filing number, appid or subject
name. It needs no token and answers only what MIIT publishes: no personal data.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.options import EXIT_USAGE, CliError, Options, command
from cli.parsing import APPID
from cli.render import china_time
from filing.filing_number import InvalidFilingNumber, parse_filing_number

app = typer.Typer()


def query(text: str | None, subject: str | None) -> dict[str, str]:
    """Exactly one of: an appid, a service or subject number (the argument), a subject name."""
    if (text is None) == (subject is None):
        raise CliError("give a filing number or an appid, or --subject NAME (exactly one)", EXIT_USAGE)
    if subject is not None:
        if not subject.strip() or len(subject) > 100:
            raise CliError("--subject must be the subject's full name, 1 to 100 characters; nothing was sent")
        return {"subject": subject.strip()}
    value = (text or "").strip()
    if APPID.fullmatch(value):
        return {"appid": value}
    try:
        parse_filing_number(value)
    except InvalidFilingNumber as err:
        raise CliError(f"{value!r} is neither an appid (wx + 16 hex digits) nor a filing number "
                       f"(冀ICP备18021892号 or 冀ICP备18021892号-2X): {err.message_en}; nothing was sent") from None
    return {"number": value}


@command(app, rich_help_panel="Anyone")
async def lookup(
    opts: Options,
    number_or_appid: Annotated[str | None, typer.Argument(
        metavar="NUMBER|APPID", show_default=False, help="冀ICP备18021892号-2X, 冀ICP备18021892号 or wx….")] = None,
    subject: Annotated[str | None, typer.Option("--subject", metavar="NAME",
                                                help="The subject's full name (exact).")] = None,
) -> int:
    """备案查询: the public record of a filing number, a mini-program or a subject (no token)."""
    asked = query(number_or_appid, subject)
    entries = await opts.door().lookup(**asked)
    if opts.as_json:
        opts.emit_json([e.model_dump(mode="json") for e in entries])
    elif not entries:
        opts.say(f"no filing on record for {next(iter(asked.values()))}")
    else:
        table = Table(title=f"备案查询 {next(iter(asked.values()))}: {len(entries)} record(s)", title_justify="left")
        for column in ("subject", "type", "subject number", "mini-program", "service number", "approved", "state"):
            table.add_column(column, overflow="fold")
        for e in entries:
            table.add_row(e.subject_name, e.subject_type.value, e.subject_number, e.mini_program_name,
                          e.service_number, china_time(e.approved_at)[:10], e.state.value)
        opts.out.print(table)
    return 0
