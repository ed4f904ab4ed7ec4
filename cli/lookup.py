"""`filings lookup`: 备案查询, the public lookup (SPEC §11) by filing number, appid, subject
name (a unit's also in part) or a unit's certificate number. It needs no token and answers
only what MIIT publishes: no personal data; cancelled filings only with `--cancelled`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.options import EXIT_USAGE, CliError, Options, command
from cli.parsing import APPID
from filing.filing_number import InvalidFilingNumber, parse_filing_number

app = typer.Typer()


def query(text: str | None, subject: str | None, certificate: str | None = None) -> dict[str, str]:
    """Exactly one of: an appid, a service or subject number (the argument), a subject name,
    a unit's certificate number."""
    if sum(value is not None for value in (text, subject, certificate)) != 1:
        raise CliError("give a filing number or an appid, or --subject NAME, or --certificate NUMBER (exactly one)",
                       EXIT_USAGE)
    if subject is not None:
        if len(subject.strip()) < 2 or len(subject) > 100:
            raise CliError("--subject must be the subject's name, or at least 2 characters of a unit's name "
                           "(at most 100); nothing was sent")
        return {"subject": subject.strip()}
    if certificate is not None:
        if not certificate.strip() or len(certificate) > 40:
            raise CliError("--certificate must be a unit's certificate number (统一社会信用代码), 1 to 40 "
                           "characters; nothing was sent")
        return {"certificate": certificate.strip()}
    value = (text or "").strip()
    if APPID.fullmatch(value):
        return {"appid": value}
    try:
        parse_filing_number(value)
    except InvalidFilingNumber as err:
        raise CliError(f"{value!r} is neither an appid (wx + 16 hex digits) nor a filing number "
                       f"(冀ICP备18021892号, 冀ICP备18021892号-2X, 粤B2-20090059-1626X): {err.message_en}; "
                       "nothing was sent") from None
    return {"number": value}


@command(app, rich_help_panel="Anyone")
async def lookup(
    opts: Options,
    number_or_appid: Annotated[str | None, typer.Argument(
        metavar="NUMBER|APPID", show_default=False,
        help="冀ICP备18021892号-2X, 冀ICP备18021892号, 粤B2-20090059-1626X or wx….")] = None,
    subject: Annotated[str | None, typer.Option(
        "--subject", metavar="NAME", help="The subject's name (主办单位名称): a unit's also in part.")] = None,
    certificate: Annotated[str | None, typer.Option(
        "--certificate", metavar="NUMBER", help="A unit's certificate number (统一社会信用代码).")] = None,
    cancelled: Annotated[bool, typer.Option("--cancelled", help="Also cancelled filings (注销).")] = False,
) -> int:
    """备案查询: the public record of a filing number, a mini-program or a subject (no token)."""
    asked = query(number_or_appid, subject, certificate)
    entries = await opts.door().lookup(**asked, include_cancelled=cancelled)
    if opts.as_json:
        opts.emit_json([e.model_dump(mode="json") for e in entries])
    elif not entries:
        opts.say(f"no filing on record for {next(iter(asked.values()))}")
    else:
        table = Table(title=f"备案查询 {next(iter(asked.values()))}: {len(entries)} record(s)", title_justify="left")
        for column in ("主办单位名称", "主办单位性质", "主体备案号", "服务备案号", "服务名称", "审核日期",
                       "服务前置审批项", "是否限制接入", "state"):
            table.add_column(column, overflow="fold")
        for e in entries:
            table.add_row(e.subject_name, e.subject_type.value, e.subject_number, e.service_number, e.service_name,
                          e.approval_date.isoformat(), "、".join(e.pre_approvals) or "无",
                          "是" if e.access_restricted else "否", e.state.value)
        opts.out.print(table)
    return 0
