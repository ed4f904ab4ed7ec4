"""`filings registry migrate|status|import|identify-subjects|merge-subject`: the operator's commands for the registry of
filings (备案库, SPEC §11), run directly on its database (`FILINGS_REGISTRY_URL`, default
SQLite in the data dir), not through Temporal.

`migrate` is the only thing that changes the schema; workers and the filing service check
it at start and name this command when it is behind. Exit status: 0 done, 1 failed
(or, for `status`, behind), 2 usage.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer

from engine.settings import Settings, load_settings

app = typer.Typer(
    no_args_is_help=True,
    help="The registry of filings (备案库): schema migrations, status, import of earlier filings, "
    "subjects' identity (identify-subjects, merge-subject). "
    "Works on FILINGS_REGISTRY_URL (default: SQLite in the data dir).",
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    try:
        return load_settings()
    except SystemExit as err:  # load_settings names each variable that is wrong
        _fail("; ".join(str(err.code).splitlines()[1:]).strip() or str(err.code))


@app.command()
def migrate() -> None:
    """Apply the schema migrations (idempotent); prints from which revision to which."""
    from registry import migrate as migrations
    from registry.database import RegistryUnavailable, describe

    url = _settings().registry_database_url
    try:
        done = migrations.upgrade(url)
    except (RegistryUnavailable, migrations.SchemaAhead, ValueError) as err:
        _fail(str(err))
    where = f"registry database {describe(url)}"
    if done.changed:
        typer.echo(f"{where}: migrated {done.before or 'none'} → {done.after}")
    else:
        head = migrations.head()
        typer.echo(f"{where}: already at {done.after} (head), nothing to do" if done.after == head else
                   f"{where}: already at {done.after}, newer than this version's head {head}, which it still serves: "
                   "nothing to do")


@app.command()
def status() -> None:
    """The database's schema revision and window, and what this version needs; exit 1 when
    this version cannot run on it (behind what it requires, or contracted past its head)."""
    from registry import migrate as migrations
    from registry.database import RegistryUnavailable, describe

    url = _settings().registry_database_url
    try:
        (revision, serves), this = migrations.schema_state(url), migrations.this_release()
        typer.echo(f"registry database {describe(url)}: revision {revision or 'none'}, head {this.head} "
                   f"(this version requires {this.requires}; the database serves code from {serves or revision or 'none'})")
        migrations.require_current(url)
    except (RegistryUnavailable, migrations.SchemaNotCurrent, ValueError) as err:
        _fail(str(err))


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="JSON lines (.jsonl) or CSV (.csv), see docs/cli.md.",
                                         exists=True, dir_okay=False, readable=True)],
    file_format: Annotated[
        Literal["csv", "jsonl"] | None,
        typer.Option("--format", help="csv or jsonl (default: from the file's extension)."),
    ] = None,
) -> None:
    """Load filings made before this system: every line checked, all loaded or none."""
    from engine.keys import MissingKey
    from registry import migrate as migrations
    from registry.database import RegistryUnavailable
    from registry.importer import ImportRefused
    from registry.importer import import_file as load_file
    from engine.wiring import registry_from_settings

    settings = _settings()
    try:
        migrations.require_current(settings.registry_database_url)
        registry = registry_from_settings(settings)
    except (RegistryUnavailable, migrations.SchemaNotCurrent, MissingKey, ValueError) as err:
        _fail(str(err))
    try:
        count = asyncio.run(load_file(file, registry, file_format))
    except ImportRefused as refused:
        for problem in refused.problems:
            typer.echo(str(problem), err=True)
        _fail(refused.summary)
    except (RegistryUnavailable, ValueError) as err:
        _fail(str(err))
    finally:
        registry.close()
    typer.echo(f"{count} filing(s) loaded from {file.name} into registry database {registry.database}")


def _registry_or_fail():  # type: ignore[no-untyped-def]
    """The registry with the keys (it opens and digests personal data), on a current schema."""
    from engine.keys import MissingKey
    from engine.wiring import registry_from_settings
    from registry import migrate as migrations
    from registry.database import RegistryUnavailable

    settings = _settings()
    try:
        migrations.require_current(settings.registry_database_url)
        return registry_from_settings(settings)
    except (RegistryUnavailable, migrations.SchemaNotCurrent, MissingKey, ValueError) as err:
        _fail(str(err))


@app.command("identify-subjects")
def identify_subjects(
    certificate: Annotated[
        list[str] | None,
        typer.Option("--certificate", metavar="NUMBER=CODE",
                     help="A unit subject's certificate (统一社会信用代码), which the registry did not keep "
                          "before migration 0006, e.g. 冀ICP备18021892号=91130000EXAMPLE01X; repeatable."),
    ] = None,
) -> None:
    """Fill in who each subject is (its certificate) where the registry can know it, and list
    what is left: subjects it cannot identify, and one subject under two numbers (conflicts,
    each with the merge-subject command that resolves it). Exit 1 while conflicts remain."""
    from registry.database import RegistryUnavailable

    given: dict[str, str] = {}
    for item in certificate or []:
        number, sep, code = item.partition("=")
        if not sep or not number.strip() or not code.strip():
            _fail(f"--certificate {item!r}: give NUMBER=CODE, e.g. 冀ICP备18021892号=91130000EXAMPLE01X")
        given[number.strip()] = code.strip()
    registry = _registry_or_fail()
    try:
        report = asyncio.run(registry.identify_subjects(given))
    except (RegistryUnavailable, ValueError) as err:
        _fail(str(err))
    finally:
        registry.close()
    typer.echo(f"identified {len(report.identified)} subject(s)" +
               (f": {', '.join(report.identified)}" if report.identified else ""))
    for number, why in report.unidentified:
        typer.echo(f"not identified: {number}: {why}")
    for conflict in report.conflicts:
        typer.echo(f"conflict: {conflict}")
    if report.conflicts:
        _fail(f"{len(report.conflicts)} conflict(s): merge each with `filings registry merge-subject KEEP OTHER`")


@app.command("merge-subject")
def merge_subject(
    keep: Annotated[str, typer.Argument(metavar="KEEP_NUMBER", help="The subject number that stays.")],
    other: Annotated[str, typer.Argument(metavar="OTHER_NUMBER",
                                         help="The subject number merged into it (then cancelled, never reissued).")],
) -> None:
    """One subject under two numbers: move OTHER's mini-programs under KEEP (their service
    numbers stay as issued), cancel OTHER; one transaction, all or nothing."""
    from registry.database import RegistryUnavailable
    from registry.subject_admin import MergeRefused

    registry = _registry_or_fail()
    try:
        merged = asyncio.run(registry.merge_subjects(keep, other))
    except (RegistryUnavailable, MergeRefused, ValueError) as err:
        _fail(str(err))
    finally:
        registry.close()
    typer.echo(f"merged {merged.merged} into {merged.kept}: {len(merged.moved)} mini-program(s) moved "
               f"({', '.join(merged.moved) or 'none'}); {merged.merged} is cancelled and never issued again")
