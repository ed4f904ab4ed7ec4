"""The `filings` command: one binary, commands grouped by role (docs/cli.md). It talks to
the filing service by default, or to Temporal with `--direct` (operators).

filings status|timeline|resubmit|withdraw ...         applicant
filings sms verify|resend ...                          verification site / applicant
filings materials add ...                              applicant / integrator
filings application | platform ... | province ...      reviewers
filings start|cancel|example|list|schema ...           integrator / operator
filings calendar show|import|refresh, registry ..., login operator
filings lookup ...                                     anyone
"""

from __future__ import annotations

import typer

from cli import (
    applicant,
    application,
    cancellations,
    login,
    lookup,
    materials,
    operator,
    registry,
    reviewers,
    wait,
)
from engine.process import run_and_exit

app = typer.Typer(
    name="filings",
    help="ICP mini-program filings (小程序备案): tools for applicants, reviewers and operators.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(applicant.app)
app.add_typer(applicant.sms, name="sms", rich_help_panel="Applicant")
app.add_typer(materials.app, name="materials", rich_help_panel="Applicant")
app.add_typer(application.app)
app.add_typer(reviewers.platform, name="platform", rich_help_panel="Reviewers")
app.add_typer(reviewers.province, name="province", rich_help_panel="Reviewers")
app.add_typer(operator.app)
app.add_typer(cancellations.app)
app.add_typer(lookup.app)
app.add_typer(wait.app)
app.add_typer(login.app)
app.add_typer(operator.calendar, name="calendar", rich_help_panel="Operator and integrator")
app.add_typer(registry.app, name="registry", rich_help_panel="Operator and integrator")


def main() -> None:
    """The console script: exit with the command's status, past the SDK's teardown crash."""
    run_and_exit(app)


if __name__ == "__main__":
    main()
