"""`filings application ID`: the application under review, for the reviewers and the
applicant (SPEC §9, §12). Only the filing service serves it, to those roles, and records
every read in its audit log; the tool shows personal values masked unless `--reveal`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.table import Table

from cli import parsing
from cli.options import Options, command
from cli.privacy import is_personal_subject, shown
from service.principal import Role

app = typer.Typer()
FilingArg = Annotated[str, typer.Argument(metavar="ID", help="filing-wx… or the bare appid wx…", show_default=False)]


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a document with its field path (`mini_program.pre_approvals[0].category`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, f"{path}[{i}]")
    else:
        yield path, node


def masked(document: Any, reveal: bool) -> list[tuple[str, str]]:
    personal = is_personal_subject(document)
    return [(path, shown(path, value, reveal=reveal, personal_subject=personal) or "")
            for path, value in leaves(document)]


@command(app, rich_help_panel="Reviewers", roles=(Role.PLATFORM_REVIEWER, Role.PROVINCE_REVIEWER, Role.APPLICANT))
async def application(opts: Options, filing: FilingArg) -> None:
    """The application under review, field by field, with its materials (the service audits the read)."""
    filing_id = parsing.filing_id(filing)
    read = await opts.door().application(parsing.appid_of(filing_id))
    document = (read.application or read.cancellation)
    data = document.model_dump(mode="json", exclude_none=True) if document is not None else {}
    fields = masked(data, opts.reveal)
    if opts.as_json:
        opts.emit_json({"filing_id": read.filing_id, "kind": read.kind.value, "stage": read.stage.value,
                        "attempt": read.attempt, "fields": dict(fields),
                        "materials": [m.model_dump(mode="json") for m in read.materials]})
        return
    table = Table(title=f"{read.filing_id} {read.kind.value}, attempt {read.attempt}, {read.stage.value}",
                  title_justify="left")
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    for path, value in fields:
        table.add_row(path, value)
    opts.out.print(table)
    if read.materials:
        scans = Table(title="materials (GET them from the service, audited)", title_justify="left")
        for column in ("field", "sha256", "href"):
            scans.add_column(column, overflow="fold")
        for m in read.materials:
            scans.add_row(m.field, m.sha256, m.href)
        opts.out.print(scans)
    if not opts.reveal:
        opts.note("personal data masked; --reveal shows it (this read is in the service's audit log either way)")
